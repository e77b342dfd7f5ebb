"""Write the LR crops that calibrate int8 quantisation (irsrgan.quantize), bundled with the
package so that users need no training data.

32 crops of 64x64 LR pixels, each the 4x4 area average of a random 256 px crop of a random
HIT-UAV *training* frame, rounded to 8 bits; a quarter inverted (black-hot) and a quarter
stretched to the full 0..255 range, so that the activation ranges cover both polarities and
high-contrast exports. Seeded: the same file every run.

    python scripts/make_int8_calibration.py [--out src/irsrgan/weights/int8/calibration-lr.npy]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from irsrgan.image import gray_unit, read_image

TRAIN = Path(__file__).resolve().parents[2] / "shared" / "data" / "hit-uav" / "train"
OUT = Path("src/irsrgan/weights/int8/calibration-lr.npy")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=Path, default=TRAIN)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--count", type=int, default=32)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    frames = sorted(p for p in args.train.iterdir() if p.suffix.lower() in (".jpg", ".png"))
    crops = []
    for i, path in enumerate(rng.choice(frames, size=args.count, replace=False)):
        hr = gray_unit(read_image(path))
        y = int(rng.integers(0, hr.shape[0] - 256 + 1))
        x = int(rng.integers(0, hr.shape[1] - 256 + 1))
        lr = hr[y:y + 256, x:x + 256].reshape(64, 4, 64, 4).mean(axis=(1, 3))
        if i % 4 == 1:
            lr = 1.0 - lr
        elif i % 4 == 2:
            lr = (lr - lr.min()) / max(float(lr.max() - lr.min()), 1e-6)
        crops.append(np.round(lr * 255).astype(np.uint8))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.save(args.out, np.stack(crops))
    print(f"wrote {args.out}: {len(crops)} crops of 64x64 from {args.train}")


if __name__ == "__main__":
    main()
