"""Scoring one image: every metric of every method's SR against the HR, and their means.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from .. import metrics
from ..errors import ConfigError
from .items import EvalItem
from .methods import BICUBIC, Method

#: Columns of ``per_image.csv`` in order; those without any value are left out.
METRIC_KEYS = (
    "psnr", "ssim", "psnr_gain", "ssim_gain", "hf_ratio", "stripe", "lpips", "lpips_i",
    "lpips_i_ref", "mae", "rmse", "bias", "strength",
)
LpipsOption = Literal["auto", "off"] | nn.Module | Callable[[torch.Tensor, torch.Tensor], Any]


def _lpips_distance(lpips_fn, sr: torch.Tensor, hr: torch.Tensor, hr_taps=None) -> torch.Tensor:
    """LPIPS of each SR in ``sr`` (``(1, 1, H, W)``) against ``hr``; reuses HR taps."""
    if isinstance(lpips_fn, metrics.LPIPS):
        dev, dtype = lpips_fn.lin0.device, lpips_fn.lin0.dtype
        taps = lpips_fn.taps(sr.to(dev, dtype))
        if hr_taps is None:
            hr_taps = lpips_fn.taps(hr.to(dev, dtype))
        return metrics.lpips_from_features(taps, hr_taps, lpips_fn.lin_weights).double().cpu()
    return torch.as_tensor(lpips_fn(sr, hr)).detach().double().cpu().reshape(-1)


def _lpips_min_size(lpips_fn) -> int:
    return metrics.LPIPS_MIN_SIZE.get(getattr(lpips_fn, "net", "vgg"), 16)


def _lpips_i_defined(lpips_fn) -> bool:
    return getattr(lpips_fn, "net", "vgg") == "vgg"


@torch.no_grad()
def score_image(
    item: EvalItem, srs: dict[str, torch.Tensor], *, border: int, lpips_fn=None
) -> dict[str, dict[str, float]]:
    """Every metric of every method's SR (model space, clamped) for one image.

    Returns:
        ``{method: {metric: value}}``; gains are relative to the method named ``bicubic``.
    """
    labels = list(srs)
    sr = torch.cat([srs[k] for k in labels])
    n = len(labels)
    scores = metrics.score(sr, item.hr.expand(n, -1, -1, -1), crop_border=border,
                           value_map=item.vmap, scale_map=item.metric_map)
    p, q = scores["psnr"], scores["ssim"]
    sr_c, hr_c = metrics.crop(sr, border), metrics.crop(item.hr, border)
    hf = metrics.hf_energy_ratio(sr_c, hr_c.expand(n, -1, -1, -1))
    stripe = metrics.stripe_residual(sr_c, hr_c.expand(n, -1, -1, -1))
    out = {k: {"psnr": float(p[i]), "ssim": float(q[i]), "hf_ratio": float(hf[i]),
               "stripe": float(stripe[i])} for i, k in enumerate(labels)}
    if lpips_fn is not None and min(hr_c.shape[-2:]) >= _lpips_min_size(lpips_fn):
        hr_taps = None
        if isinstance(lpips_fn, metrics.LPIPS):
            hr_taps = lpips_fn.taps(hr_c.to(lpips_fn.lin0.device, lpips_fn.lin0.dtype))
        for i, k in enumerate(labels):
            one = sr_c[i:i + 1]
            d = _lpips_distance(lpips_fn, one, hr_c, hr_taps)
            out[k]["lpips"] = float(d[0])
            if _lpips_i_defined(lpips_fn):
                out[k]["lpips_i"] = float(metrics.lpips_i(one, hr_c, d)[0])
                out[k]["lpips_i_ref"] = float(metrics.lpips_i_ref(one, hr_c, d)[0])
    if item.dtype != np.uint8:
        native = item.to_native(sr)
        for i, k in enumerate(labels):
            rad = metrics.radiometric_error(native[i, 0].numpy(), item.hr_native,
                                            crop_border=border)
            out[k].update(mae=rad.mae, rmse=rad.rmse, bias=rad.bias)
    if BICUBIC in out:
        ref = out[BICUBIC]
        for k in labels:
            for key in ("psnr", "ssim"):
                a, b = out[k][key], ref[key]
                out[k][f"{key}_gain"] = a - b if math.isfinite(a) and math.isfinite(b) else (
                    0.0 if a == b else math.nan)
    return out


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def summarise(rows: list[dict], methods: list[Method], n_images: int) -> tuple[dict, dict]:
    """``(means, models)``: means of every metric per method (finite values only, with counts),
    and per model the mean gains over bicubic and the share of images where it beats it."""
    means: dict[str, dict] = {}
    models: dict[str, dict] = {}
    for m in methods:
        mine = [r for r in rows if r["method"] == m.label]
        entry: dict[str, Any] = {}
        counts: dict[str, int] = {}
        for key in METRIC_KEYS:
            vals = [r[key] for r in mine if _finite(r.get(key))]
            if any(key in r for r in mine):
                entry[key] = float(np.mean(vals)) if vals else math.nan
                counts[key] = len(vals)
        entry["n"] = counts
        entry["seconds_per_image"] = m.seconds / n_images if n_images else math.nan
        means[m.label] = entry
        if m.kind == "bicubic":
            continue
        gains = [r["psnr_gain"] for r in mine if _finite(r.get("psnr_gain"))]
        sgains = [r["ssim_gain"] for r in mine if _finite(r.get("ssim_gain"))]
        models[m.label] = {
            "kind": m.kind,
            "alpha": m.alpha,
            "psnr_gain": float(np.mean(gains)) if gains else math.nan,
            "ssim_gain": float(np.mean(sgains)) if sgains else math.nan,
            "psnr_gain_median": float(np.median(gains)) if gains else math.nan,
            "beats_bicubic_psnr": float(np.mean([g > 0 for g in gains])) if gains else math.nan,
            "beats_bicubic_ssim": float(np.mean([g > 0 for g in sgains])) if sgains else math.nan,
            "n_images": len(gains),
        }
        means[m.label]["beats_bicubic_psnr"] = models[m.label]["beats_bicubic_psnr"]
    return means, models


def _build_lpips(option: LpipsOption, lpips_weights, backbone_weights, device, notes):
    if option == "off":
        notes.append("LPIPS, LPIPS-I and LPIPS-I-ref not computed (LPIPS turned off).")
        return None
    if option == "auto":
        module = metrics.build_lpips(
            "vgg", lin_weights=lpips_weights, backbone_weights=backbone_weights, notes=notes,
            advice="Give lpips_weights (--lpips-weights) and backbone_weights "
            "(--backbone-weights), or install the optional 'lpips' package; lpips='off' "
            "(--no-lpips) leaves LPIPS out.")
        return module.to(device) if module is not None else None
    if isinstance(option, str) or not callable(option):
        raise ConfigError(f"lpips must be 'auto', 'off' or an LPIPS module, got {option!r}")
    if isinstance(option, metrics.LPIPS) and not option.calibrated:
        notes.append("LPIPS here is uncalibrated (lin=False): not LPIPS; do not report it as such.")
    if isinstance(option, nn.Module):
        option = option.to(device).eval()
    return option
