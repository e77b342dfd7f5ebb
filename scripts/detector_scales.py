"""Which degradation detector for a pair of another scale? Two checks that need no SR model.

1. Accuracy on hit-uav/val crops made at ``--scale`` (clean resample against the thermal
   sensor model, seed 1, as ``scripts/train_detector.py`` reports it) for each detector.
2. The ``auto`` strength each detector gives a synthetic clean resample at ``--scale`` (a
   blurred random texture on a smooth scene, antialiased bicubic) with white noise of rising
   level injected at the LR's own pixels: it should start near 0 and rise.

    python scripts/detector_scales.py --scale 2 \
        --detector runs/detector-x2/degradation-x2.safetensors

The choice between detectors is made on training frames with the SR pair
(``scripts/calibrate_denoise.py --detector``), not on these checks (docs/RESULTS.md, "x2: the
same pair").
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import cv2
import numpy as np
import torch
from train_detector import D, accuracy

from irsrgan.denoise import auto_strength
from irsrgan.detector import DetectorTraining, bundled_detector, degraded_probability, load_detector

NOISE = (0.0, 0.001, 0.002, 0.004, 0.008, 0.016, 0.03)


def synthetic_resample(scale: int, h: int = 96, w: int = 128, seed: int = 4) -> np.ndarray:
    rng = np.random.default_rng(seed)
    hr = cv2.GaussianBlur(rng.random((scale * h, scale * w)), (0, 0), 3)
    yy, xx = np.mgrid[0:scale * h, 0:scale * w] / (scale * max(h, w))
    hr = 0.3 + 0.4 * (hr - hr.min()) / np.ptp(hr) + 0.15 * (
        0.5 + 0.25 * np.sin(3 * xx) * np.cos(2 * yy))
    lr = torch.nn.functional.interpolate(torch.from_numpy(hr)[None, None], size=(h, w),
                                         mode="bicubic", antialias=True)
    return lr[0, 0].numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--detector", type=Path, action="append", default=[],
                    help="detector weights to compare with the bundled x4 one")
    args = ap.parse_args()
    detectors = {"bundled x4": bundled_detector(4)}
    detectors |= {str(p): load_detector(p) for p in args.detector}
    cfg = dataclasses.replace(DetectorTraining(), scale=args.scale, seed=1)
    base = synthetic_resample(args.scale)
    print(f"x{args.scale} LR | hit-uav/val crops: clean right, degraded right | auto strength "
          f"of a synthetic clean resample with white noise sigma {', '.join(map(str, NOISE))}")
    for name, det in detectors.items():
        clean, sensor = accuracy(det, D / "hit-uav/val", cfg)
        rng = np.random.default_rng(2)
        ladder = [auto_strength(degraded_probability(base + rng.normal(0, s, base.shape), det))
                  for s in NOISE]
        print(f"{name}: {clean:.1%}, {sensor:.1%} | {' '.join(f'{v:.2f}' for v in ladder)}")


if __name__ == "__main__":
    main()
