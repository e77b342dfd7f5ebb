"""Change what a bundled model's file says about itself (its one-line summary, the pair it is
the robust end of) and regenerate its card, without its training run: the weights are kept
bit for bit, only the provenance in the safetensors header and ``NAME.md`` are rewritten, as
``scripts/ship_model.py`` would write them with the same options.

    python scripts/restamp_model.py irsrgan-psnr-x4 --robust-end-of irsrgan-faithful-x4
    python scripts/restamp_model.py irsrgan-x4 --summary "x4 GAN model ..."
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from irsrgan.checkpoint import load_model, read_metadata, save_model
from irsrgan.engines import model_id

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ship_model import _card  # noqa: E402 (the card as ship_model writes it)

WEIGHTS = Path(__file__).resolve().parents[1] / "src" / "irsrgan" / "weights"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name", help="bundled model name, e.g. irsrgan-psnr-x4")
    ap.add_argument("--summary", help="the new one-line summary (`irsrgan models`)")
    ap.add_argument("--robust-end-of", metavar="NAME",
                    help="the bundled faithful model whose pair this one ends")
    args = ap.parse_args()
    path = WEIGHTS / f"{args.name}.safetensors"
    model = load_model(path)
    before = model_id(model)
    prov = read_metadata(path)["provenance"]
    if args.summary is not None:
        prov["summary"] = args.summary
    if args.robust_end_of is not None:
        prov["robust_end_of"] = args.robust_end_of
    with torch.no_grad():
        save_model(model, path, provenance=prov)
    if model_id(load_model(path)) != before:
        raise SystemExit(f"{path}: the weights changed on rewriting")
    (WEIGHTS / f"{args.name}.md").write_text(_card(args.name, model, prov, {}))
    print(f"rewrote {path.name} (weights unchanged) and {args.name}.md")


if __name__ == "__main__":
    main()
