"""Upscaling native frames, which have no ground truth: see it, and measure what can be.

``irsrgan evaluate --native DIR`` upscales each frame as it is (the frame is the LR) with
nearest, bicubic and every model, and writes:

* ``crops/<frame>.png``: the same detail crop side by side (nearest, bicubic, each method),
  contrast-stretched on the crop (1st..99th percentile of the bicubic crop) so that flat facets,
  ringing and invented texture are visible;
* ``native.csv`` / ``native.json``: per frame and method, the no-reference figures:
  ``faceting`` (:func:`irsrgan.metrics.faceting`: the share of the input's gentle structure
  flattened into plateaus; bicubic is 0), ``overshoot`` (:func:`irsrgan.metrics.overshoot`:
  how far the output's maximum passes the frame's, as a share of its range, and in native
  units), and the denoise strength ``auto`` chose;
* ``native.md``: the means per method.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from . import metrics
from .errors import ConfigError
from .evaluate import BICUBIC, ModelSpec, build_methods, detail_crop
from .evaluate.report import _json_safe, _safe_name
from .image import atomic_write_bytes, list_images, read_image, to_tensor

NEAREST = "nearest"
CROP_LR = 48  # detail crop side in LR pixels (shown at x scale)


def _gray_lr(path: Path) -> tuple[torch.Tensor, float, float]:
    """The frame as ``(1, 1, h, w)`` in the unit range (its channels' mean), and the map back
    to native units (offset, scale)."""
    image = read_image(path)
    lr, vmap = to_tensor(image)
    return lr.mean(dim=1, keepdim=True), vmap.offset, vmap.scale


def _stretch(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.clip((x - lo) / max(hi - lo, 1e-12), 0.0, 1.0)


def draw_crops(path: Path, title: str, panels: dict[str, np.ndarray]) -> None:
    """The crops side by side, labelled, as one PNG."""
    from matplotlib.figure import Figure

    n = len(panels)
    fig = Figure(figsize=(2.3 * n, 2.75), dpi=110)
    for j, (label, img) in enumerate(panels.items()):
        ax = fig.add_axes((j / n + 0.005, 0.02, 1 / n - 0.01, 0.78))
        ax.imshow(img, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_title(label, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=8, y=0.98)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buf.getvalue())


def evaluate_native(
    models: Sequence[ModelSpec],
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    limit: int | None = None,
    max_size: int | None = None,
    crops: int | None = None,
    progress: bool = False,
    **method_options: Any,
) -> dict:
    """Upscale native frames (no ground truth) with bicubic and ``models``; write crops and
    the no-reference figures to ``out`` (see the module docstring).

    Args:
        models: model files, bundled names or generator modules.
        data: a folder of frames (searched recursively) or one frame.
        limit: only the first ``limit`` frames.
        max_size: centre-crop each frame to at most this many LR pixels a side first.
        crops: write crops for this many frames (default all).
        method_options: :func:`~irsrgan.evaluate.build_methods` options (scale, device, tile,
            backend, denoise, robust, ...).
    """
    data, out = Path(data), Path(out)
    if not data.exists():
        raise ConfigError(f"native (--native) {data} does not exist")
    paths = list_images(data)[:limit] if limit else list_images(data)
    if not paths:
        raise ConfigError(f"native (--native) {data} holds no PNG, TIFF, JPEG or BMP images")
    methods, scale, _ = build_methods(models, **method_options)
    from tqdm.auto import tqdm

    rows: list[dict] = []
    for index, path in enumerate(tqdm(paths, desc="native", unit="img", disable=not progress)):
        name = path.relative_to(data).as_posix() if data.is_dir() else path.name
        lr, offset, unit = _gray_lr(path)
        if max_size:
            h, w = lr.shape[-2:]
            y0, x0 = max(0, (h - max_size) // 2), max(0, (w - max_size) // 2)
            lr = lr[..., y0:y0 + max_size, x0:x0 + max_size]
        size = tuple(s * scale for s in lr.shape[-2:])
        outs = {NEAREST: F.interpolate(lr, size=size, mode="nearest")}
        for m in methods:
            sr = (F.interpolate(lr, size=size, mode="bicubic", align_corners=False)
                  if m.upscaler is None else m.upscaler.upscale(lr))
            outs[m.label] = sr.float().cpu()
        bic = outs[BICUBIC]
        for label, sr in outs.items():
            if label == NEAREST:
                continue
            over = float(metrics.overshoot(sr, lr)[0])
            row = {"image": name, "method": label, "faceting": float(metrics.faceting(sr, bic)[0]),
                   "overshoot": over,
                   "overshoot_native": over * float(lr.max() - lr.min()) * unit}
            m = next((m for m in methods if m.label == label), None)
            if m is not None and m.kind == "denoise":
                row["strength"] = m.upscaler.last_strength
            rows.append(row)
        if crops is None or index < crops:
            c = min(CROP_LR * scale, *size)
            y, x = detail_crop(bic, c, 0)
            ref = bic[0, 0, y:y + c, x:x + c].numpy()
            lo, hi = np.percentile(ref, [1, 99])
            panels = {k: _stretch(v[0, 0, y:y + c, x:x + c].numpy(), lo, hi)
                      for k, v in outs.items()}
            draw_crops(out / "crops" / f"{index:03d}_{_safe_name(Path(name).stem)}.png",
                       f"{name}: x{scale}, {c}x{c} crop at ({x}, {y}), stretched 1..99 % of "
                       "bicubic", panels)
    summary = _summarise(rows, out)
    summary.update(data=str(data), scale=scale, n_images=len(paths))
    atomic_write_bytes(out / "native.json", json.dumps(_json_safe(summary), indent=1).encode())
    return summary


def _summarise(rows: list[dict], out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    keys = ["image", "method", "faceting", "overshoot", "overshoot_native", "strength"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(out / "native.csv", buf.getvalue().encode())
    means: dict[str, dict] = {}
    for label in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == label]
        means[label] = {k: float(np.mean([r[k] for r in mine])) for k in keys[2:]
                        if all(k in r for r in mine)}
        means[label]["max_overshoot"] = float(max(r["overshoot"] for r in mine))
    lines = ["| method | faceting | mean overshoot | max overshoot | denoise |",
             "|---|---|---|---|---|"]
    for label, m in means.items():
        strength = f"{m['strength']:.2f}" if "strength" in m else "-"
        lines.append(f"| {label} | {m['faceting']:.3f} | {m['overshoot']:.2%} | "
                     f"{m['max_overshoot']:.2%} | {strength} |")
    atomic_write_bytes(out / "native.md", ("\n".join(lines) + "\n").encode())
    return {"means": means, "table": "\n".join(lines)}


__all__ = ["draw_crops", "evaluate_native"]
