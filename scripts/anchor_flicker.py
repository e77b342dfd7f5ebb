"""Does level anchoring add flicker to clips? The denoise pair at fixed strengths, anchored
and not, on the two synthetic clips of ``scripts/flicker_results.py`` (a still scene and a pan
of 2 HR pixels per frame, 8 frames of 192x192 cut from one hit-uav/val frame), frame by frame
(temporal 0), under the ``thermal`` protocol (fresh sensor noise in every frame) and
``bicubic``. Prints a markdown table: PSNR gain over bicubic and flicker as a multiple of
bicubic's (docs/VIDEO.md).

    python scripts/anchor_flicker.py [--work DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from flicker_results import synthetic_clip  # scripts/ is on the path when run as a script

from irsrgan.evaluate import evaluate

STRENGTHS = [1.0, 0.5]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, default=Path("flicker-work"))
    args = p.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    print("| clip | LR | strength | ΔPSNR dB plain | ΔPSNR dB anchored | flicker ×bicubic plain "
          "| flicker ×bicubic anchored |")
    print("|---|---|---|---|---|---|---|")
    for name, pan in (("still", 0), ("pan", 2)):
        clip = synthetic_clip(args.work, name, pan)
        for degradation in ("thermal", "bicubic"):
            means = {anchor: evaluate(
                ["irsrgan-faithful-x4"], clip,
                args.work / f"anchor-{name}-{degradation}-{anchor}", degradation=degradation,
                lpips="off", grid=0, device="cpu", denoise=STRENGTHS, anchor=anchor)["means"]
                for anchor in (False, True)}
            for s in STRENGTHS:
                plain, anchored = means[False][f"denoise@{s}"], means[True][f"denoise@{s}"]
                print(f"| {name} | {degradation} | {s:g} | {plain['psnr_gain']:+.2f} | "
                      f"{anchored['psnr_gain']:+.2f} | {_ratio(plain)} | {_ratio(anchored)} |",
                      flush=True)


def _ratio(entry: dict) -> str:
    r = entry.get("flicker_ratio")
    return f"{r:.3f}" if r is not None else "–"


if __name__ == "__main__":
    main()
