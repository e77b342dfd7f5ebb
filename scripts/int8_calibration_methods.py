"""Compare ONNX Runtime's calibration methods for irsrgan.quantize on held-out training crops.

Each method quantises the model with the bundled calibration crops; the error is the mean
squared difference, in 8-bit levels, between the int8 and float32 outputs (both rounded to 8
bits), and the largest difference, on 12 other LR crops of HIT-UAV training frames (128 px,
seed 5). No ground truth and no validation frame is involved: this chooses
quantize.CALIBRATION.

    python scripts/int8_calibration_methods.py [--model irsrgan-faithful-x4]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from irsrgan.checkpoint import DEFAULT_MODEL, load_model
from irsrgan.engines import OrtRunner, export_onnx_bytes
from irsrgan.image import gray_unit, read_image
from irsrgan.quantize import CALIBRATION, calibration_crops, quantize_onnx

TRAIN = Path(__file__).resolve().parents[2] / "shared" / "data" / "hit-uav" / "train"
METHODS = {
    "min/max over all crops": ("MinMax", {}),
    "min/max averaged over crops": ("MinMax", {"CalibMovingAverage": True}),
    "percentile 99.999": ("Percentile", {}),
    "percentile 99.99": ("Percentile", {"CalibPercentile": 99.99}),
    # through quantize_static its default bins (128 of 128) leave one candidate threshold,
    # the full range: the same graph as the min/max (docs/PERFORMANCE.md)
    "entropy": ("Entropy", {}),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--train", type=Path, default=TRAIN)
    args = ap.parse_args()
    model = load_model(args.model).eval()
    fp32 = export_onnx_bytes(model)
    rng = np.random.default_rng(5)
    frames = sorted(p for p in args.train.iterdir() if p.suffix.lower() in (".jpg", ".png"))
    tests = []
    for path in rng.choice(frames, 12, replace=False):
        hr = gray_unit(read_image(path))
        y = int(rng.integers(0, hr.shape[0] - 512 + 1))
        x = int(rng.integers(0, hr.shape[1] - 512 + 1))
        lr = hr[y:y + 512, x:x + 512].reshape(128, 4, 128, 4).mean(axis=(1, 3))
        tests.append(torch.from_numpy(np.round(lr * 255).astype(np.float32) / 255)[None, None])

    def levels(run, x):  # runners take and give NumPy (irsrgan.runtimes)
        return torch.round(torch.from_numpy(run(x.numpy())).clamp(0, 1) * 255)

    reference = OrtRunner(fp32, torch.get_num_threads())
    want = [levels(reference, x) for x in tests]
    crops = calibration_crops()
    print(f"{args.model}: int8 against float32 on {len(tests)} held-out training crops")
    print(f"{'calibration':<30} {'MSE (8-bit levels^2)':>21} {'max levels':>10}")
    for label, method in METHODS.items():
        run = OrtRunner(quantize_onnx(fp32, crops, method), torch.get_num_threads())
        diffs = [levels(run, x) - w for x, w in zip(tests, want, strict=True)]
        mse = float(np.mean([float((d ** 2).mean()) for d in diffs]))
        worst = max(float(d.abs().max()) for d in diffs)
        mark = "  <- quantize.CALIBRATION" if method == CALIBRATION else ""
        print(f"{label:<30} {mse:21.3f} {worst:10.0f}{mark}", flush=True)


if __name__ == "__main__":
    main()
