"""Training speed per recipe on this machine: iterations/s, HR megapixels/s, data-wait share.

Runs each recipe for a few steps (real data, its own degradation and loader settings) into a
temporary folder and reads the loop's own timing from its summary, side by side.

    python benchmarks/train_speed.py [--steps 40] [RECIPE ...]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from irsrgan.config import load_config
from irsrgan.train import train

DEFAULT = ["cpu-psnr-x4", "cpu-gan-x4", "cpu-psnr-x2", "experiments/exp1-rrdbnet",
           "experiments/exp1-crdbnet"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("recipes", nargs="*", default=DEFAULT)
    ap.add_argument("--steps", type=int, default=40)
    args = ap.parse_args()
    print(f"{'recipe':<26} {'it/s':>6} {'HR MP/s':>8} {'data wait':>9}  (batch x patch)")
    for name in args.recipes:
        over = [f"train.steps={args.steps}", "train.max_minutes=null",
                f"train.val_every={10**9}", f"train.checkpoint_every={10**9}"]
        if "gan" in name:
            over.append("train.pretrained=null")
        cfg = load_config(f"configs/{name}.yaml", over)
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            summary = train(cfg, tmp, progress=False)
            wall = time.perf_counter() - t
        its = summary["steps"] / summary["elapsed_s"]
        mp = its * cfg.data.batch_size * cfg.data.patch_size**2 / 1e6
        print(f"{name:<26} {its:6.2f} {mp:8.3f} {summary['data_wait_share']:9.1%}  "
              f"({cfg.data.batch_size} x {cfg.data.patch_size}px; {wall:.0f} s with setup)")


if __name__ == "__main__":
    main()
