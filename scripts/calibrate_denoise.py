"""Calibrate ``--denoise auto``: where does the robust model start to beat the faithful one?

For every image of every validation set under every protocol (the same seeded LR as
``irsrgan evaluate``), this measures the LR's effective noise level (``irsrgan.estimate``) and
the PSNR of the faithful/robust pair at strengths 0, 0.25, ..., 1 (PSNR between them is
interpolated linearly: an approximation used only to choose the ramp; the reported numbers
come from ``irsrgan evaluate --denoise auto``, which runs it). It then picks the ramp
``(clean, noisy)`` of :func:`irsrgan.denoise.auto_strength` that maximises the mean PSNR over
all images, under the constraint that on every set and protocol ``auto`` is within 0.2 dB of
the better end of the pair (the target of docs/RESULTS.md section 7), and prints the table.

    python scripts/calibrate_denoise.py runs/FAITHFUL/model.safetensors \
        runs/ROBUST/model.safetensors [--max-size 256] [--out reports/denoise-calibration.json]
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
from irsrgan.denoise import DenoiseUpscaler, auto_strength
from irsrgan.estimate import NoiseLevel, estimate_noise
from irsrgan.evaluate import find_pairs, load_item

SETS = {"val": "../shared/data/hit-uav/val", "thermitage-dunr": "../shared/data/thermitage-dunr",
        "raw16": "../shared/data/flir-radiometric/raw16"}
PROTOCOLS = ("bicubic", "thermal")
STRENGTHS = (0.0, 0.25, 0.5, 0.75, 1.0)


def measure(faithful, robust, max_size: int) -> list[dict]:
    pair = DenoiseUpscaler(faithful, robust, 0.0, device="cpu")
    rows = []
    for set_name, folder in SETS.items():
        root = Path(folder)
        for protocol in PROTOCOLS:
            preset = get_preset(protocol)
            for index, (path, _) in enumerate(find_pairs(root, None, None)):
                item = load_item(index, path, root, scale=faithful.scale, preset=preset, seed=0,
                                 max_size=max_size)
                level = estimate_noise(item.lr[0, 0].double().numpy())
                hr = item.to_metric(item.hr)
                psnrs = []
                for s in STRENGTHS:
                    sr = pair.upscaler_for(s).upscale(item.lr).clamp(0, 1)
                    psnrs.append(float(metrics.psnr(item.to_metric(sr), hr,
                                                    crop_border=faithful.scale)[0]))
                rows.append({"set": set_name, "protocol": protocol, "image": item.name,
                             "noise": [level.pixel, level.column, level.row], "psnr": psnrs})
    return rows


def _interp(psnrs: list[float], s: float) -> float:
    """PSNR at strength ``s`` by linear interpolation between the measured strengths."""
    return float(np.interp(s, STRENGTHS, psnrs))


def score(rows: list[dict], clean: float, noisy: float) -> tuple[float, dict]:
    groups: dict[tuple, list] = {}
    for r in rows:
        s = auto_strength(NoiseLevel(*r["noise"]), clean, noisy)
        groups.setdefault((r["set"], r["protocol"]), []).append(
            (_interp(r["psnr"], s), r["psnr"][0], r["psnr"][-1], s))
    table = {}
    for key, vals in groups.items():
        auto, f, rb, s = (float(np.mean(v)) for v in zip(*vals, strict=True))
        table[key] = {"auto": auto, "faithful": f, "robust": rb, "strength": s,
                      "shortfall": max(f, rb) - auto}
    mean = float(np.mean([_interp(r["psnr"], auto_strength(NoiseLevel(*r["noise"]), clean,
                                                          noisy)) for r in rows]))
    return mean, table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("faithful")
    ap.add_argument("robust")
    ap.add_argument("--max-size", type=int, default=256)
    ap.add_argument("--out", type=Path, default=Path("reports/denoise-calibration.json"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    if args.out.is_file():
        rows = json.loads(args.out.read_text())["rows"]
    else:
        rows = measure(load_model(args.faithful), load_model(args.robust), args.max_size)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"rows": rows}))
    grid = [round(x, 5) for x in np.geomspace(0.0005, 0.05, 25)]
    best = None
    for clean, noisy in itertools.product(grid, grid):
        if noisy <= clean * 1.2:
            continue
        mean, table = score(rows, clean, noisy)
        worst = max(t["shortfall"] for t in table.values())
        key = (worst <= 0.2, mean)
        if best is None or key > best[0]:
            best = (key, clean, noisy, table)
    (ok, mean), clean, noisy, table = best
    print(f"best ramp: clean {clean:g}, noisy {noisy:g}; mean PSNR {mean:.3f} dB; every set "
          f"within 0.2 dB of the better end: {ok}")
    print("| set | protocol | faithful | robust | auto | auto - better | mean strength |")
    print("|---|---|---|---|---|---|---|")
    for (set_name, protocol), t in table.items():
        print(f"| {set_name} | {protocol} | {t['faithful']:.2f} | {t['robust']:.2f} | "
              f"{t['auto']:.2f} | {-t['shortfall']:+.2f} | {t['strength']:.2f} |")
    if not math.isfinite(mean):
        raise SystemExit("no finite PSNR")


if __name__ == "__main__":
    main()
