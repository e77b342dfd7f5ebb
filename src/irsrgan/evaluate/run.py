"""Evaluation: bicubic and every model on the same LR, scored per image, written as a report.

:func:`evaluate` reads each HR image of a folder (gray: colour is converted with BT.601 luma;
cropped to a multiple of the scale at the bottom/right; optionally centre-cropped to
``max_size``), makes its LR once (a seeded degradation preset, or a file of a paired LR folder),
upscales it with bicubic and with every model through one :class:`~irsrgan.inference.Upscaler`
each, scores every result, and writes a report folder:

* ``per_image.csv``: one row per image and method (long format);
* ``summary.json``: settings, model provenance, means per method, gains over bicubic;
* ``psnr_box.png``, ``ssim_box.png``: per-image distributions (absolute and gain);
* ``grids/*.png``: HR, bicubic and each model side by side with a zoomed crop of the region of
  highest HR detail, labelled with values on the crop *and* on the whole image;
* ``perception_distortion.png`` for a network-interpolation sweep;
* ``index.html``: one page that shows all of it (relative links only).

Conventions (the data README's "protocol for quality numbers"):

* **LR**: each image is degraded with the generator :func:`irsrgan.data.file_generator`
  ``(seed, name)``, ``name`` being its path relative to the folder (its file name when one
  file is given), the one :class:`~irsrgan.data.ValidationDataset` and ``irsrgan degrade``
  use: every method sees the same LR, every run with the same seed makes the same LR, the LR
  equals training validation's for the same seed, folder and window, and equals the file
  ``irsrgan degrade --seed`` writes (before its rounding to the file's bit depth).
* **Model space**: pixels enter models in the unit range of :func:`irsrgan.image.to_tensor`
  (8-bit: ``/255``; 16-bit and float: the HR file's min..max). Every SR, bicubic included, is
  clamped to [0, 1] there, as the model's output range.
* **PSNR / SSIM**: gray, ``data_range`` 1 on the scale of the HR's bit depth (uint8 /255,
  uint16 /65535, int16 its range; float: the HR's min..max), SSIM gaussian 11x11 sigma 1.5,
  ``crop_border = scale``: exactly :func:`irsrgan.metrics.unit_pair`'s convention, so the
  numbers equal ``irsrgan metrics`` on the same arrays. The PSNR *gain* over bicubic does not
  depend on the data range.
* **HF ratio, LPIPS, LPIPS-I**: in model space (LPIPS needs images that use the unit range),
  after the same border crop. LPIPS is LPIPS-vgg v0.1; without its weights (nothing is
  downloaded) the columns are left out and the report says why.
* **Radiometric error** (16-bit and float HR only): MAE / RMSE / bias of the SR mapped back to
  native units (raw counts, degrees) against the HR's native values, same border crop.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import logging
import math
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import metrics
from ..checkpoint import load_model, read_metadata, resolve_model_path
from ..data import crop_window, file_generator
from ..degradations import Preset, degrade, get_preset
from ..denoise import DenoiseUpscaler, Strength, parse_strength, robust_partner
from ..errors import CheckpointError, ConfigError, ImageError, IrsrganError
from ..image import (
    BT601_LUMA,
    Image,
    ValueMap,
    atomic_write_bytes,
    bit_depth_map,
    list_images,
    read_image,
    value_map_for,
)
from ..inference import Upscaler
from ..interpolate import interpolate_models

log = logging.getLogger(__name__)

#: BT.601 luma, as :func:`irsrgan.image.gray_unit` converts colour.
LUMA = BT601_LUMA
BICUBIC = "bicubic"
#: the HR frames' own flicker, measured beside the methods' for a clip
HR_FLICKER = "HR"
#: Zoomed crop of the comparison grids: a quarter of the shorter side, within these bounds.
GRID_CROP_MIN, GRID_CROP_MAX = 24, 96
#: Columns of ``per_image.csv`` in order; those without any value are left out.
METRIC_KEYS = (
    "psnr", "ssim", "psnr_gain", "ssim_gain", "hf_ratio", "stripe", "lpips", "lpips_i",
    "lpips_i_ref", "mae", "rmse", "bias", "strength",
)
#: HTML / printed table of means: (key, header, format).
TABLE_COLUMNS = (
    ("psnr", "PSNR dB", "{:.3f}"),
    ("ssim", "SSIM", "{:.4f}"),
    ("psnr_gain", "ΔPSNR dB", "{:+.3f}"),
    ("ssim_gain", "ΔSSIM", "{:+.4f}"),
    ("beats_bicubic_psnr", "beats bicubic", "{:.0%}"),
    ("hf_ratio", "HF ratio", "{:.3f}"),
    ("stripe", "stripe RMS", "{:.1e}"),
    ("lpips", "LPIPS", "{:.4f}"),
    ("lpips_i", "LPIPS-I", "{:.3f}"),
    ("lpips_i_ref", "LPIPS-I-ref", "{:.3f}"),
    ("mae", "MAE", "{:.4g}"),
    ("rmse", "RMSE", "{:.4g}"),
    ("flicker", "flicker", "{:.2e}"),
    ("flicker_ratio", "flicker ×bicubic", "{:.3f}"),
    ("strength", "denoise", "{:.2f}"),
    ("seconds_per_image", "s / image", "{:.3f}"),
)

ModelSpec = str | os.PathLike | nn.Module
LpipsOption = Literal["auto", "off"] | nn.Module | Callable[[torch.Tensor, torch.Tensor], Any]
BackendName = Literal["auto", "torch", "onnxruntime", "openvino"]


# --------------------------------------------------------------------------- methods
@dataclass
class Method:
    """One way to upscale: bicubic, a model, or an interpolated model."""

    label: str
    kind: Literal["bicubic", "model", "interpolated", "denoise"]
    upscaler: Upscaler | DenoiseUpscaler | None = None
    alpha: float | None = None
    provenance: dict = field(default_factory=dict)
    seconds: float = 0.0


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _load(spec: ModelSpec, what: str) -> tuple[nn.Module, str, dict]:
    """``(model, label, provenance)`` for a path, a bundled name or a module."""
    if isinstance(spec, nn.Module):
        for attr in ("scale", "in_channels", "out_channels"):
            if not hasattr(spec, attr):
                raise ConfigError(f"{what} must be a generator with .{attr}, got a "
                                  f"{type(spec).__name__}")
        source = getattr(spec, "source", None)
        label = Path(source).stem if source else str(getattr(spec, "arch", "model"))
        prov = {"source": str(source) if source else None,
                "arch": getattr(spec, "arch", None), "config": getattr(spec, "config", None)}
        return spec, label, prov
    try:
        path = resolve_model_path(spec)
    except CheckpointError as exc:
        raise CheckpointError(f"{what}: {exc}") from None
    model = load_model(path)
    label = _file_label(Path(spec)) if Path(spec).exists() else str(spec)
    prov: dict[str, Any] = {
        "source": str(spec), "file": str(path.resolve()), "arch": model.arch,
        "config": model.config, "sha256": _file_sha256(path),
    }
    try:
        meta = read_metadata(path)
    except Exception:  # foreign .pth / .pt files have no safetensors metadata
        meta = {}
    if meta.get("format") == "irsrgan":
        prov["provenance"] = meta.get("provenance", {})
    return model, label, prov


def _file_label(path: Path) -> str:
    """A model file's label: its stem, or its run folder's name for a training run's
    ``model`` / ``best`` / ``last`` files (``runs/cpu-psnr-x4/model.safetensors`` ->
    ``cpu-psnr-x4``)."""
    if path.stem in ("model", "best", "last") and path.parent.name:
        return path.parent.name if path.stem == "model" else f"{path.parent.name}-{path.stem}"
    return path.stem


def _unique(label: str, used: set[str], source: str | None) -> str:
    if label not in used:
        return label
    if source:
        parent = Path(source).parent.name
        candidate = f"{parent}/{label}" if parent else label
        if candidate not in used:
            return candidate
    n = 2
    while f"{label}-{n}" in used:
        n += 1
    return f"{label}-{n}"


def _parse_alphas(alphas: Sequence[float]) -> list[float]:
    out: list[float] = []
    for a in alphas:
        if isinstance(a, bool) or not isinstance(a, (int, float)) or not math.isfinite(a):
            raise ConfigError(f"sweep_alphas must be numbers in [0, 1], got {a!r}")
        if not 0.0 <= float(a) <= 1.0:
            raise ConfigError(f"sweep_alphas must be in [0, 1], got {a}")
        if float(a) not in out:
            out.append(float(a))
    return out


def parse_alpha_list(text: str) -> list[float]:
    """``"0.1,0.3,0.5"`` -> ``[0.1, 0.3, 0.5]`` (for ``--sweep-alpha``)."""
    values = []
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        try:
            values.append(float(part))
        except ValueError:
            raise ConfigError(
                f"--sweep-alpha must be comma-separated numbers in [0, 1], got {text!r}"
            ) from None
    if not values:
        raise ConfigError(f"--sweep-alpha must list at least one alpha, got {text!r}")
    return _parse_alphas(values)


def _alpha_label(alpha: float) -> str:
    return f"interp@{alpha:g}"


def build_methods(
    models: Sequence[ModelSpec],
    *,
    scale: int | None,
    model_b: ModelSpec | None = None,
    sweep_alphas: Sequence[float] = (),
    device: str | torch.device | None = "auto",
    tile: int | None = None,
    backend: BackendName = "auto",
    ensemble: bool = False,
    denoise: Sequence[Strength] = (),
    robust: ModelSpec | None = None,
) -> tuple[list[Method], int, dict | None]:
    """Bicubic, the models, the interpolation sweep, and the denoise strengths (between the
    first model and ``robust``, default its named partner), each with its Upscaler.

    Returns:
        ``(methods, scale, sweep)``; ``sweep`` names the two ends and the labels per alpha.

    Raises:
        ConfigError: scales disagree, a sweep without ``model_b`` or the reverse.
        CheckpointError: a model cannot be loaded, or ``model_b`` does not match the model.
    """
    alphas = _parse_alphas(sweep_alphas)
    if alphas and model_b is None:
        raise ConfigError("sweep_alphas (--sweep-alpha) needs model_b (--model-b)")
    if model_b is not None and not alphas:
        raise ConfigError("model_b (--model-b) is only used with sweep_alphas (--sweep-alpha)")
    if model_b is not None and not models:
        raise ConfigError("model_b (--model-b) needs a model (--model) for alpha 0")
    loaded = [_load(m, f"model {m}") for m in models]
    b_loaded = _load(model_b, f"model_b {model_b}") if model_b is not None else None
    for model, label, prov in loaded + ([b_loaded] if b_loaded else []):
        s = int(model.scale)
        if scale is None:
            scale = s
        elif s != scale:
            raise ConfigError(
                f"model {prov.get('source') or label} is a x{s} model, but the scale is "
                f"{scale} (--scale): every model must have the evaluated scale"
            )
    if scale is None:
        raise ConfigError("scale (--scale) is required when no model is given")
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ConfigError(f"scale must be an integer >= 1, got {scale!r}")

    # every check and every model first; Upscalers (an ONNX export each on CPU) last
    methods = [Method(BICUBIC, "bicubic", provenance={
        "method": "torch F.interpolate(mode='bicubic', align_corners=False), clamped to [0, 1]"
    })]
    nets: list[nn.Module | None] = [None]
    used = {BICUBIC}
    for (model, label, prov), spec in zip(loaded, models, strict=True):
        label = _unique(label, used, None if isinstance(spec, nn.Module) else str(spec))
        used.add(label)
        methods.append(Method(label, "model", provenance=prov))
        nets.append(model)
    sweep = None
    if b_loaded is not None:
        model_a, label_a = loaded[0][0], methods[1].label
        model_bm, label_b, prov_b = b_loaded
        arch_a, arch_b = getattr(model_a, "arch", None), getattr(model_bm, "arch", None)
        cfg_a, cfg_b = getattr(model_a, "config", None), getattr(model_bm, "config", None)
        if arch_a != arch_b or cfg_a != cfg_b:
            raise CheckpointError(
                f"model_b (--model-b) {model_b} is {arch_b} {cfg_b}, but model (--model) "
                f"{models[0]} is {arch_a} {cfg_a}: network interpolation needs the same "
                "architecture and hyperparameters"
            )
        same_b = [m for m in methods if m.kind == "model" and m.provenance.get("sha256")
                  and m.provenance.get("sha256") == prov_b.get("sha256")]
        if same_b:
            label_b = same_b[0].label
        else:
            label_b = _unique(label_b, used, None if isinstance(model_b, nn.Module)
                              else str(model_b))
            used.add(label_b)
            methods.append(Method(label_b, "model", provenance=prov_b))
            nets.append(model_bm)
        points = []
        for alpha in alphas:
            label = _unique(_alpha_label(alpha), used, None)
            used.add(label)
            methods.append(Method(label, "interpolated", alpha=alpha, provenance={
                "interpolated": {"a": label_a, "b": label_b, "alpha": alpha}}))
            nets.append(interpolate_models(model_a, model_bm, alpha))
            points.append({"alpha": alpha, "method": label})
        sweep = {"a": label_a, "b": label_b, "points": points}
    engine = dict(device=device, tile=tile, backend=backend, ensemble=ensemble)
    for method, net in zip(methods, nets, strict=True):
        if net is not None:
            method.upscaler = Upscaler(net, **engine)
    if denoise:
        if not models:
            raise ConfigError("denoise (--denoise) needs a model (--model): the faithful end")
        if robust is None and not isinstance(models[0], nn.Module):
            robust = robust_partner(models[0])
        if robust is None:
            raise ConfigError(f"denoise (--denoise): model {models[0]} names no robust "
                              "partner; give one (--robust)")
        robust_model, robust_label, _ = _load(robust, f"robust {robust}")
        for strength in dict.fromkeys(parse_strength(v) for v in denoise):
            label = _unique(f"denoise@{strength}", used, None)
            used.add(label)
            methods.append(Method(label, "denoise", DenoiseUpscaler(
                loaded[0][0], robust_model, strength, **engine), provenance={
                "denoise": {"faithful": methods[1].label, "robust": robust_label,
                            "strength": strength}}))
    return methods, scale, sweep


# --------------------------------------------------------------------------- images
@dataclass
class EvalItem:
    """One HR image and its LR, in model space, with what scoring needs."""

    index: int
    name: str
    hr: torch.Tensor  # (1, 1, H, W) float32, model space
    lr: torch.Tensor  # (1, 1, H / s, W / s) float32, model space
    vmap: ValueMap  # model space <-> native values
    metric_map: ValueMap  # native values <-> the PSNR/SSIM scale (data range 1)
    dtype: np.dtype
    hr_native: np.ndarray  # (H, W) float64 native values (NaN where the file has NaN)
    notes: list[str] = field(default_factory=list)

    def to_metric(self, x: torch.Tensor) -> torch.Tensor:
        """Model space -> the PSNR/SSIM scale, float64."""
        return metrics.to_bit_depth_scale(x, self.vmap, self.metric_map)

    def to_native(self, x: torch.Tensor) -> torch.Tensor:
        """Model space -> native units (float64), clamped to the dtype's range if integer."""
        x = x.double() * self.vmap.scale + self.vmap.offset
        if np.dtype(self.dtype).kind in "ui":
            info = np.iinfo(self.dtype)
            x = x.clamp(float(info.min), float(info.max))
        return x


