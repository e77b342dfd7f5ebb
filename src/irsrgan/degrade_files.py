"""Degrade image files: an LR copy of each HR file in its own format and bit depth.

:func:`degrade_image` degrades one :class:`~irsrgan.image.Image` (16-bit stays in raw counts, an
alpha channel is resized, not degraded, non-finite pixels stay non-finite);
:func:`degrade_files` runs it over a file or folder through the batch engine of
:mod:`irsrgan.batch` (relative names mirrored, atomic writes, existing outputs skipped unless
``overwrite``, a bad file reported and the rest processed); :func:`preview_grid` shows one image
under several draws. ``irsrgan degrade`` is the command line over these.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from .batch import BatchResult, make_output_folder, output_folder, plan_jobs, run_batch
from .data import file_generator, item_generator, load_frame
from .degradations import Preset, degrade, resize
from .errors import ImageError
from .image import Image, from_tensor, to_tensor


def degrade_image(
    image: Image, scale: int, preset: str | Path | Preset, generator: torch.Generator
) -> Image:
    """Degrade one image to ``(H // scale, W // scale)`` in its own format and bit depth.

    The pixels go through :func:`irsrgan.image.to_tensor`'s map and back through its exact
    inverse, so a 16-bit radiometric frame stays in raw counts. An alpha channel is resized
    cleanly (antialiased bicubic), not degraded. Non-finite pixels of a float image stay
    non-finite where any fell in the LR pixel's footprint: +Inf or -Inf when that is all the
    footprint held, NaN otherwise.
    """
    h, w = image.height, image.width
    if h // scale < 1 or w // scale < 1:
        raise ImageError(f"{w}x{h} is smaller than the scale {scale}")
    clean = image
    chans = None
    if image.dtype.kind == "f":
        finite = np.isfinite(image.pixels)
        if not finite.all():
            chans = image.channels()
            fill = float(image.pixels[finite].mean()) if finite.any() else 0.0
            clean = replace(image, pixels=np.where(finite, image.pixels, fill))
    x, vmap = to_tensor(clean)
    has_alpha = image.layout in ("rgba", "gray-alpha")
    body = x[:, :-1] if has_alpha else x
    lr = degrade(body.contiguous(), scale, preset, generator)
    if has_alpha:
        alpha = resize(x[:, -1:], lr.shape[-2:], "bicubic_aa")
        lr = torch.cat([lr, alpha], dim=1)
    out = from_tensor(lr, clean, vmap)
    if chans is not None:
        size = lr.shape[-2:]

        def pooled(mask: np.ndarray) -> np.ndarray:  # any in the footprint, (h, w, C)
            m = torch.from_numpy(mask.astype(np.float32))[None]
            m = m[..., : size[0] * scale, : size[1] * scale]
            return np.moveaxis(F.adaptive_max_pool2d(m, size)[0].numpy() > 0, 0, -1)

        nan, pos, neg = pooled(np.isnan(chans)), pooled(chans == np.inf), pooled(chans == -np.inf)
        value = np.where(nan | (pos & neg), np.nan, np.where(pos, np.inf, -np.inf))
        where = nan | pos | neg
        px = out.pixels.copy()
        if px.ndim == 2:
            where, value = where[..., 0], value[..., 0]
        elif where.shape != px.shape:  # gray stored as RGB: one channel, written three times
            where, value = (np.broadcast_to(a, px.shape) for a in (where, value))
        px[where] = value[where]
        out = replace(out, pixels=px)
    return out


# bytes per HR pixel a degradation needs at its peak (float32 copies through the preset's
# steps, 4 channels at most; docs/LIMITS.md)
DEGRADE_BYTES_PER_PIXEL = 128


def preview_grid(
    source: Path, scale: int, preset: Preset, seed: int, draws: int = 7,
    max_size: int = 256, max_pixels: int | None = None,
) -> np.ndarray:
    """An 8-bit gray grid: the HR (centre crop of ``source``, at most ``max_size``) then
    ``draws`` LRs (nearest-upscaled to the HR size), labelled, four to a row."""
    frame = load_frame(source, channels=1, max_pixels=max_pixels)
    h, w = frame.size
    m = max(scale, max_size - max_size % scale)
    ch, cw = min(h - h % scale, m), min(w - w % scale, m)
    if ch < scale or cw < scale:
        raise ImageError(f"{source}: {w}x{h} is smaller than the scale {scale}")
    hr = frame.unit((h - ch) // 2, (w - cw) // 2, ch, cw)[None]
    tiles = [hr[0, 0].numpy()]
    labels = ["HR"]
    for i in range(draws):
        lr = degrade(hr, scale, preset, item_generator(seed, i, 0))
        up = F.interpolate(lr, size=(ch, cw), mode="nearest")
        tiles.append(up[0, 0].numpy())
        labels.append(f"draw {i + 1}")
    cols = min(4, len(tiles))
    rows = -(-len(tiles) // cols)
    gap = 4
    grid = np.full((rows * (ch + gap) - gap, cols * (cw + gap) - gap), 255, np.uint8)
    for k, (tile, label) in enumerate(zip(tiles, labels, strict=True)):
        r, c = divmod(k, cols)
        t8 = (np.clip(tile, 0, 1) * 255 + 0.5).astype(np.uint8)
        t8 = np.ascontiguousarray(t8)
        cv2.putText(t8, label, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35, 255, 2, cv2.LINE_AA)
        cv2.putText(t8, label, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35, 0, 1, cv2.LINE_AA)
        grid[r * (ch + gap): r * (ch + gap) + ch, c * (cw + gap): c * (cw + gap) + cw] = t8
    return grid


def degrade_files(
    inp: Path, out: Path, scale: int, preset: Preset, *, seed: int = 0,
    overwrite: bool = False, flir_raw: bool = False, max_pixels: int | None = None,
    jpeg_quality: int = 100,
) -> BatchResult:
    """Degrade an image file or a folder of them (recursively) into ``out``.

    Each file's draws come from ``(seed, file name)`` (:func:`~irsrgan.data.file_generator`),
    so a file gets the same LR whichever folder it is degraded in. Returns the batch's result
    (done, skipped, failed); failures do not raise.
    """
    jobs = plan_jobs([inp], out, flir_raw=flir_raw)
    make_output_folder(output_folder(jobs, out))
    return run_batch(
        jobs,
        lambda image, job: degrade_image(image, scale, preset, file_generator(seed, job.name)),
        overwrite=overwrite, progress=False, jpeg_quality=jpeg_quality, flir_raw=flir_raw,
        max_pixels=max_pixels,
    )
