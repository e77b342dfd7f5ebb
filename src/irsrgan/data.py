"""Datasets for training and validation.

* :class:`HRCropDataset`: random HR crops (flips and 90-degree rotations, never a black border)
  with the LR made on the fly by a degradation preset. Every random choice of item ``i`` in
  epoch ``e`` comes from a generator seeded by ``(seed, e, i)``, so a run gives the same
  batches whatever the number of DataLoader workers. Images are decoded once and kept in
  memory by default (8-bit frames as uint8).
* :class:`PairedFolderDataset`: LR and HR files with the same relative names.
* :class:`ValidationDataset`: full frames (cropped to a multiple of the scale, optionally
  centre-cropped), LR made once by a preset with :func:`file_generator` ``(seed, name)``: the
  same LR every epoch, and the same LR as ``irsrgan degrade`` and ``irsrgan evaluate`` make
  with that seed.

Items are dicts ``{"lr": (C, h, w) float32, "hr": (C, H, W) float32, "name": str}``, ``name``
being the file's path relative to the root folder.

Value range: 8-bit images are ``pixel / 255``; 16-bit and float images use
:func:`irsrgan.image.to_tensor`'s per-image stretch (``range_mode="auto"``). A paired LR is
mapped with its HR's map, so the pair stays on one scale.
"""

from __future__ import annotations

import logging
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .augment import HRAugment, downscale
from .degradations import Preset, degrade, get_preset
from .errors import ConfigError, ImageError
from .image import (
    BT601_LUMA,
    Image,
    ValueMap,
    bit_depth_map,
    list_images,
    read_image,
    to_tensor,
    value_map_for,
)

log = logging.getLogger(__name__)


def item_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """A CPU generator seeded from ``(seed, epoch, index)`` (well mixed, never 0-correlated)."""
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(epoch), int(index)])
    value = int(state.generate_state(2, dtype=np.uint32).view(np.uint64)[0] >> 1)
    return torch.Generator().manual_seed(value)


def file_generator(seed: int, name: str) -> torch.Generator:
    """The generator that degrades the image called ``name`` (its path relative to the folder
    given, or its file name when one file is given), seeded by ``(seed, name)``.

    ``irsrgan degrade``, ``irsrgan evaluate`` and training's validation all use it, so one
    ``--seed`` makes the same LR of a file in all three, and adding, removing or limiting
    files changes nothing for the others.
    """
    return item_generator(seed, zlib.crc32(name.encode("utf-8")), 0)


def _check_int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_channels(channels: object) -> int:
    if channels not in (1, 3):
        raise ConfigError(f"channels must be 1 or 3, got {channels!r}")
    return int(channels)  # type: ignore[arg-type]


def _convert_channels(unit: np.ndarray, channels: int, name: str) -> np.ndarray:
    """``(C, H, W)`` -> ``(channels, H, W)``: colour to BT.601 gray, alpha dropped."""
    c = unit.shape[0]
    if c == channels:
        return unit
    if channels == 1:
        if c >= 3:
            gray = BT601_LUMA[0] * unit[0] + BT601_LUMA[1] * unit[1] + BT601_LUMA[2] * unit[2]
            return gray[None].astype(np.float32)
        if c == 2:  # gray + alpha
            return unit[:1]
    if channels == 3:
        if c in (1, 2):
            return np.repeat(unit[:1], 3, axis=0)
        if c == 4:
            return unit[:3]
    raise ImageError(f"{name}: cannot make {channels} channel(s) from {c}")


@dataclass
class _Frame:
    """A decoded frame: ``pixels`` (C, H, W) uint8 (``/255``) or float32 already in unit range."""

    name: str
    pixels: np.ndarray
    vmap: ValueMap
    scale_map: ValueMap  # the bit depth's map, the scale of PSNR/SSIM (image.bit_depth_map)

    @property
    def size(self) -> tuple[int, int]:
        return int(self.pixels.shape[1]), int(self.pixels.shape[2])

    def unit(self, y0: int = 0, x0: int = 0, h: int | None = None,
             w: int | None = None) -> torch.Tensor:
        h = self.pixels.shape[1] - y0 if h is None else h
        w = self.pixels.shape[2] - x0 if w is None else w
        crop = self.pixels[:, y0:y0 + h, x0:x0 + w]
        if crop.dtype == np.uint8:
            return torch.from_numpy(crop.astype(np.float32) / np.float32(255.0))
        return torch.from_numpy(np.ascontiguousarray(crop, dtype=np.float32))


