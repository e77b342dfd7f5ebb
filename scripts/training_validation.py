"""Score models as a training config's in-training validation scores them (its validation
set and every ``data.extra_val`` set, its protocol, crop size and frame limit): the numbers a
run's ``log.csv`` shows, for the model it started from or any other, so a fine-tuning run's
curve can be read against its starting point.

    python scripts/training_validation.py configs/general/robust-l2-x4.yaml irsrgan-psnr-x4
"""

from __future__ import annotations

import argparse

import torch

from irsrgan.checkpoint import load_model
from irsrgan.config import load_config
from irsrgan.train import _datasets, validate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", help="a training config (its data.val and data.extra_val)")
    ap.add_argument("models", nargs="+", help="bundled names or weights files")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = load_config(args.config)
    _, val_set, extra = _datasets(cfg)
    sets = {"val": val_set, **extra}
    cpu = torch.device("cpu")
    print("model " + " ".join(f"{name}_psnr {name}_bicubic_psnr" for name in sets))
    for source in args.models:
        model = load_model(source)
        scores = {name: validate(model, data, cpu) for name, data in sets.items() if data}
        print(source, " ".join(f"{s['psnr']:.2f} {s['bicubic_psnr']:.2f}"
                               for s in scores.values()), flush=True)


if __name__ == "__main__":
    main()