def _gray_native(path: Path) -> tuple[np.ndarray, np.dtype, ValueMap]:
    """The image as ``(H, W)`` native values, its dtype, and its model-space value map."""
    return gray_native(read_image(path))


def gray_native(image: Image) -> tuple[np.ndarray, np.dtype, ValueMap]:
    """:func:`_gray_native` of an image in memory (a frame of a clip)."""
    chans = image.channels()
    if chans.shape[0] >= 3:
        c = chans.astype(np.float64)
        gray = LUMA[0] * c[0] + LUMA[1] * c[1] + LUMA[2] * c[2]
    else:  # gray, or gray + alpha
        gray = chans[0]
    return gray, image.dtype, value_map_for(chans, "auto")


def _unit(native: np.ndarray, vmap: ValueMap, name: str, notes: list[str]) -> torch.Tensor:
    unit = vmap.to_unit(np.asarray(native))
    bad = ~np.isfinite(unit)
    if bad.any():
        fill = float(unit[~bad].mean()) if (~bad).any() else 0.0
        unit[bad] = fill
        notes.append(f"{name}: {int(bad.sum())} non-finite pixels replaced by the mean for "
                     "upscaling and PSNR/SSIM; left out of the radiometric error")
    return torch.from_numpy(np.ascontiguousarray(unit, dtype=np.float32))[None, None]


