"""Fit ``--denoise auto``: when does the robust model beat the faithful one?

On HIT-UAV *training* frames (every 8th, centre 256 px), LR made by the clean bicubic
protocol and by the thermal sensor model (seeded as in ``irsrgan evaluate``), this measures
the PSNR of the faithful and the robust end of the pair (cached in ``--out``, keyed by both
models' weights) and the LR's evidence: the degradation detector's probability that the LR
is sensor-degraded
(:mod:`irsrgan.detector`), and for comparison the hand features of :mod:`irsrgan.estimate`
(pixel noise, column stripes, JPEG blockiness). It prints two ramps of
:func:`irsrgan.denoise.auto_strength` (strength 0 at the first end, 1 at the second, linear in
the probability between) with their tables on the training and the validation sets (mean PSNR
of faithful, robust and auto, with PSNR interpolated linearly between the ends: an
approximation, pessimistic for middle strengths; reported numbers come from ``irsrgan evaluate
--denoise auto``): the one fitted on the training frames (the ramp whose worse protocol loses
least against the better end, ties broken by the mean), and the shipped ``AUTO_RAMP``, set a
priori (see ``irsrgan/denoise.py`` for why the fitted one is not shipped). ``--feature
log_pixel`` fits the previous rule (a ramp in log10 pixel noise) for comparison.

    python scripts/calibrate_denoise.py runs/faithful-longer-x4/model.safetensors \
        irsrgan-psnr-x4 [--out reports/denoise-calibration.json]
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
from irsrgan.denoise import AUTO_RAMP
from irsrgan.detector import bundled_detector, degraded_probability, load_detector
from irsrgan.engines import model_id
from irsrgan.estimate import blockiness, estimate_noise
from irsrgan.evaluate import find_pairs, load_item
from irsrgan.inference import Upscaler

D = Path("../shared/data")
FIT = {"train": D / "hit-uav/train"}
CHECK = {"val": D / "hit-uav/val", "thermitage-dunr": D / "thermitage-dunr",
         "raw16": D / "flir-radiometric/raw16"}
PROTOCOLS = ("bicubic", "thermal")


def items(sets: dict, every: int, max_size: int, scale: int = 4):
    """``(set name, protocol, EvalItem)`` for every Nth frame of each set under each protocol,
    the LR seeded as ``irsrgan evaluate`` seeds it (so a second pass makes the same LR)."""
    for set_name, root in sets.items():
        pairs = find_pairs(root, None, None)[::every]
        for protocol in PROTOCOLS:
            preset = get_preset(protocol)
            for index, (path, _) in enumerate(pairs):
                yield set_name, protocol, load_item(index, path, root, scale=scale,
                                                    preset=preset, seed=0, max_size=max_size)


def measure(faithful, robust, sets: dict, every: int, max_size: int) -> list[dict]:
    ups = [Upscaler(m, device="cpu") for m in (faithful, robust)]
    rows = []
    for set_name, protocol, item in items(sets, every, max_size, faithful.scale):
        hr = item.to_metric(item.hr)
        psnrs = [float(metrics.psnr(item.to_metric(u.upscale(item.lr).clamp(0, 1)), hr,
                                    crop_border=faithful.scale)[0]) for u in ups]
        rows.append({"set": set_name, "protocol": protocol, "image": item.name,
                     "psnr": psnrs})
    return rows


def add_features(rows: list[dict], sets: dict, every: int, max_size: int, detector) -> None:
    """Each row's LR features (the LR is made again: cheap, and seeded like the PSNRs')."""
    by_key = {(r["set"], r["protocol"], r["image"]): r for r in rows}
    for set_name, protocol, item in items(sets, every, max_size):
        x = item.lr[0, 0].double().numpy()
        by_key[(set_name, protocol, item.name)]["features"] = features(x, detector)


def features(x: np.ndarray, detector) -> dict[str, float]:
    level = estimate_noise(x)
    return {"p_degraded": degraded_probability(x, detector),
            "log_pixel": math.log10(max(level.pixel, 1e-4)),
            "log_column": math.log10(max(level.column, 1e-4)), "blockiness": blockiness(x)}


#: the ramp's end points are searched on these grids, per feature
GRIDS = {"p_degraded": np.arange(0.0, 1.0001, 0.025), "log_pixel": np.arange(-3.6, -1.0, 0.05)}


def ramp(x: float, lo: float, hi: float) -> float:
    return float(np.clip((x - lo) / (hi - lo), 0.0, 1.0))


def table(rows: list[dict], lo: float, hi: float) -> dict[tuple, list[float]]:
    """Per (set, protocol): mean faithful, robust and auto PSNR, the mean strength, and the
    share of LR the detector calls degraded (p > 0.5)."""
    groups: dict[tuple, list] = {}
    for r in rows:
        s = ramp(r["x"], lo, hi)
        f, rb = r["psnr"]
        groups.setdefault((r["set"], r["protocol"]), []).append(
            (f, rb, f + s * (rb - f), s, float(r["features"]["p_degraded"] > 0.5)))
    return {k: [float(np.mean(x)) for x in zip(*v, strict=True)] for k, v in groups.items()}


def fit(rows: list[dict], grid: np.ndarray) -> tuple[float, float]:
    best = None
    for lo, hi in itertools.product(grid, grid):
        if hi <= lo + 0.05:
            continue
        t = table(rows, lo, hi).values()
        key = (round(min(a - max(f, r) for f, r, a, *_ in t), 3),
               float(np.mean([a for _, _, a, *_ in t])))
        if best is None or key > best[0]:
            best = (key, float(lo), float(hi))
    return best[1], best[2]


def report(rows: list[dict], lo: float, hi: float) -> list[str]:
    return [f"| {k[0]} | {k[1]} | {f:.2f} | {r:.2f} | {a:.2f} | {a - max(f, r):+.2f} | {s:.2f} "
            f"| {d:.0%} |" for k, (f, r, a, s, d) in table(rows, lo, hi).items()]


HEADER = ("| set | protocol | faithful | robust | auto | auto - better | mean strength "
          "| called degraded |\n|---|---|---|---|---|---|---|---|")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("faithful")
    ap.add_argument("robust")
    ap.add_argument("--every", type=int, default=8, help="every Nth training frame")
    ap.add_argument("--max-size", type=int, default=256)
    ap.add_argument("--out", type=Path, default=Path("reports/denoise-calibration.json"),
                    help="PSNR cache (reused for the same weights and settings)")
    ap.add_argument("--detector", type=Path, help="detector weights (default: bundled)")
    ap.add_argument("--feature", default="p_degraded", choices=sorted(GRIDS))
    args = ap.parse_args()
    torch.set_num_threads(2)
    faithful, robust = load_model(args.faithful), load_model(args.robust)
    key = {"models": [model_id(faithful), model_id(robust)], "every": args.every,
           "max_size": args.max_size}
    data = json.loads(args.out.read_text()) if args.out.is_file() else {}
    if data.get("key") != key:  # other weights or settings (or none yet): measure again
        data = {"key": key, "fit": measure(faithful, robust, FIT, args.every, args.max_size),
                "check": measure(faithful, robust, CHECK, 1, args.max_size)}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(data))
    detector = load_detector(args.detector) if args.detector else bundled_detector()
    add_features(data["fit"], FIT, args.every, args.max_size, detector)
    add_features(data["check"], CHECK, 1, args.max_size, detector)
    for r in data["fit"] + data["check"]:
        r["x"] = r["features"][args.feature]
    lo, hi = fit(data["fit"], GRIDS[args.feature])
    print(f"fitted on the training frames: ({lo:.3f}, {hi:.3f}) on {args.feature}")
    print(HEADER)
    print("\n".join(report(data["fit"], lo, hi) + report(data["check"], lo, hi)))
    if args.feature != "p_degraded":
        return
    lo, hi = AUTO_RAMP
    print(f"\nshipped (irsrgan.denoise.AUTO_RAMP): ({lo:.3f}, {hi:.3f}) on p_degraded")
    print(HEADER)
    print("\n".join(report(data["fit"], lo, hi) + report(data["check"], lo, hi)))


if __name__ == "__main__":
    main()
