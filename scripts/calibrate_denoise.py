"""Fit ``--denoise auto``: when does the robust model beat the faithful one?

On HIT-UAV *training* frames (every 8th, centre 256 px), LR made by the clean bicubic
protocol and by the thermal sensor model (seeded as in ``irsrgan evaluate``), this measures
the LR's features (pixel noise, column stripes, JPEG blockiness: ``irsrgan.estimate``) and
the PSNR of the faithful and the robust end of the pair, then picks the ramp of
:func:`irsrgan.denoise.auto_strength` (strength 0 at AUTO_CLEAN, 1 at AUTO_NOISY, linear in
log10 pixel noise) whose worse protocol loses least against the better end, ties broken by the
mean. It prints the constants for ``irsrgan/denoise.py`` and checks the ramp on the
validation sets (mean PSNR of faithful, robust and auto, with PSNR interpolated linearly
between the ends: an approximation; reported numbers come from ``irsrgan evaluate --denoise
auto``). Stripes and blockiness were measured too: on these frames they did not separate
clean from degraded LR (their spreads overlap), so the ramp uses the pixel noise alone.

    python scripts/calibrate_denoise.py runs/faithful-x4/model.safetensors \
        runs/robust-x4/model.safetensors [--out reports/denoise-calibration.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
from pathlib import Path

import numpy as np
import torch

from irsrgan import metrics
from irsrgan.checkpoint import load_model
from irsrgan.degradations import get_preset
from irsrgan.estimate import blockiness, estimate_noise
from irsrgan.evaluate import find_pairs, load_item
from irsrgan.inference import Upscaler

D = Path("../shared/data")
FIT = {"train": D / "hit-uav/train"}
CHECK = {"val": D / "hit-uav/val", "thermitage-dunr": D / "thermitage-dunr",
         "raw16": D / "flir-radiometric/raw16"}
PROTOCOLS = ("bicubic", "thermal")


def measure(faithful, robust, sets: dict, every: int, max_size: int) -> list[dict]:
    ups = [Upscaler(m, device="cpu") for m in (faithful, robust)]
    rows = []
    for set_name, root in sets.items():
        pairs = find_pairs(root, None, None)[::every]
        for protocol in PROTOCOLS:
            preset = get_preset(protocol)
            for index, (path, _) in enumerate(pairs):
                item = load_item(index, path, root, scale=faithful.scale, preset=preset, seed=0,
                                 max_size=max_size)
                hr = item.to_metric(item.hr)
                psnrs = [float(metrics.psnr(item.to_metric(u.upscale(item.lr).clamp(0, 1)), hr,
                                            crop_border=faithful.scale)[0]) for u in ups]
                rows.append({"set": set_name, "protocol": protocol, "image": item.name,
                             "features": features(item.lr[0, 0].double().numpy()),
                             "psnr": psnrs})
    return rows


def features(x: np.ndarray) -> dict[str, float]:
    level = estimate_noise(x)
    return {"log_pixel": math.log10(max(level.pixel, 1e-4)),
            "log_column": math.log10(max(level.column, 1e-4)), "blockiness": blockiness(x)}


def ramp(f: dict, lo: float, hi: float) -> float:
    return float(np.clip((f["log_pixel"] - lo) / (hi - lo), 0.0, 1.0))


def table(rows: list[dict], lo: float, hi: float) -> dict[tuple, list[float]]:
    """Per (set, protocol): mean faithful, robust and auto PSNR, and the mean strength."""
    groups: dict[tuple, list] = {}
    for r in rows:
        s = ramp(r["features"], lo, hi)
        f, rb = r["psnr"]
        groups.setdefault((r["set"], r["protocol"]), []).append((f, rb, f + s * (rb - f), s))
    return {k: [float(np.mean(x)) for x in zip(*v, strict=True)] for k, v in groups.items()}


def fit(rows: list[dict]) -> tuple[float, float]:
    best = None
    for lo, hi in itertools.product(np.arange(-3.6, -1.5, 0.05), np.arange(-3.4, -1.0, 0.05)):
        if hi <= lo + 0.05:
            continue
        t = table(rows, lo, hi).values()
        key = (round(min(a - max(f, r) for f, r, a, _ in t), 3), float(np.mean([a for *_, a, _
                                                                                  in t])))
        if best is None or key > best[0]:
            best = (key, float(lo), float(hi))
    return best[1], best[2]


def report(rows: list[dict], lo: float, hi: float) -> list[str]:
    return [f"| {k[0]} | {k[1]} | {f:.2f} | {r:.2f} | {a:.2f} | {a - max(f, r):+.2f} | {s:.2f} |"
            for k, (f, r, a, s) in table(rows, lo, hi).items()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("faithful")
    ap.add_argument("robust")
    ap.add_argument("--every", type=int, default=8, help="every Nth training frame")
    ap.add_argument("--max-size", type=int, default=256)
    ap.add_argument("--out", type=Path, default=Path("reports/denoise-calibration.json"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    if args.out.is_file():
        data = json.loads(args.out.read_text())
    else:
        faithful, robust = load_model(args.faithful), load_model(args.robust)
        data = {"fit": measure(faithful, robust, FIT, args.every, args.max_size),
                "check": measure(faithful, robust, CHECK, 1, args.max_size)}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(data))
    lo, hi = fit(data["fit"])
    print(f"AUTO_CLEAN = 10**{lo:.2f}\nAUTO_NOISY = 10**{hi:.2f}")
    print("| set | protocol | faithful | robust | auto | auto - better | mean strength |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(report(data["fit"], lo, hi) + report(data["check"], lo, hi)))


if __name__ == "__main__":
    main()