def _stem_key(path: Path, root: Path) -> str:
    rel = path.relative_to(root) if root.is_dir() else Path(path.name)
    return rel.with_suffix("").as_posix()


def _rel_name(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() if root.is_dir() else path.name


def _check_size(name: str, h: int, w: int, scale: int) -> None:
    need = metrics.ssim_window_size() + 2 * scale
    if h < need or w < need:
        raise ImageError(
            f"{name}: {w}x{h} after cropping to a multiple of the scale is too small: SSIM "
            f"needs at least {need}x{need} (11 px window + {scale} px border on each side)"
        )


def load_item(
    index: int, path: Path, root: Path, *, scale: int, preset: Preset | None, seed: int,
    max_size: int | None, lr_path: Path | None = None,
) -> EvalItem:
    """Read one HR (and its paired LR, or make the LR with ``preset``)."""
    name = _rel_name(path, root)
    notes: list[str] = []
    native, dtype, vmap = _gray_native(path)
    h, w = native.shape
    if lr_path is None:
        return degraded_item(index, name, native, dtype, vmap, scale=scale, preset=preset,
                             seed=seed, max_size=max_size)
    lr_native, lr_dtype, lr_own = _gray_native(lr_path)
    lh, lw = lr_native.shape
    if h // scale != lh or w // scale != lw:
        raise ImageError(
            f"{name} is {w}x{h}, but its paired LR {lr_path} is {lw}x{lh}: expected "
            f"{w // scale}x{h // scale} at scale {scale}"
        )
    y0, x0, hh, ww = crop_window(lh * scale, lw * scale, scale, max_size)
    _check_size(name, hh, ww, scale)
    hr_native = native[y0:y0 + hh, x0:x0 + ww].astype(np.float64)
    hr = _unit(hr_native, vmap, name, notes)
    lmap = vmap if lr_dtype == dtype else lr_own  # same dtype: keep the pair on one scale
    ly, lx = y0 // scale, x0 // scale
    lr = _unit(lr_native[ly:ly + hh // scale, lx:lx + ww // scale], lmap,
               f"LR {lr_path.name}", notes)
    return EvalItem(index, name, hr, lr, vmap, bit_depth_map(dtype, vmap), np.dtype(dtype),
                    hr_native, notes)


def degraded_item(
    index: int, name: str, native: np.ndarray, dtype: np.dtype, vmap: ValueMap, *, scale: int,
    preset: Preset, seed: int, max_size: int | None,
) -> EvalItem:
    """An item whose LR is ``native`` (cropped) degraded with ``preset`` and the generator
    ``file_generator(seed, name)``."""
    notes: list[str] = []
    h, w = native.shape
    y0, x0, hh, ww = crop_window(h, w, scale, max_size)
    _check_size(name, hh, ww, scale)
    hr_native = native[y0:y0 + hh, x0:x0 + ww].astype(np.float64)
    hr = _unit(hr_native, vmap, name, notes)
    lr = degrade(hr, scale, preset, file_generator(seed, name))
    return EvalItem(index, name, hr, lr, vmap, bit_depth_map(dtype, vmap), np.dtype(dtype),
                    hr_native, notes)


def find_pairs(
    data: Path, paired_lr: Path | None, limit: int | None
) -> list[tuple[Path, Path | None]]:
    """HR files (sorted, limited) and their LR files matched by relative name without suffix."""
    if not data.exists():
        raise ConfigError(f"data (--data) {data} does not exist: expected a folder of images "
                          "or one image file")
    paths = list_images(data)
    if not paths:
        raise ConfigError(f"data (--data) {data} holds no PNG, TIFF, JPEG or BMP images")
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigError(f"limit (--limit) must be an integer >= 1, got {limit!r}")
        paths = paths[:limit]
    if paired_lr is None:
        return [(p, None) for p in paths]
    if not paired_lr.exists():
        raise ConfigError(f"paired_lr (--paired-lr) {paired_lr} does not exist")
    lr_index: dict[str, Path] = {}
    for p in list_images(paired_lr):
        key = _stem_key(p, paired_lr)
        if key in lr_index:
            raise ConfigError(f"paired_lr (--paired-lr) {paired_lr}: {lr_index[key].name} and "
                              f"{p.name} have the same name without suffix")
        lr_index[key] = p
    if paired_lr.is_file() and data.is_file():
        return [(paths[0], paired_lr)]
    missing = [_rel_name(p, data) for p in paths if _stem_key(p, data) not in lr_index]
    if missing:
        raise ConfigError(
            f"{len(missing)} HR image(s) have no LR of the same name in paired_lr (--paired-lr) "
            f"{paired_lr}: " + ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        )
    return [(p, lr_index[_stem_key(p, data)]) for p in paths]


# --------------------------------------------------------------------------- scoring
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


# --------------------------------------------------------------------------- grids
def detail_crop(hr: torch.Tensor, size: int, border: int) -> tuple[int, int]:
    """Top-left ``(y, x)`` of the ``size`` x ``size`` window of highest local Laplacian energy
    of ``hr`` (``(1, 1, H, W)``), kept ``border`` pixels away from the edges."""
    inner = metrics.crop(hr, border) if border else hr
    energy = metrics.laplacian(inner.double()).pow(2)
    h, w = inner.shape[-2:]
    size = min(size, h, w)
    # window sums from an integral image: O(H W) whatever the window size
    integral = F.pad(energy[0, 0].cumsum(0).cumsum(1), (1, 0, 1, 0))
    box = (integral[size:, size:] - integral[:-size, size:] - integral[size:, :-size]
           + integral[:-size, :-size])
    idx = int(torch.argmax(box.flatten()))
    y, x = divmod(idx, box.shape[-1])
    return y + border, x + border


def _grid_crop_size(h: int, w: int, border: int) -> int:
    size = min(GRID_CROP_MAX, max(GRID_CROP_MIN, min(h, w) // 4))
    return max(1, min(size, h - 2 * border, w - 2 * border))


def _fmt(v: float | None, fmt: str) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and math.isnan(v):
        return "nan"
    if isinstance(v, float) and math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return fmt.format(v)


@torch.no_grad()
def draw_grid(
    item: EvalItem, srs: dict[str, torch.Tensor], scores: dict[str, dict[str, float]],
    path: Path, *, border: int, lpips_fn=None, title: str = "",
) -> dict:
    """HR and each method side by side (whole image, then the zoomed crop of highest HR
    detail), labelled with PSNR and LPIPS-I (HF ratio without LPIPS) on the crop and on the
    whole image. Returns the crop and the crop's values."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    h, w = item.hr.shape[-2:]
    size = _grid_crop_size(h, w, border)
    y0, x0 = detail_crop(item.hr, size, border)
    sl = (..., slice(y0, y0 + size), slice(x0, x0 + size))
    hr_crop = item.hr[sl]
    use_lpips = (lpips_fn is not None and _lpips_i_defined(lpips_fn)
                 and size >= _lpips_min_size(lpips_fn) and all("lpips_i" in v
                                                              for v in scores.values()))
    second = "LPIPS-I" if use_lpips else "HF"
    crop_values: dict[str, dict] = {}
    for label, sr in srs.items():
        c = sr[sl]
        vals = {"psnr": float(metrics.psnr(item.to_metric(c), item.to_metric(hr_crop))[0])}
        if use_lpips:
            d = _lpips_distance(lpips_fn, c, hr_crop)
            vals["lpips_i"] = float(metrics.lpips_i(c, hr_crop, d)[0])
        else:
            vals["hf_ratio"] = float(metrics.hf_energy_ratio(c, hr_crop)[0])
        crop_values[label] = vals

    cols = [("HR (reference)", item.hr)] + list(srs.items())
    ncol = len(cols)
    # layout in inches: suptitle, column titles, whole images, gap, crops, labels
    col_w, pad, head, titles, gap, foot = 2.6, 0.1, 0.55, 0.3, 0.12, 0.5
    full_h = col_w * h / w
    fig_w = ncol * col_w + (ncol + 1) * pad
    fig_h = head + titles + full_h + gap + col_w + foot
    fig = Figure(figsize=(fig_w, fig_h), dpi=110)
    key2 = "lpips_i" if use_lpips else "hf_ratio"
    fmt2 = "{:.2f}" if use_lpips else "{:.3f}"
    for j, (label, img) in enumerate(cols):
        left = (pad + j * (col_w + pad)) / fig_w
        top = fig.add_axes((left, (foot + col_w + gap) / fig_h, col_w / fig_w, full_h / fig_h))
        top.imshow(img[0, 0].numpy(), cmap="gray", vmin=0.0, vmax=1.0, interpolation="antialiased")
        top.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), size, size, fill=False, edgecolor="#ff3b30",
                                linewidth=1.2))
        top.set_title(label, fontsize=9)
        top.set_xticks([])
        top.set_yticks([])
        bottom = fig.add_axes((left, foot / fig_h, col_w / fig_w, col_w / fig_h))
        bottom.imshow(img[0, 0][y0:y0 + size, x0:x0 + size].numpy(), cmap="gray", vmin=0.0,
                      vmax=1.0, interpolation="nearest")
        bottom.set_xticks([])
        bottom.set_yticks([])
        if label in crop_values:
            cv, whole = crop_values[label], scores[label]
            text = (f"crop:  PSNR {_fmt(cv['psnr'], '{:.2f}')}  {second} "
                    f"{_fmt(cv[key2], fmt2)}\n"
                    f"whole: PSNR {_fmt(whole['psnr'], '{:.2f}')}  {second} "
                    f"{_fmt(whole.get(key2), fmt2)}")
        else:
            text = f"crop {size}x{size} at ({x0}, {y0})\n(zoomed, nearest)"
        bottom.set_xlabel(text, fontsize=7.5, family="monospace")
    fig.suptitle(
        (title + "\n" if title else "")
        + f"PSNR in dB; 'crop' = on the zoomed crop shown, 'whole' = on the whole image "
        f"({border} px border removed)",
        fontsize=9, y=1 - 0.08 / fig_h, va="top",
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write_bytes(path, buf.getvalue())
    return {"crop": {"x": x0, "y": y0, "size": size}, "values": crop_values}


# --------------------------------------------------------------------------- plots
def _save(fig, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write_bytes(path, buf.getvalue())


def plot_boxes(rows: list[dict], labels: list[str], key: str, path: Path, unit: str) -> None:
    """Per-image values of ``key`` per method (left) and their gain over bicubic (right)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(6.0, 1.2 * len(labels) + 3.0), 4.2), dpi=110)
    axes = fig.subplots(1, 2)
    for ax, k, lab, names in (
        (axes[0], key, f"{key.upper()}{unit}", labels),
        (axes[1], f"{key}_gain", f"gain over bicubic{unit}", [x for x in labels if x != BICUBIC]),
    ):
        data = [[r[k] for r in rows if r["method"] == m and _finite(r.get(k))] for m in names]
        keep = [(m, d) for m, d in zip(names, data, strict=True) if d]
        if keep:
            ax.boxplot([d for _, d in keep], showmeans=True)
            ax.set_xticks(range(1, len(keep) + 1))
            ax.set_xticklabels([m for m, _ in keep], rotation=30, ha="right", fontsize=8)
        if k.endswith("_gain"):
            ax.axhline(0.0, color="#888", linewidth=0.8, linestyle="--")
        ax.set_ylabel(lab)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"{key.upper()} per image (box: quartiles, line: median, triangle: mean)",
                 fontsize=10)
    fig.tight_layout()
    _save(fig, path)


def plot_perception_distortion(
    sweep_points: list[dict], means: dict, path: Path, *, ends: tuple[str, str] = ("A", "B")
) -> None:
    """PSNR against HF energy ratio (and against LPIPS-I when there) along the sweep."""
    from matplotlib.figure import Figure

    xs_keys = [("hf_ratio", "HF energy ratio SR/HR (1 = as sharp as HR)")]
    if all(_finite(means[p["method"]].get("lpips_i")) for p in sweep_points):
        xs_keys.append(("lpips_i", "LPIPS-I (seed's, higher = 'better')"))
    fig = Figure(figsize=(5.2 * len(xs_keys), 4.4), dpi=110)
    axes = np.atleast_1d(fig.subplots(1, len(xs_keys)))
    for ax, (xk, xlabel) in zip(axes, xs_keys, strict=True):
        pts = [(p["alpha"], means[p["method"]].get(xk), means[p["method"]].get("psnr"))
               for p in sweep_points]
        pts = [(a, x, y) for a, x, y in pts if _finite(x) and _finite(y)]
        if pts:
            ax.plot([x for _, x, _ in pts], [y for _, _, y in pts], "o-", color="#1f77b4",
                    label="interpolated models")
            for i, (a, x, y) in enumerate(pts):  # alternate sides: neighbours can be close
                ax.annotate(f"α={a:g}", (x, y), textcoords="offset points",
                            xytext=(6, 4) if i % 2 else (-6, -12),
                            ha="left" if i % 2 else "right", fontsize=8)
        bic = means.get(BICUBIC, {})
        if _finite(bic.get(xk)) and _finite(bic.get("psnr")):
            ax.plot([bic[xk]], [bic["psnr"]], "s", color="#d62728", label="bicubic")
        if xk == "hf_ratio":
            ax.axvline(1.0, color="#888", linestyle="--", linewidth=0.8, label="HR sharpness")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("PSNR dB (mean)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Perception-distortion: network interpolation α\n"
                 f"(0 = {ends[0]}, 1 = {ends[1]})", fontsize=10)
    fig.tight_layout()
    _save(fig, path)


# --------------------------------------------------------------------------- writing
def _json_safe(v: Any) -> Any:
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {str(k): _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    if isinstance(v, (np.floating, np.integer)):
        return _json_safe(v.item())
    if isinstance(v, Path):
        return str(v)
    return v


def write_csv(rows: list[dict], path: Path) -> list[str]:
    """``per_image.csv``: full-precision floats (``repr``), empty cells where not computed."""
    keys = [k for k in METRIC_KEYS if any(k in r for r in rows)]
    columns = ["image", "method", *keys]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for r in rows:
        writer.writerow([repr(r[c]) if isinstance(r.get(c), float) else r.get(c, "")
                         for c in columns])
    atomic_write_bytes(path, buf.getvalue().encode())
    return columns


def _table(headers: list[str], body: list[list[str]], cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    trs = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in body)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{trs}</tbody></table>'


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:1400px;
padding:0 1em;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em;font-size:0.9em}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}
table.kv td{text-align:left}
img{max-width:100%;border:1px solid #ddd;margin:0.3em 0}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:0.4em 0.8em;margin:0.4em 0}
code{background:#f4f4f4;padding:0 3px}
.good{color:#0a7d2c}.bad{color:#b00020}
"""


def write_html(summary: dict, rows: list[dict], path: Path) -> None:
    """``index.html``: settings, notes, table of means, plots, grids, provenance, links."""
    esc = html.escape
    s = summary["settings"]
    files = summary["files"]
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>irsrgan evaluate: "
             f"{esc(str(s['data']))}</title><style>{_CSS}</style></head><body>",
             f"<h1>irsrgan evaluate — x{s['scale']}, "
             f"{esc(str(s['degradation'] or 'paired LR'))}</h1>"]
    kv = [
        ("data", s["data"]), ("images", s["n_images"]), ("scale", s["scale"]),
        ("LR", f"paired LR folder {s['paired_lr']}" if s["paired_lr"]
         else f"degradation preset {s['degradation']}, seed {s['seed']}"),
        ("max size", f"{s['max_size']} px a side" if s["max_size"] else "whole frames"),
        ("limit", s["limit"] if s["limit"] else "none: every image"),
        ("border cropped", f"{s['crop_border']} px"), ("device", s["device"]),
        ("tile", f"{s['tile']} px" if s["tile"] else
         "none: whole images" if s["tile"] == 0 else "chosen from free memory"),
        ("backend", s["backend"] or "none: bicubic only"),
        ("self-ensemble", "8 flips/rotations" if s.get("ensemble") else "off"),
        ("metrics", s["convention"]),
        ("elapsed", f"{summary['elapsed_s']:.1f} s"),
    ]
    parts.append("<h2>Settings</h2>" + _table(
        ["setting", "value"], [[esc(k), esc(str(v))] for k, v in kv], "kv"))
    if summary["notes"]:
        parts.append("<h2>Notes</h2>" + "".join(
            f"<div class='note'>{esc(n)}</div>" for n in summary["notes"]))

    means = summary["means"]
    cols = [(k, h, f) for k, h, f in TABLE_COLUMNS
            if any(means[m].get(k) is not None for m in means)]
    body = []
    for label, entry in means.items():
        row = [esc(label)]
        for k, _, f in cols:
            v = entry.get(k)
            cell = _fmt(v, f) if v is not None else "-"
            if k in ("psnr_gain", "ssim_gain") and v is not None and label != BICUBIC:
                cell = f"<span class='{'good' if v > 0 else 'bad'}'>{cell}</span>"
            row.append(cell)
        body.append(row)
    parts.append(
        f"<h2>Means over {s['n_images']} images</h2>"
        "<p>Gains are over bicubic upscaling of the same LR (per image, then averaged); "
        "<i>beats bicubic</i> is the share of images where the PSNR gain is positive.</p>"
        + _table(["method"] + [h for _, h, _ in cols], body)
    )
    parts.append("<h2>Distributions</h2>")
    for key in ("psnr_box", "ssim_box"):
        if key in files:
            parts.append(f"<img src='{esc(files[key])}' alt='{key}'>")
    if "perception_distortion" in files:
        sw = summary["sweep"]
        parts.append(
            f"<h2>Network interpolation sweep</h2><p>α = 0: {esc(sw['a'])}, α = 1: "
            f"{esc(sw['b'])}.</p><img src='{esc(files['perception_distortion'])}' "
            "alt='perception-distortion'>"
        )
        sweep_rows = []
        for p in sw["points"]:
            e = means[p["method"]]
            sweep_rows.append([_fmt(p["alpha"], "{:g}"), esc(p["method"]),
                               _fmt(e.get("psnr"), "{:.3f}"), _fmt(e.get("ssim"), "{:.4f}"),
                               _fmt(e.get("hf_ratio"), "{:.3f}"),
                               _fmt(e.get("lpips_i"), "{:.3f}")])
        parts.append(_table(["α", "method", "PSNR dB", "SSIM", "HF ratio", "LPIPS-I"],
                            sweep_rows))
    if files.get("grids"):
        parts.append(
            "<h2>Comparison grids</h2><p>Top: whole images (red box: the crop). Bottom: the "
            "region of highest HR detail (maximum local Laplacian energy), zoomed with nearest "
            "neighbour. Labels: <b>crop</b> = computed on the crop shown, <b>whole</b> = on the "
            "whole image.</p>")
        for g in files["grids"]:
            parts.append(f"<h3>{esc(g['image'])}</h3><img src='{esc(g['file'])}' "
                         f"alt='grid {esc(g['image'])}'>")
    prov_rows = []
    for label, info in summary["methods"].items():
        prov = {k: v for k, v in info.items() if k not in ("kind", "alpha")}
        prov_rows.append([esc(label), esc(info["kind"]), _describe_html(prov)])
    parts.append("<h2>Methods and provenance</h2>" + _table(
        ["method", "kind", "provenance"], prov_rows, "kv"))
    labels = list(means)
    images = list(dict.fromkeys(r["image"] for r in rows))
    by = {(r["image"], r["method"]): r for r in rows}
    pivot = [[esc(im)] + [_fmt(by.get((im, m), {}).get("psnr"), "{:.2f}") for m in labels]
             for im in images]
    parts.append("<details><summary>PSNR per image (dB)</summary>"
                 + _table(["image"] + labels, pivot) + "</details>")
    parts.append(f"<p>Data: <a href='{esc(files['per_image'])}'>per-image values (CSV)</a>, "
                 f"<a href='{esc(files['summary'])}'>summary (JSON)</a>.</p></body></html>")
    atomic_write_bytes(path, "\n".join(parts).encode("utf-8"))


def _describe(value: Any) -> str:
    """A provenance value as short text: ``key = value`` pairs, nested ones in parentheses;
    what is not known (``None``) left out."""
    if isinstance(value, dict):
        return ", ".join(f"{k} = {_describe(v)}" if not isinstance(v, dict) else
                         f"{k} ({_describe(v)})" for k, v in value.items() if v is not None)
    if isinstance(value, (list, tuple)):
        return ", ".join(_describe(v) for v in value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _describe_html(prov: dict) -> str:
    """One line per known provenance entry (``None`` left out), ``-`` when none is known."""
    lines = [f"<b>{html.escape(str(k))}</b>: {html.escape(_describe(v))}"
             for k, v in prov.items() if v is not None and v != {}]
    return "<br>".join(lines) or "-"


def write_report(summary: dict, rows: list[dict], out: Path) -> dict:
    """Write the CSV, the plots, ``summary.json`` and ``index.html`` under ``out``;
    ``summary["files"]`` gets their names relative to ``out``."""
    files = summary.setdefault("files", {})
    files["per_image"] = "per_image.csv"
    files["summary"] = "summary.json"
    write_csv(rows, out / files["per_image"])
    labels = list(summary["means"])
    files["psnr_box"] = "psnr_box.png"
    plot_boxes(rows, labels, "psnr", out / files["psnr_box"], " (dB)")
    files["ssim_box"] = "ssim_box.png"
    plot_boxes(rows, labels, "ssim", out / files["ssim_box"], "")
    if summary.get("sweep"):
        sw = summary["sweep"]
        points = ([{"alpha": 0.0, "method": sw["a"]}] if 0.0 not in
                  [p["alpha"] for p in sw["points"]] else [])
        points += sw["points"]
        if 1.0 not in [p["alpha"] for p in sw["points"]]:
            points.append({"alpha": 1.0, "method": sw["b"]})
        points.sort(key=lambda p: p["alpha"])
        sw["points"] = points
        files["perception_distortion"] = "perception_distortion.png"
        plot_perception_distortion(points, summary["means"], out / files["perception_distortion"],
                                   ends=(sw["a"], sw["b"]))
    safe = _json_safe(summary)
    atomic_write_bytes(out / files["summary"],
                       (json.dumps(safe, indent=2, allow_nan=False) + "\n").encode())
    write_html(safe, rows, out / "index.html")
    return safe


# --------------------------------------------------------------------------- evaluate
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


def _is_clip(data: Path) -> bool:
    """A video, TIFF stack or FLIR SEQ/CSQ file (frame folders are folders of images here)."""
    if not data.is_file():
        return False
    from ..sequences import sniff_sequence

    return sniff_sequence(data) not in (None, "folder")


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "image"


def _grid_indices(n: int, k: int) -> list[int]:
    if k <= 0 or n == 0:
        return []
    if k >= n:
        return list(range(n))
    if k == 1:
        return [0]
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def _consistency_variants(methods: list[Method]) -> list[Method]:
    """A ``+consistency`` twin of every method (its provenance names the method)."""
    return [Method(f"{m.label}+consistency", "model" if m.kind == "model" else "interpolated",
                   alpha=m.alpha, provenance={"consistency_of": m.label}) for m in methods]


def _consistent(sr: torch.Tensor, lr: torch.Tensor, scale: int) -> torch.Tensor:
    """``sr`` (1, 1, H, W), model space, with every s x s block's mean equal to ``lr``."""
    from ..consistency import project_block_mean

    x = project_block_mean(sr[0, 0].double().numpy(), lr[0, 0].double().numpy(), scale,
                           low=0.0, high=1.0)
    return torch.from_numpy(x).float()[None, None]


def evaluate(
    models: Sequence[ModelSpec],
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    scale: int | None = None,
    degradation: str | os.PathLike | Preset = "bicubic",
    seed: int = 0,
    limit: int | None = None,
    max_size: int | None = None,
    paired_lr: str | os.PathLike | None = None,
    model_b: ModelSpec | None = None,
    sweep_alphas: Sequence[float] = (),
    lpips: LpipsOption = "auto",
    lpips_weights: str | os.PathLike | None = None,
    backbone_weights: str | os.PathLike | None = None,
    device: str | torch.device | None = "auto",
    tile: int | None = None,
    backend: BackendName = "auto",
    ensemble: bool = False,
    consistency: bool = False,
    denoise: Sequence[Strength] = (),
    robust: ModelSpec | None = None,
    grid: int = 3,
    progress: bool = False,
    temporal: float = 0.0,
) -> dict:
    """Score bicubic and every model on a folder of HR images and write the report to ``out``.

    Args:
        models: model files (any format :func:`~irsrgan.checkpoint.load_model` reads), bundled
            names or generator modules; each is labelled by its file stem or name.
        data: folder of HR images (searched recursively) or one image.
        out: report folder (created; files in it are overwritten).
        scale: the SR factor; default the models' (all must agree).
        degradation: preset making the LR (name, YAML path or :class:`Preset`); not used with
            ``paired_lr``.
        seed: the LR of each image uses ``file_generator(seed, name)``
            (:func:`irsrgan.data.file_generator`).
        limit: only the first ``limit`` images (sorted by path).
        max_size: centre-crop HR to at most this many pixels a side (a multiple of ``scale``).
        paired_lr: folder of LR images matched to HR by relative name without suffix.
        model_b, sweep_alphas: also score ``interpolate_models(models[0], model_b, alpha)`` at
            each alpha (0 = ``models[0]``, 1 = ``model_b``), and ``model_b`` itself.
        lpips: ``"auto"`` (LPIPS-vgg when its weights are available offline, else left out
            with a note), ``"off"``, or an LPIPS module / ``(sr, hr) -> (B,)`` callable.
        lpips_weights, backbone_weights: explicit LPIPS linear / VGG16 weight files (then a
            missing file is an error).
        device, tile, backend, ensemble: passed to every
            :class:`~irsrgan.inference.Upscaler`.
        consistency: also score every method corrected for measurement consistency
            (:func:`~irsrgan.consistency.project_block_mean` in model space, clipped to
            [0, 1]), labelled ``METHOD+consistency``.
        denoise, robust: also score the first model's denoise pair at these strengths
            (``"auto"`` or numbers in [0, 1]; :class:`~irsrgan.denoise.DenoiseUpscaler`), the
            robust end being ``robust`` or the partner the first model's file names; the
            strength each image used is in ``per_image.csv``.
        grid: number of images with a comparison grid (spread evenly over the set).
        progress: show a tqdm progress bar over images.
        temporal: for a clip, every model's frames go through
            :class:`~irsrgan.sequences.temporal.TemporalBlend` of this strength (0: off).

    Returns:
        The summary written to ``summary.json`` (non-finite numbers as ``None``).

    Raises:
        ConfigError, ImageError, CheckpointError, WeightsMissingError: with what was wrong.
    """
    t_start = time.perf_counter()
    data, out = Path(data), Path(out)
    paired = Path(paired_lr) if paired_lr is not None else None
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"seed (--seed) must be an integer, got {seed!r}")
    if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, int)
                                 or max_size < 1):
        raise ConfigError(f"max_size (--max-size) must be a positive integer, got {max_size!r}")
    if isinstance(grid, bool) or not isinstance(grid, int) or grid < 0:
        raise ConfigError(f"grid (--grid) must be an integer >= 0, got {grid!r}")
    clip = _is_clip(data)
    if clip and paired is not None:
        raise ConfigError("paired_lr (--paired-lr) is for folders of images, not for a clip")
    pairs = [] if clip else find_pairs(data, paired, limit)
    preset = None if paired is not None else get_preset(degradation)
    methods, scale, sweep = build_methods(
        models, scale=scale, model_b=model_b, sweep_alphas=sweep_alphas, device=device,
        tile=tile, backend=backend, ensemble=ensemble, denoise=denoise, robust=robust)
    methods = methods + (_consistency_variants(methods) if consistency else [])
    if max_size is not None and max_size < scale:
        raise ConfigError(f"max_size (--max-size) must be at least the scale {scale}, "
                          f"got {max_size}")
    notes: list[str] = []
    dev = methods[1].upscaler.device if len(methods) > 1 else torch.device("cpu")
    lpips_fn = _build_lpips(lpips, lpips_weights, backbone_weights, dev, notes)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise IrsrganError(f"out (--out) {out}: cannot create the folder: {exc}") from None

    from tqdm.auto import tqdm

    blends: dict = {}
    if clip:
        from ..sequences.evaluate import clip_items

        names, items = clip_items(data, limit, scale=scale, preset=preset, seed=seed,
                                  max_size=max_size)
        sources = ((item, None) for item in items)
        meters = {m.label: metrics.FlickerMeter() for m in methods}
        meters[HR_FLICKER] = metrics.FlickerMeter()
        if temporal:
            from ..sequences.temporal import TemporalBlend

            blends = {m.label: TemporalBlend(temporal) for m in methods if m.upscaler}
    else:
        names = [_rel_name(p, data) for p, _ in pairs]
        sources = ((load_item(index, hr_path, data, scale=scale, preset=preset, seed=seed,
                              max_size=max_size, lr_path=lr_path), lr_path)
                   for index, (hr_path, lr_path) in enumerate(pairs))
        meters = {}
    if temporal and not clip:
        raise ConfigError("temporal (--temporal) needs a clip as data (--data)")
    grid_at = set(_grid_indices(len(names), grid))
    rows: list[dict] = []
    grids: list[dict] = []
    dtypes: set[str] = set()
    for index, (item, lr_path) in enumerate(
        tqdm(sources, total=len(names), desc="evaluate", unit="img", disable=not progress)
    ):
        notes.extend(item.notes)
        dtypes.add(str(item.dtype))
        srs: dict[str, torch.Tensor] = {}
        took: dict[str, float] = {}
        for m in methods:
            t0 = time.perf_counter()
            base = m.provenance.get("consistency_of")
            if base is not None:  # the method's output, made consistent: its time plus this
                srs[m.label] = _consistent(srs[base], item.lr, scale)
                m.seconds += time.perf_counter() - t0 + took[base]
                continue
            if m.upscaler is None:
                sr = F.interpolate(item.lr, size=tuple(item.hr.shape[-2:]), mode="bicubic",
                                   align_corners=False)
            else:
                sr = m.upscaler.upscale(item.lr)
                if m.label in blends:
                    sr = blends[m.label](item.lr, sr)
            srs[m.label] = sr.float().cpu().clamp(0.0, 1.0)
            took[m.label] = time.perf_counter() - t0
            m.seconds += took[m.label]
            if srs[m.label].shape != item.hr.shape:
                raise ImageError(
                    f"{m.label} gave {tuple(srs[m.label].shape)} for {item.name}, expected "
                    f"{tuple(item.hr.shape)}"
                )
        for label, meter in meters.items():
            meter.update((item.hr if label is HR_FLICKER else srs[label])[0], item.lr[0])
        scores = score_image(item, srs, border=scale, lpips_fn=lpips_fn)
        for m in methods:
            if m.kind == "denoise":
                scores[m.label]["strength"] = m.upscaler.last_strength
                if f"{m.label}+consistency" in scores:
                    scores[f"{m.label}+consistency"]["strength"] = m.upscaler.last_strength
        for label, values in scores.items():
            rows.append({"image": item.name, "method": label, **values})
        if index in grid_at:
            rel = f"grids/grid_{index:03d}_{_safe_name(Path(item.name).stem)}.png"
            info = draw_grid(item, srs, scores, out / rel, border=scale, lpips_fn=lpips_fn,
                             title=f"{item.name} — x{scale}, "
                             + (f"paired LR {lr_path.name}" if lr_path else
                                f"{preset.name} (seed {seed})"))
            grids.append({"image": item.name, "file": rel, **info})

    means, model_summary = summarise(rows, methods, len(names))
    hr_flicker = meters.pop(HR_FLICKER).result() if meters else None
    for label, meter in meters.items():
        fl = meter.result()
        means[label].update(flicker=fl.flicker, flicker_ratio=fl.ratio,
                            static_fraction=fl.static_fraction)
    if meters:
        notes.append(
            "flicker: RMS change between consecutive SR frames on pixels where the LR does "
            "not move (model space); flicker ×bicubic divides it by the same for bicubic "
            "(1 = as steady as bicubic; irsrgan.metrics.FlickerMeter). Each frame's LR is "
            "degraded with its own seed (the clip's name and frame index), as independent "
            "sensor noise. The HR "
            f"frames themselves score {hr_flicker.ratio:.3f} x bicubic on the same pixels.")
    if any(np.dtype(d) != np.uint8 for d in dtypes):
        notes.append(
            "MAE/RMSE/bias are in native units (raw counts or degrees) of the 16-bit/float "
            "images; PSNR/SSIM of 16-bit images use the full 16-bit range (the protocol), so "
            "they run high on data that spans a small part of it: compare gains, not levels."
        )
    if lpips_fn is not None and not any("lpips" in r for r in rows):
        notes.append("LPIPS left out: images are smaller than the backbone needs after the "
                     "border crop.")
    if any(not _finite(r.get("psnr")) for r in rows):
        notes.append("means leave out non-finite values (inf PSNR: identical images; nan: "
                     "undefined, e.g. LPIPS-I where Var(Laplacian(SR)) <= 1)")
    settings = {
        "data": str(data.resolve()),
        "scale": scale,
        "degradation": preset.name if preset is not None else None,
        "degradation_config": preset.config if preset is not None else None,
        "paired_lr": str(paired.resolve()) if paired is not None else None,
        "seed": seed,
        "n_images": len(names),
        "images": names,
        "limit": limit,
        "max_size": max_size,
        "crop_border": scale,
        "device": str(dev),
        "tile": tile,
        "ensemble": ensemble,
        "consistency": consistency,
        "temporal": temporal if clip else None,
        "backend": ", ".join(sorted({m.upscaler.backend for m in methods if m.upscaler}))
        or None,
        "lpips": (("LPIPS-vgg v0.1" if getattr(lpips_fn, "calibrated", True)
                   else "uncalibrated (lin=False)") if lpips_fn is not None else None),
        "convention": "gray; PSNR/SSIM data range 1 on the bit depth's scale (uint8 /255, "
        "uint16 /65535, float: HR min..max), SSIM gaussian 11x11 sigma 1.5, border = scale; "
        "SR clamped to [0, 1] in model space",
        "lr_seed_rule": "file_generator(seed, name)",
    }
    summary = {
        "settings": settings,
        "methods": {m.label: {"kind": m.kind, "alpha": m.alpha, **m.provenance}
                    for m in methods},
        "means": means,
        "models": model_summary,
        "sweep": sweep,
        "notes": list(dict.fromkeys(notes)),
        "files": {"grids": grids},
        "hr_flicker": hr_flicker._asdict() if hr_flicker is not None else None,
        "elapsed_s": time.perf_counter() - t_start,
    }
    return write_report(summary, rows, out)


