"""Level anchoring of the denoise pair (irsrgan.consistency.anchor_levels): with and without.

For HIT-UAV *training* frames (every 20th: the frames a choice may be made on) and the three
validation sets, both protocols (clean ``bicubic`` LR and the ``thermal`` sensor model, seeded
and cropped as ``irsrgan evaluate --max-size 256`` does), x4, this scores the shipped pair at
``auto`` and at strength 1 (the robust end) without anchoring and with it, for soft thresholds
of 0 (no threshold), 1, 2 (the shipped :data:`~irsrgan.consistency.ANCHOR_THRESHOLD`) and 3
noise standard deviations: mean PSNR gain over bicubic of the same LR and the share of frames
better than bicubic, scored as ``irsrgan evaluate`` scores (``evaluate.score_image``).

    python scripts/level_anchoring.py [--out reports/level-anchoring.md]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from irsrgan import consistency
from irsrgan.checkpoint import DEFAULT_MODEL, load_model
from irsrgan.degradations import get_preset
from irsrgan.denoise import DenoiseUpscaler, anchored_tensor, anchors, robust_partner
from irsrgan.evaluate import find_pairs, load_item
from irsrgan.evaluate.scores import score_image

D = Path("../shared/data")
SETS = {"train": D / "hit-uav/train", "val": D / "hit-uav/val",
        "thermitage-dunr": D / "thermitage-dunr", "raw16": D / "flir-radiometric/raw16"}
THRESHOLDS = (0.0, 1.0, 2.0, 3.0)
SHIPPED = consistency.ANCHOR_THRESHOLD


def run_set(name: str, root: Path, protocol: str, pair: DenoiseUpscaler
            ) -> dict[str, list[float]]:
    """Per-frame PSNR gains of every method on one set and protocol. The pair runs without
    anchoring; each threshold is then applied to its output as the anchored pair does
    (``DenoiseUpscaler.upscale`` is ``anchored_tensor`` of the plain output at strengths
    above 0: tests/test_denoise.py)."""
    paths = [p for p, _ in find_pairs(root, None, None)]
    if name == "train":
        paths = paths[::20]
    gains: dict[str, list[float]] = {}
    for index, path in enumerate(paths):
        item = load_item(index, path, root, scale=4, preset=get_preset(protocol), seed=0,
                         max_size=256)
        srs = {"bicubic": F.interpolate(item.lr, size=tuple(item.hr.shape[-2:]),
                                        mode="bicubic", align_corners=False)}
        for strength in ("auto", 1.0):
            plain = srs[f"{strength} plain"] = pair.upscale(item.lr, strength=strength)
            for k in THRESHOLDS:
                consistency.ANCHOR_THRESHOLD = k
                srs[f"{strength} anchored k={k:g}"] = (
                    anchored_tensor(plain, item.lr) if anchors(pair.last_strength) else plain)
        consistency.ANCHOR_THRESHOLD = SHIPPED
        scores = score_image(item, {k: v.float().clamp(0, 1) for k, v in srs.items()},
                             border=4)
        for label, s in scores.items():
            if label != "bicubic":
                gains.setdefault(label, []).append(s["psnr"] - scores["bicubic"]["psnr"])
    return gains


def pivot(rows: list[tuple]) -> list[str]:
    """One line per set, protocol and strength: the gain without anchoring and with each
    threshold (share of frames better than bicubic in brackets)."""
    head = ["| set | protocol | strength | images | no anchoring | "
            + " | ".join(f"k={k:g}" + (" (shipped)" if k == SHIPPED else "")
                         for k in THRESHOLDS) + " |",
            "|---" * (5 + len(THRESHOLDS)) + "|"]
    cells: dict[tuple, dict[str, str]] = {}
    for name, protocol, strength, how, n, mean, share in rows:
        key = (name, protocol, strength, n)
        cells.setdefault(key, {})[how] = f"{mean:+.2f} ({share:.0%})"
    return head + [f"| {a} | {b} | {c} | {n} | {v['plain']} | "
                   + " | ".join(v[f"anchored k={k:g}"] for k in THRESHOLDS) + " |"
                   for (a, b, c, n), v in cells.items()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("reports/level-anchoring.md"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    models = load_model(DEFAULT_MODEL), load_model(robust_partner(DEFAULT_MODEL))
    pair = DenoiseUpscaler(*models, backend="torch", tile=0, anchor=False)
    rows = []
    with torch.inference_mode():
        for name, root in SETS.items():
            for protocol in ("bicubic", "thermal"):
                for label, g in run_set(name, root, protocol, pair).items():
                    strength, how = label.split(" ", 1)
                    g = np.asarray(g)
                    rows.append((name, protocol, strength, how, len(g), g.mean(),
                                 np.mean(g > 0)))
                    print(rows[-1], flush=True)
    lines = [f"*x4, centre crops of at most 256 px, seed 0; gain over bicubic in dB (share of "
             f"frames better than bicubic); anchoring: gaussian {consistency.ANCHOR_SIGMA:g} "
             f"LR px, soft threshold k noise sigmas; `python scripts/level_anchoring.py`*", "",
             *pivot(rows)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
