"""Flicker of the shipped x4 models against bicubic on short synthetic clips (docs/RESULTS.md,
section 8).

    python scripts/flicker_results.py [--image IMAGE] [--work DIR]

Two 8-frame 192x192 clips cut from one hit-uav/val frame (scripts/make_clip.py): a still scene
and a pan of 2 HR pixels per frame. Each is scored by ``irsrgan.evaluate.evaluate`` with the
``thermal`` degradation (fresh sensor noise in every frame) and ``bicubic`` (no noise: the
still clip's LR frames are identical, the pan's differ by motion only), frame by frame
(``temporal`` 0) and with the temporal blend (0.5, 1).
Prints a markdown table: PSNR gain over bicubic and flicker as a multiple of bicubic's, and
the HR frames' own flicker on the same pixels.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from irsrgan.evaluate import evaluate

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_IMAGE = ROOT.parent / "shared" / "data" / "hit-uav" / "val" / "0_110_30_0_08315.jpg"
MODELS = ["irsrgan-x4", "irsrgan-psnr-x4"]
CASES = [("still", 0, "bicubic"), ("still", 0, "thermal"), ("pan", 2, "thermal"),
         ("pan", 2, "bicubic")]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    p.add_argument("--work", type=Path, default=Path("flicker-work"))
    p.add_argument("--temporal", default="0,0.5,1")
    args = p.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    strengths = [float(t) for t in args.temporal.split(",")]
    print("| clip | LR | temporal | " + " | ".join(
        f"{m} ΔPSNR dB | {m} flicker ×bicubic" for m in MODELS) + " | HR flicker ×bicubic |")
    print("|---|---|---|" + "---|" * (2 * len(MODELS) + 1))
    for name, pan, degradation in CASES:
        clip = synthetic_clip(args.work, name, pan, args.image)
        for strength in strengths:
            s = evaluate(MODELS, clip, args.work / f"report-{name}-{degradation}-{strength:g}",
                         degradation=degradation, lpips="off", grid=0, temporal=strength,
                         device="cpu")
            cells = []
            for m in MODELS:
                e = s["means"][m]
                cells += [f"{e['psnr_gain']:+.2f}", _ratio(e["flicker_ratio"], e["flicker"])]
            hr = s["hr_flicker"]
            print(f"| {name} | {degradation} | {strength:g} | " + " | ".join(cells)
                  + f" | {_ratio(hr['ratio'], hr['flicker'])} |", flush=True)


def synthetic_clip(work: Path, name: str, pan: int, image: Path = DEFAULT_IMAGE) -> Path:
    """``WORK/NAME.mkv``: the 8-frame clip cut from ``image`` with a pan of ``pan`` HR pixels
    per frame (scripts/make_clip.py), made once and reused."""
    clip = work / f"{name}.mkv"
    if not clip.exists():
        subprocess.run([sys.executable, str(ROOT / "scripts" / "make_clip.py"), str(image),
                        str(clip), "--pan", str(pan)], check=True, stdout=subprocess.DEVNULL)
    return clip


def _ratio(ratio: float | None, flicker: float | None) -> str:
    """The ratio, or the absolute flicker where bicubic does not change (no ratio)."""
    if ratio is not None:
        return f"{ratio:.2f}"
    return f"– (flicker {flicker:.1e})" if flicker is not None else "–"


if __name__ == "__main__":
    main()