def _set_name(path: Path) -> str:
    """A validation set's short name: its folder (``hit-uav/val`` -> ``val``)."""
    return path.name if path.is_dir() else path.stem


def evaluate_sets(
    models: Sequence[ModelSpec],
    sets: Mapping[str, str | os.PathLike] | Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    degradations: Sequence[str | os.PathLike] = ("bicubic",),
    **kwargs: Any,
) -> dict:
    """:func:`evaluate` on every set under every degradation (protocol), each into
    ``out/<set>-<protocol>/``, and one table of them all: ``out/sets.json`` and
    ``out/sets.md`` (per set, protocol and method: PSNR, gains over bicubic, share of images
    better than bicubic).

    Args:
        sets: ``{name: folder}``, or folders (named by :func:`_set_name`).
        degradations: preset names or YAML files, one protocol each.
        kwargs: the rest of :func:`evaluate`'s options, the same for every run.
    """
    out = Path(out)
    if not isinstance(sets, Mapping):
        named: dict[str, str | os.PathLike] = {}
        for p in sets:
            named[_unique(_set_name(Path(p)), set(named), str(p))] = p
        sets = named
    if not sets:
        raise ConfigError("evaluate_sets: give at least one data set")
    rows = []
    for set_name, folder in sets.items():
        for deg in degradations:
            protocol = get_preset(deg).name
            summary = evaluate(models, folder, out / _safe_name(f"{set_name}-{protocol}"),
                               degradation=deg, **kwargs)
            for label, entry in summary["means"].items():
                model = summary["models"].get(label, {})
                rows.append({
                    "set": set_name, "protocol": protocol, "method": label,
                    "n_images": summary["settings"]["n_images"], "psnr": entry.get("psnr"),
                    "psnr_gain": model.get("psnr_gain"), "ssim_gain": model.get("ssim_gain"),
                    "beats_bicubic": model.get("beats_bicubic_psnr"),
                    "strength": entry.get("strength"),
                })
    table = {"sets": {k: str(v) for k, v in sets.items()},
             "protocols": [get_preset(d).name for d in degradations], "rows": rows}
    atomic_write_bytes(out / "sets.json", json.dumps(_json_safe(table), indent=1).encode())
    atomic_write_bytes(out / "sets.md", (sets_table_markdown(rows) + "\n").encode())
    return table


def sets_table_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """The per-set, per-protocol table as Markdown (gains over bicubic of the same LR)."""
    lines = ["| set | protocol | method | images | PSNR dB | ΔPSNR dB | ΔSSIM | beats bicubic |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["method"] == BICUBIC:
            continue
        lines.append(
            f"| {r['set']} | {r['protocol']} | {r['method']} | {r['n_images']} | "
            f"{_fmt(r['psnr'], '{:.2f}')} | {_fmt(r['psnr_gain'], '{:+.2f}')} | "
            f"{_fmt(r['ssim_gain'], '{:+.4f}')} | {_fmt(r['beats_bicubic'], '{:.0%}')} |")
    return "\n".join(lines)


__all__ = [
    "EvalItem", "Method", "build_methods", "detail_crop", "draw_grid", "evaluate",
    "evaluate_sets", "find_pairs", "sets_table_markdown",
    "load_item", "parse_alpha_list", "plot_boxes", "plot_perception_distortion", "score_image",
    "summarise", "write_csv", "write_html", "write_report",
]
