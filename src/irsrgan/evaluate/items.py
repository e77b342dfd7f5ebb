"""Evaluation items: an HR image and its LR in model space, with the maps scoring needs.

The HR is read as gray (colour: BT.601 luma), cropped to a multiple of the scale (and to
``max_size``); its LR is a paired file or the HR degraded with a seeded preset
(:func:`irsrgan.data.file_generator` ``(seed, name)``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .. import metrics
from ..data import crop_window, file_generator
from ..degradations import Preset, degrade
from ..errors import ConfigError, ImageError
from ..image import (
    BT601_LUMA,
    Image,
    ValueMap,
    bit_depth_map,
    list_images,
    read_image,
    value_map_for,
)

#: BT.601 luma, as :func:`irsrgan.image.gray_unit` converts colour.
LUMA = BT601_LUMA


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
