"""int8 on CPU: ONNX Runtime static QDQ quantisation against float32, speed and PSNR.

The model is exported to ONNX, quantised (QDQ, int8 weights per channel, uint8 activations)
with ranges calibrated on LR crops of the HIT-UAV training frames, and both graphs are run by
ONNX Runtime in the same process: milliseconds per tile (interleaved, medians) and PSNR on the
first ``--val`` frames of hit-uav/val (LR = 4x4 area downsample of the frame, the whole LR in
one forward, 8-bit PSNR on the full frame). The Upscaler's ``auto`` would adopt int8 only
where it is faster AND within 0.05 dB of float32; the last column says whether it qualifies.

    python benchmarks/int8_speed.py [--model irsrgan-faithful-x4] [--val 20] [--calib 32]
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from irsrgan.checkpoint import DEFAULT_MODEL, load_model
from irsrgan.engines import export_onnx_bytes
from irsrgan.image import gray_unit, read_image

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "hit-uav"
GATE_DB = 0.05


def area_down(hr: np.ndarray, s: int) -> np.ndarray:
    h, w = hr.shape[0] // s * s, hr.shape[1] // s * s
    return hr[:h, :w].reshape(h // s, s, w // s, s).mean(axis=(1, 3)).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--val", type=int, default=20, help="val frames for PSNR")
    ap.add_argument("--calib", type=int, default=32, help="training crops for calibration")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    import onnxruntime as ort
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    model = load_model(args.model).eval()
    s = int(model.scale)
    rng = np.random.default_rng(0)
    train = sorted((args.data / "train").iterdir())
    crops = []
    for path in rng.choice(train, size=args.calib, replace=False):
        hr = gray_unit(read_image(path))
        y = int(rng.integers(0, hr.shape[0] - 256))
        x = int(rng.integers(0, hr.shape[1] - 256))
        crops.append(area_down(hr[y:y + 256, x:x + 256], s)[None, None])

    class Crops(CalibrationDataReader):
        def __init__(self):
            self.items = iter(crops)

        def get_next(self):
            item = next(self.items, None)
            return None if item is None else {"lr": item}

    threads = torch.get_num_threads()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        fp32.write_bytes(export_onnx_bytes(model))
        t = time.perf_counter()
        quantize_static(str(fp32), str(Path(tmp) / "int8.onnx"), Crops(),
                        quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        t_quant = time.perf_counter() - t
        sessions = {name: ort.InferenceSession(str(Path(tmp) / f"{name}.onnx"), opts,
                                               providers=["CPUExecutionProvider"])
                    for name in ("fp32", "int8")}
    tile = np.random.default_rng(1).random((1, 1, 288, 288), dtype=np.float32)
    times = {name: [] for name in sessions}
    for sess in sessions.values():
        sess.run(None, {"lr": tile})
    for _ in range(args.repeats):
        for name, sess in sessions.items():
            t = time.perf_counter()
            sess.run(None, {"lr": tile})
            times[name].append(time.perf_counter() - t)
    psnrs = {name: [] for name in sessions}
    for path in sorted((args.data / "val").iterdir())[:args.val]:
        hr = gray_unit(read_image(path))
        lr = area_down(hr, s)
        ref = hr[:lr.shape[0] * s, :lr.shape[1] * s]
        for name, sess in sessions.items():
            sr = np.clip(sess.run(None, {"lr": lr[None, None]})[0][0, 0], 0, 1)
            sr = np.round(sr * 255) / 255
            mse = float(np.mean((sr.astype(np.float64) - ref) ** 2))
            psnrs[name].append(10 * math.log10(1 / max(mse, 1e-12)))
    t32 = statistics.median(times["fp32"])
    p32 = float(np.mean(psnrs["fp32"]))
    print(f"model {args.model}, {threads} threads, {args.calib} calibration crops "
          f"(quantised in {t_quant:.1f} s), PSNR on {args.val} hit-uav/val frames (x{s}, "
          "area-downsampled LR)")
    print(f"{'engine':<18} {'ms/tile 288':>11} {'speed':>6} {'PSNR dB':>8} {'vs fp32':>8} "
          f"{'adopt':>6}")
    for name in sessions:
        t, p = statistics.median(times[name]), float(np.mean(psnrs[name]))
        adopt = "-" if name == "fp32" else ("yes" if t < t32 and p32 - p <= GATE_DB else "no")
        print(f"onnxruntime {name:<6} {t * 1000:11.1f} {t32 / t:6.2f} {p:8.3f} {p - p32:+8.3f} "
              f"{adopt:>6}")


if __name__ == "__main__":
    main()