def _image_to_frame(image: Image, name: str, channels: int) -> _Frame:
    chans = image.channels()
    c = chans.shape[0]
    if image.dtype == np.uint8 and not (channels == 1 and c >= 3):
        # 8-bit without a colour-to-gray conversion stays uint8 (4x less memory)
        if c == 2 or c == 4:
            chans = chans[: c - 1]  # drop alpha
        if chans.shape[0] != channels:
            chans = np.repeat(chans[:1], channels, axis=0)
        vmap = ValueMap(0.0, 255.0)
        return _Frame(name, np.ascontiguousarray(chans), vmap, bit_depth_map(image.dtype, vmap))
    tensor, vmap = to_tensor(image)
    unit = _convert_channels(tensor[0].numpy(), channels, name)
    return _Frame(name, np.ascontiguousarray(unit, dtype=np.float32), vmap,
                  bit_depth_map(image.dtype, vmap))


def load_frame(path: str | os.PathLike, *, channels: int = 1, name: str | None = None,
               max_pixels: int | None = None) -> _Frame:
    """Decode one image for a dataset (see the module docstring for the value range)."""
    path = Path(path)
    return _image_to_frame(read_image(path, max_pixels=max_pixels), name or path.name, channels)


def _rel_name(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix() if root.is_dir() else path.name
    except ValueError:
        return path.name


def _image_size(path: Path) -> tuple[int, int] | None:
    """(H, W) from the file header without decoding the pixels; None if unknown."""
    try:
        from PIL import Image as PILImage

        with PILImage.open(path) as im:
            w, h = im.size
        return int(h), int(w)
    except Exception:
        return None


def _find_images(root: str | os.PathLike, what: str) -> tuple[Path, list[Path]]:
    root = Path(root)
    if not root.exists():
        where = "" if root.is_absolute() else (
            f" (a relative path is taken from the working directory {Path.cwd()}, so this is "
            f"{Path.cwd() / root}; run from the folder it is relative to, or give an absolute "
            "path)")
        raise ConfigError(f"{what} {root} does not exist{where}")
    paths = list_images(root)
    if not paths:
        raise ConfigError(f"{what} {root} holds no PNG, TIFF, JPEG or BMP images")
    return root, paths


def _augment(x: torch.Tensor, code: int) -> torch.Tensor:
    """One of the 8 flips/rotations of a square crop (``code`` in 0..7)."""
    if code & 1:
        x = x.flip(-1)
    k = code >> 1
    return torch.rot90(x, k, dims=(-2, -1)) if k else x


def crop_window(h: int, w: int, scale: int, max_size: int | None) -> tuple[int, int, int, int]:
    """``(y0, x0, h, w)`` of an image cropped to a multiple of ``scale`` and, with ``max_size``,
    centre-cropped to at most that (origin on the scale grid), as validation and evaluation
    score it."""
    hh, ww = h - h % scale, w - w % scale
    y0 = x0 = 0
    if max_size is not None:
        m = max_size - max_size % scale
        if hh > m:
            y0 = ((hh - m) // 2) // scale * scale
            hh = m
        if ww > m:
            x0 = ((ww - m) // 2) // scale * scale
            ww = m
    return y0, x0, hh, ww


class HRCropDataset(Dataset):
    """Random ``patch_size`` HR crops of a folder of images, LR made on the fly by ``preset``.

    Args:
        root: folder of images (searched recursively) or one image file.
        scale: integer SR factor; ``patch_size`` must be a multiple of it.
        patch_size: HR crop side; images smaller than it are skipped (with a warning).
        preset: a degradation preset name, YAML path or :class:`~irsrgan.degradations.Preset`.
        seed: the run's seed; item ``i`` of epoch ``e`` uses ``(seed, e, i)``.
        in_memory: decode every image once at construction (the cheap path); else decode on
            each access.
        channels: 1 (colour converted to gray) or 3.
        augment: random horizontal flip and 90-degree rotation (8 orientations).
        repeat: items per image per epoch.
        hr_augment: scale, tone, polarity and contrast augmentation of the HR crop
            (:class:`~irsrgan.augment.HRAugment` or its config mapping; default off).

    Call :meth:`set_epoch` before each epoch (DataLoader workers get a fresh copy of the
    dataset at every ``iter()``, so this reaches them unless ``persistent_workers=True``).
    """

    def __init__(
        self, root: str | os.PathLike, *, scale: int, patch_size: int,
        preset: str | os.PathLike | Preset, seed: int = 0, in_memory: bool = True,
        channels: int = 1, augment: bool = True, repeat: int = 1,
        hr_augment: HRAugment | dict | None = None,
    ) -> None:
        self.scale = _check_int(scale, "scale", 1)
        self.patch_size = _check_int(patch_size, "patch_size", 1)
        self.hr_augment = (hr_augment if isinstance(hr_augment, HRAugment)
                           else HRAugment.from_config(hr_augment))
        if self.patch_size % self.scale:
            raise ConfigError(
                f"patch_size must be a multiple of scale {self.scale}, got {self.patch_size}"
            )
        self.channels = _check_channels(channels)
        self.repeat = _check_int(repeat, "repeat", 1)
        self.preset = get_preset(preset)
        self.seed = int(seed)
        self.augment = bool(augment)
        self.in_memory = bool(in_memory)
        self.epoch = 0
        self.root, paths = _find_images(root, "training folder")
        self.paths: list[Path] = []
        self.names: list[str] = []
        self.frames: list[_Frame] = []
        skipped = []
        for path in paths:
            name = _rel_name(path, self.root)
            if self.in_memory:
                frame = load_frame(path, channels=self.channels, name=name)
                size = frame.size
            else:
                size = _image_size(path) or load_frame(path, channels=self.channels).size
            if min(size) < self.patch_size:
                skipped.append(f"{name} ({size[1]}x{size[0]})")
                continue
            self.paths.append(path)
            self.names.append(name)
            if self.in_memory:
                self.frames.append(frame)
        if skipped:
            log.warning("skipped %d image(s) smaller than patch_size %d: %s", len(skipped),
                        self.patch_size, ", ".join(skipped[:5]) + (" ..." if len(skipped) > 5
                                                                   else ""))
        if not self.paths:
            raise ConfigError(
                f"no image under {self.root} is at least {self.patch_size}x{self.patch_size}"
            )

    def set_epoch(self, epoch: int) -> None:
        """Draw this epoch's crops and degradations (a different, reproducible set)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.paths) * self.repeat

    def _frame(self, j: int) -> _Frame:
        if self.in_memory:
            return self.frames[j]
        return load_frame(self.paths[j], channels=self.channels, name=self.names[j])

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        j = index % len(self.paths)
        frame = self._frame(j)
        gen = item_generator(self.seed, self.epoch, index)
        hr = self.hr_crop(frame, self.patch_size, gen)
        lr = degrade(hr[None], self.scale, self.preset, gen)[0]
        return {"lr": lr, "hr": hr, "name": frame.name}

    def hr_crop(self, frame: _Frame, size: int, gen: torch.Generator) -> torch.Tensor:
        """A random ``size`` x ``size`` HR crop of ``frame`` (``(C, size, size)``), with the
        scale, orientation and photometric augmentation, drawn from ``gen``."""
        h, w = frame.size
        side = min(int(round(size * self.hr_augment.crop_factor(gen, h, w, size))), h, w)
        y0 = int(torch.randint(0, h - side + 1, (1,), generator=gen))
        x0 = int(torch.randint(0, w - side + 1, (1,), generator=gen))
        hr = downscale(frame.unit(y0, x0, side, side), size)
        if self.augment:
            hr = _augment(hr, int(torch.randint(0, 8, (1,), generator=gen)))
        return self.hr_augment.photometric(hr, gen).contiguous()


class PairedFolderDataset(Dataset):
    """LR/HR pairs matched by relative path without the suffix (``a/b.png`` <-> ``a/b.tif``).

    The HR is cropped to ``LR size * scale`` (an HR whose size is not ``LR * scale`` up to the
    remainder is an error). Both are mapped with the HR's value map. With ``patch_size``,
    items are aligned random crops (seeded by ``(seed, epoch, index)``, optional augment);
    else full frames.
    """

    def __init__(
        self, lr_root: str | os.PathLike, hr_root: str | os.PathLike, *, scale: int,
        channels: int = 1, patch_size: int | None = None, seed: int = 0, augment: bool = False,
    ) -> None:
        self.scale = _check_int(scale, "scale", 1)
        self.channels = _check_channels(channels)
        if patch_size is not None:
            _check_int(patch_size, "patch_size", 1)
            if patch_size % self.scale:
                raise ConfigError(
                    f"patch_size must be a multiple of scale {self.scale}, got {patch_size}"
                )
        self.patch_size = patch_size
        self.seed, self.augment, self.epoch = int(seed), bool(augment), 0
        lr_dir, lr_paths = _find_images(lr_root, "LR folder")
        hr_dir, hr_paths = _find_images(hr_root, "HR folder")
        hr_by_key = {self._key(p, hr_dir): p for p in hr_paths}
        self.pairs: list[tuple[Path, Path, str]] = []
        missing = []
        for lp in lr_paths:
            key = self._key(lp, lr_dir)
            hp = hr_by_key.get(key)
            if hp is None:
                missing.append(_rel_name(lp, lr_dir))
            else:
                self.pairs.append((lp, hp, _rel_name(hp, hr_dir)))
        if missing:
            raise ConfigError(
                f"{len(missing)} LR file(s) have no HR file of the same name under {hr_dir}: "
                + ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
            )

    @staticmethod
    def _key(path: Path, root: Path) -> str:
        rel = path.relative_to(root) if root.is_dir() else Path(path.name)
        return rel.with_suffix("").as_posix()

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        lp, hp, name = self.pairs[index]
        hr_img, lr_img = read_image(hp), read_image(lp)
        hr_t, vmap = to_tensor(hr_img)
        lr_chans = lr_img.channels()
        # same dtype: the HR's map keeps the pair on one scale; else each on its own
        lmap = vmap if lr_img.dtype == hr_img.dtype else value_map_for(lr_chans)
        lr_np = lmap.to_unit(lr_chans)
        if lr_img.dtype.kind == "f":
            lr_np = np.nan_to_num(lr_np, nan=float(np.nanmean(lr_np)) if lr_np.size else 0.0)
        hr_np = _convert_channels(hr_t[0].numpy(), self.channels, str(hp))
        lr_np = _convert_channels(lr_np, self.channels, str(lp))
        h, w = lr_np.shape[1:]
        s = self.scale
        if hr_np.shape[1] // s != h or hr_np.shape[2] // s != w:
            raise ImageError(
                f"{hp} is {hr_np.shape[2]}x{hr_np.shape[1]}, expected {w * s}x{h * s} "
                f"(LR {lp} is {w}x{h}, scale {s})"
            )
        hr = torch.from_numpy(np.ascontiguousarray(hr_np[:, : h * s, : w * s]))
        lr = torch.from_numpy(np.ascontiguousarray(lr_np, dtype=np.float32))
        if self.patch_size is not None:
            ps = self.patch_size // s
            if ps > min(h, w):
                raise ImageError(f"{lp} ({w}x{h}) is smaller than the LR patch {ps}x{ps}")
            gen = item_generator(self.seed, self.epoch, index)
            y0 = int(torch.randint(0, h - ps + 1, (1,), generator=gen))
            x0 = int(torch.randint(0, w - ps + 1, (1,), generator=gen))
            lr = lr[:, y0:y0 + ps, x0:x0 + ps]
            hr = hr[:, y0 * s:(y0 + ps) * s, x0 * s:(x0 + ps) * s]
            if self.augment:
                code = int(torch.randint(0, 8, (1,), generator=gen))
                lr, hr = _augment(lr, code), _augment(hr, code)
        return {"lr": lr.contiguous(), "hr": hr.contiguous(), "name": name}


class ValidationDataset(Dataset):
    """Deterministic validation: full frames, the same LR every epoch.

    Args:
        root: folder of images or one image.
        scale: SR factor; each HR is cropped to a multiple of it (bottom/right remainder).
        preset: how the LR is made (default the clean bicubic downsample).
        seed: the LR of each image uses :func:`file_generator` ``(seed, name)``.
        channels: 1 or 3.
        max_size: if given, frames are centre-cropped to at most ``max_size`` per side
            (rounded down to a multiple of ``scale``).
        limit: use only the first ``limit`` images (sorted by path).

    ``value_maps[i]`` maps item ``i`` back to native pixel values (for radiometric metrics),
    ``scale_maps[i]`` to the scale of its bit depth (where PSNR/SSIM are computed).
    """

    def __init__(
        self, root: str | os.PathLike, *, scale: int, preset: str | os.PathLike | Preset =
        "bicubic", seed: int = 0, channels: int = 1, max_size: int | None = None,
        limit: int | None = None,
    ) -> None:
        self.scale = _check_int(scale, "scale", 1)
        self.channels = _check_channels(channels)
        self.preset = get_preset(preset)
        self.seed = int(seed)
        if max_size is not None:
            _check_int(max_size, "max_size", self.scale)
        if limit is not None:
            _check_int(limit, "limit", 1)
        self.max_size = max_size
        self.root, paths = _find_images(root, "validation folder")
        self.paths = paths[:limit] if limit is not None else paths
        self.frames = [
            load_frame(p, channels=self.channels, name=_rel_name(p, self.root)) for p in self.paths
        ]
        self.value_maps = [f.vmap for f in self.frames]
        self.scale_maps = [f.scale_map for f in self.frames]
        for f in self.frames:
            if min(f.size) < self.scale:
                raise ImageError(f"{f.name} ({f.size[1]}x{f.size[0]}) is smaller than the scale")
        self._lr: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.frames)

    def set_epoch(self, epoch: int) -> None:
        """Accepted for symmetry with the training datasets; validation does not change."""

    def _window(self, h: int, w: int) -> tuple[int, int, int, int]:
        return crop_window(h, w, self.scale, self.max_size)

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        frame = self.frames[index]
        hr = frame.unit(*self._window(*frame.size)).contiguous()
        lr = self._lr.get(index)
        if lr is None:
            gen = file_generator(self.seed, frame.name)
            lr = degrade(hr[None], self.scale, self.preset, gen)[0]
            self._lr[index] = lr
        return {"lr": lr.clone(), "hr": hr, "name": frame.name}


__all__ = [
    "HRCropDataset", "PairedFolderDataset", "ValidationDataset", "file_generator",
    "item_generator", "load_frame",
]
