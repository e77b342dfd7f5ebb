"""Evaluation on synthetic clips: multi-frame, single-frame and bicubic on the same LR frames.

Each HR image of a set (centre-cropped as :func:`irsrgan.data.crop_window` does) becomes a
clip of ``frames`` frames (:func:`irsrgan.clips.make_clip`, seeded by ``(seed, file name)``
like every other LR in the project): camera motion, then one sensor with a fixed pattern and
per-frame noise. With ``still=True`` the clip is instead the middle frame's LR repeated: a
single image given as a sequence, where a multi-frame model must match the single-frame one.

Every method upscales the whole clip as ``irsrgan upscale`` would (a multi-frame model through
its sliding window, :mod:`irsrgan.windows`; others frame by frame) and every output frame is
scored against its own HR:

* PSNR / SSIM on the bit depth's scale (:func:`irsrgan.metrics.score`, border = scale);
* the share of the sensor's stripes left in the output: the clip is degraded a second time
  with every draw the same but the column/row stripes left out, which gives the stripe
  pattern ``p`` each LR frame carries; with ``e = SR - HR`` and column (row) profiles the
  means over rows (columns) less their mean, ``left = <e, p~> / <p~, p~>`` over all frames
  of all clips, ``p~`` the pattern upscaled as bicubic does. Bicubic leaves 1 (all of it:
  it is linear), a perfect destriper 0, and scene errors that do not look like the stripes
  count for nothing (the plain column-profile RMS of the error is dominated by them);
* flicker against bicubic on static pixels (:class:`irsrgan.metrics.FlickerMeter`: bicubic
  scores 1, a steadier output below 1).

Writes ``clips.json`` and ``clips.md`` (one row per set, protocol and method).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .checkpoint import load_model
from .clips import MotionConfig, make_clip
from .data import ValidationDataset, crop_window, file_generator
from .degradations import Preset, get_preset
from .errors import ConfigError
from .inference import Upscaler
from .metrics import FlickerMeter, score
from .models import MultiFrameNet
from .windows import upscale_windows

#: clip length used by the project's tables (a window of 5 sees 2 neighbours each side)
CLIP_FRAMES = 7

Method = Callable[[torch.Tensor], Iterator[torch.Tensor]]  # (T, 1, h, w) -> (1, 1, H, W)...


def bicubic_method(scale: int) -> Method:
    def run(lr: torch.Tensor) -> Iterator[torch.Tensor]:
        for t in range(lr.shape[0]):
            yield F.interpolate(lr[t:t + 1], scale_factor=scale, mode="bicubic",
                                align_corners=False)
    return run


def model_method(upscaler: Upscaler) -> Method:
    """A model as ``irsrgan upscale`` runs it on a clip (sliding window or frame by frame)."""
    model = upscaler.model

    def run(lr: torch.Tensor) -> Iterator[torch.Tensor]:
        if isinstance(model, MultiFrameNet):
            units = (lr[t].numpy() for t in range(lr.shape[0]))
            for _, sr in upscale_windows(units, model.frames, model.align, upscaler.upscale):
                yield sr
        else:
            for t in range(lr.shape[0]):
                yield upscaler.upscale(lr[t:t + 1])
    return run


def _profiles(x: torch.Tensor) -> torch.Tensor:
    """Column and row profiles of ``(1, C, H, W)``, each less its mean, concatenated."""
    cols, rows = x.double().mean(dim=-2), x.double().mean(dim=-1)
    return torch.cat([(cols - cols.mean(-1, keepdim=True)).flatten(),
                      (rows - rows.mean(-1, keepdim=True)).flatten()])


def stripe_projection(sr: torch.Tensor, hr: torch.Tensor,
                      stripes: torch.Tensor) -> tuple[float, float]:
    """``(<e, p>, <p, p>)`` of the SR error's profiles ``e`` and the LR stripe pattern's
    ``p`` (bicubic-upscaled to SR's size): their ratio is the share of stripes left."""
    s = sr.shape[-1] // stripes.shape[-1]
    p = _profiles(F.interpolate(stripes.double(), scale_factor=s, mode="bicubic",
                                align_corners=False))
    e = _profiles(sr.double() - hr.double())
    return float(e @ p), float(p @ p)


def _mean(values: list[float]) -> float:
    """Mean of the finite values (flicker is NaN on a clip with no change at all)."""
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def _label(spec: str | os.PathLike) -> str:
    from .evaluate.methods import _file_label  # the label evaluate gives the same file

    p = Path(spec)
    return _file_label(p) if p.suffix else str(spec)


def evaluate_set(methods: Mapping[str, Method], data: str | os.PathLike, *, scale: int,
                 preset: str | Preset, frames: int = CLIP_FRAMES, still: bool = False,
                 seed: int = 0, limit: int | None = None, max_size: int | None = None,
                 motion: MotionConfig | None = None) -> dict:
    """Per-method means over the clips of one set: ``{method: {psnr, ssim, stripe, flicker,
    gain, beats}}`` plus ``n_clips`` (see the module docstring)."""
    vals = ValidationDataset(data, scale=scale, max_size=max_size, limit=limit)
    preset = get_preset(preset)
    sums: dict[str, dict[str, list[float]]] = {m: {} for m in methods}
    for frame in vals.frames:
        window = crop_window(*frame.size, scale, max_size)
        clip = make_clip(frame.unit(), window, frames=frames, scale=scale, preset=preset,
                         gen=file_generator(seed, frame.name), motion=motion or MotionConfig(),
                         with_stripes=True)
        lr, hr, pattern = clip.lr, clip.hr, clip.stripes
        if still:
            lr, hr, pattern = (x[clip.ref:clip.ref + 1].expand(frames, -1, -1, -1).contiguous()
                               for x in (lr, hr, pattern))
        maps = dict(value_map=frame.vmap, scale_map=frame.scale_map)
        for name, method in methods.items():
            meter, psnrs, ssims, num, den = FlickerMeter(), [], [], 0.0, 0.0
            for t, sr in enumerate(method(lr)):
                sr = sr.float()
                s = score(sr.clamp(0, 1), hr[t:t + 1], crop_border=scale, **maps)
                psnrs.append(float(s["psnr"].mean()))
                ssims.append(float(s["ssim"].mean()))
                n, d = stripe_projection(sr, hr[t:t + 1], pattern[t:t + 1])
                num, den = num + n, den + d
                meter.update(sr, lr[t])
            fl = meter.result()
            acc = sums[name]
            for key, value in (("psnr", np.mean(psnrs)), ("ssim", np.mean(ssims)),
                               ("stripe_num", num), ("stripe_den", den),
                               ("flicker", fl.ratio)):
                acc.setdefault(key, []).append(float(value))
    base = sums.get("bicubic")
    out: dict = {"n_clips": len(vals.frames), "methods": {}}
    for name, acc in sums.items():
        entry = {k: _mean(v) for k, v in acc.items() if not k.startswith("stripe_")}
        den = sum(acc["stripe_den"])
        entry["stripes_left"] = sum(acc["stripe_num"]) / den if den > 0 else math.nan
        if base is not None:
            gains = np.array(acc["psnr"]) - np.array(base["psnr"])
            entry["gain"] = float(gains.mean())
            entry["beats"] = float((gains > 0).mean())
        out["methods"][name] = entry
    return out


def evaluate_clips(models: Sequence[str | os.PathLike], sets: Mapping[str, str | os.PathLike],
                   out: str | os.PathLike, *, degradations: Sequence[str] = ("thermal",),
                   frames: int = CLIP_FRAMES, still: bool = False, seed: int = 0,
                   limit: int | None = None, max_size: int | None = None,
                   device: str = "auto", tile: int | None = None, backend: str = "auto",
                   progress: bool = False) -> dict:
    """Every set under every protocol (see the module docstring); writes ``clips.json`` and
    ``clips.md`` to ``out`` and returns ``{"rows": [...], "settings": {...}}``."""
    if not models:
        raise ConfigError("give at least one --model to evaluate on clips")
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
        raise ConfigError(f"--clips must be an integer >= 1 (frames per clip), got {frames!r}")
    labels = [_label(m) for m in models]
    if len(set(labels)) != len(labels) or "bicubic" in labels:
        raise ConfigError(f"--model: the models' labels {labels} must differ (and not be "
                          "'bicubic'): give files with distinct names")
    loaded = {label: load_model(m) for label, m in zip(labels, models, strict=True)}
    scales = {m.scale for m in loaded.values()}
    if len(scales) != 1:
        raise ConfigError(f"the models have different scales {sorted(scales)}")
    scale = scales.pop()
    methods: dict[str, Method] = {"bicubic": bicubic_method(scale)}
    for label, model in loaded.items():
        methods[label] = model_method(Upscaler(model, device=device, tile=tile,
                                               backend=backend))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows, start = [], time.perf_counter()
    for set_name, path in sets.items():
        for protocol in degradations:
            res = evaluate_set(methods, path, scale=scale, preset=protocol, frames=frames,
                               still=still, seed=seed, limit=limit, max_size=max_size)
            for method, entry in res["methods"].items():
                rows.append({"set": set_name, "protocol": protocol, "method": method,
                             "clips": res["n_clips"], **entry})
            if progress:
                print(f"{set_name} / {protocol}: {res['n_clips']} clips "
                      f"({time.perf_counter() - start:.0f} s)", flush=True)
    settings = {"models": [str(m) for m in models], "sets": {k: str(v) for k, v in sets.items()},
                "degradations": list(degradations), "frames": frames, "still": still,
                "seed": seed, "limit": limit, "max_size": max_size, "scale": scale,
                "elapsed_s": round(time.perf_counter() - start, 1)}
    result = {"rows": rows, "settings": settings}
    (out / "clips.json").write_text(json.dumps(result, indent=2, allow_nan=True) + "\n")
    (out / "clips.md").write_text(clips_table_markdown(rows) + "\n")
    return result


def _percent(value: float) -> str:
    """A share as a percentage; ``-`` where there is none (a protocol without stripes)."""
    return f"{100 * value:.0f}%" if math.isfinite(value) else "-"


def clips_table_markdown(rows: Sequence[dict]) -> str:
    """One row per set, protocol and method: PSNR, gain over bicubic, SSIM, share of the
    sensor's stripes left, flicker ratio (bicubic = 1), share of clips better than bicubic."""
    lines = ["| set | LR made by | method | clips | PSNR dB | gain dB | SSIM | stripes left | "
             "flicker / bicubic | beats bicubic |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['set']} | `{r['protocol']}` | {r['method']} | {r['clips']} | "
            f"{r['psnr']:.2f} | {r.get('gain', math.nan):+.2f} | {r['ssim']:.4f} | "
            f"{_percent(r['stripes_left'])} | {r['flicker']:.2f} | "
            f"{100 * r.get('beats', 0):.0f}% |")
    return "\n".join(lines)


__all__ = ["CLIP_FRAMES", "bicubic_method", "clips_table_markdown", "evaluate_clips",
           "evaluate_set", "model_method"]
