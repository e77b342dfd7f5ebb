"""Tiled, seam-free upscaling of an array with any forward function, in NumPy.

``reflect-pad -> overlapping tiles -> forward (batched) -> feathered blend -> crop``.

The image is cut into ``n`` near-equal *cores*; each tile is its core plus ``overlap`` LR
pixels of context on every side (reflect padding supplies it at image borders, in tiled and
untiled mode alike). Outputs are blended with separable linear ramps of width ``overlap``
centred on each core boundary; the ramps of neighbouring tiles sum to exactly one, so no weight
map has to be accumulated and divided. Each tile's output is used only at least ``overlap / 2``
pixels away from its edge, so tiled output equals untiled output whenever ``overlap / 2`` covers
the model's receptive radius (and is very close otherwise: no seams).

The output arrives as bands of finished rows, top to bottom, so a caller can write it without
ever holding it (memory bounded by a row of tiles).

This module needs only NumPy: :class:`~irsrgan.inference.Upscaler` runs PyTorch (or an ONNX
engine) through it, and :class:`~irsrgan.onnx_upscaler.OnnxUpscaler` runs an exported model
without importing PyTorch at all.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from .errors import ConfigError, ImageError

CPU_TILE = 256  # LR tile side on CPU: activations near the caches (benchmarks/upscale_speed.py)
MAX_OVERLAP = 256  # LR pixels of context; far beyond any model's receptive radius
Forward = Callable[[np.ndarray], np.ndarray]  # (B, C, h, w) float32 -> (B, C', h*s, w*s)
ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class Layout:
    """What the tiler needs of a model: scale, channels in and out, and the multiple its
    input sides must be (inputs are padded up to it)."""

    scale: int
    in_channels: int
    out_channels: int
    multiple: int = 1


@dataclass(frozen=True)
class AxisTile:
    start: int  # in padded LR coordinates
    stop: int
    weight: np.ndarray  # blend weights over the unpadded output (HR), float32
    offset: int  # HR position of the tile's first output row relative to the output


def minimum_tile(overlap: int) -> int:
    """Smallest tile whose cores stay wider than the blend band."""
    return max(16, 4 * overlap + 8)


def check_overlap(overlap: int) -> None:
    if overlap < 0:
        raise ConfigError(f"overlap must be >= 0, got {overlap}")
    if overlap > MAX_OVERLAP:  # every side is padded by it: 1000 turns 16x16 into 2016x2016
        raise ConfigError(f"overlap must be <= {MAX_OVERLAP} LR pixels, got {overlap}")


def _boundaries(length: int, cores: int, multiple: int) -> list[int]:
    """Core boundaries ``0 = b_0 < ... < b_n = length`` of near-equal cores."""
    return [round(i * length / cores / multiple) * multiple for i in range(cores)] + [length]


def _span(weight: np.ndarray) -> tuple[int, int]:
    """The first and one-past-last index where ``weight`` is nonzero."""
    nz = np.flatnonzero(weight)
    return int(nz[0]), int(nz[-1]) + 1


def _ramp(positions: np.ndarray, boundary: float, half: float) -> np.ndarray:
    """0 before ``boundary - half``, 1 after ``boundary + half``, linear between (pixel
    centres); float32."""
    if half <= 0:
        return (positions >= boundary).astype(np.float32)
    ramp = (positions + np.float32(0.5) - np.float32(boundary - half)) / np.float32(2 * half)
    return np.clip(ramp, np.float32(0.0), np.float32(1.0))


def axis_tiles(length: int, padded: int, tile: int, ov: int, s: int, mult: int
               ) -> list[AxisTile]:
    """The tiles along one axis of ``length`` LR pixels (``padded`` after padding)."""
    core = tile - 2 * ov
    n = max(1, math.ceil(length / core))
    bounds = _boundaries(length, n, mult)
    size = math.ceil(length / n / mult) * mult + 2 * ov
    size = min(size + (-size) % mult, padded)
    hr_pos = np.arange(length * s, dtype=np.float32)
    tiles = []
    for i in range(n):
        start = min(bounds[i], padded - size)  # padded coords: orig b_i - ov + ov
        start -= start % mult
        weight = np.ones(length * s, dtype=np.float32)
        if i > 0:
            weight *= _ramp(hr_pos, bounds[i] * s, ov * s / 2)
        if i < n - 1:
            weight *= np.float32(1) - _ramp(hr_pos, bounds[i + 1] * s, ov * s / 2)
        # output row r of this tile sits at HR row (start - ov) * s + r
        tiles.append(AxisTile(start, start + size, weight, (start - ov) * s))
    return tiles


@dataclass(frozen=True)
class Padding:
    """The padded frame of an ``(..., h, w)`` image: ``ov`` pixels of reflected context on
    every side (replicated where the image is too small to reflect), and the bottom and right
    padded further up to ``multiple``. Tiles are cut from the image through :meth:`rows` and
    :meth:`cols`, so the padded image is never made whole."""

    h: int
    w: int
    ov: int
    multiple: int

    @property
    def extra(self) -> tuple[int, int]:
        return (-(self.h + 2 * self.ov)) % self.multiple, (-(self.w + 2 * self.ov)) % self.multiple

    @property
    def shape(self) -> tuple[int, int]:
        eh, ew = self.extra
        return self.h + 2 * self.ov + eh, self.w + 2 * self.ov + ew

    @property
    def reflect(self) -> bool:
        eh, ew = self.extra
        return self.ov + ew < self.w and self.ov + eh < self.h

    def _index(self, start: int, stop: int, length: int) -> np.ndarray:
        idx = np.arange(start, stop) - self.ov
        if self.reflect:  # as numpy's "reflect" and torch's: the edge pixel is not repeated
            idx = np.abs(idx)
            return np.where(idx >= length, 2 * (length - 1) - idx, idx)
        return np.clip(idx, 0, length - 1)

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Source rows of padded rows ``start .. stop``."""
        return self._index(start, stop, self.h)

    def cols(self, start: int, stop: int) -> np.ndarray:
        return self._index(start, stop, self.w)

    def cut(self, image: np.ndarray, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """Padded rows ``y0 .. y1`` and columns ``x0 .. x1`` of ``image`` ``(C, h, w)``."""
        return image[:, self.rows(y0, y1)[:, None], self.cols(x0, x1)[None, :]]


def pad(lr: np.ndarray, ov: int, multiple: int) -> np.ndarray:
    """``lr`` ``(B, C, h, w)`` padded whole, as :class:`Padding` describes (for reference and
    tests: the tiler cuts its tiles from the unpadded image)."""
    frame = Padding(*lr.shape[-2:], ov, multiple)
    ph, pw = frame.shape
    return np.stack([frame.cut(x, 0, ph, 0, pw) for x in lr])


def bands(lr: np.ndarray, forward: Forward, layout: Layout, *, tile: int, overlap: int,
          batch_size: int = 1, progress: ProgressFn | None = None
          ) -> Iterator[tuple[int, np.ndarray]]:
    """``(first HR row, finished rows (B, C', n, W * s))`` of ``lr`` ``(B, C, H, W)``
    upscaled by ``forward``, top to bottom, one row of tiles at a time: only the rows a tile
    row and the next one share are held between them. ``tile`` 0 (or one covering the
    image) runs the whole padded image in one forward."""
    lr = np.asarray(lr, dtype=np.float32)
    b, _, h, w = lr.shape
    s, ov, mult = layout.scale, overlap, layout.multiple
    c_out = layout.out_channels
    frame = Padding(h, w, ov, mult)
    ph, pw = frame.shape
    if tile == 0 or (tile >= ph and tile >= pw):
        tiles_y = [AxisTile(0, ph, np.ones(h * s, np.float32), -ov * s)]
        tiles_x = [AxisTile(0, pw, np.ones(w * s, np.float32), -ov * s)]
    else:
        if tile < minimum_tile(ov):
            raise ConfigError(
                f"tile {tile} too small for overlap {ov}: use at least {minimum_tile(ov)}"
            )
        tiles_y = axis_tiles(h, ph, tile, ov, s, mult)
        tiles_x = axis_tiles(w, pw, tile, ov, s, mult)
    spans_y = [_span(t.weight) for t in tiles_y]
    spans_x = [_span(t.weight) for t in tiles_x]
    done, total = 0, len(tiles_y) * len(tiles_x) * b
    start = 0  # first HR row not yet yielded
    carry = np.zeros((b, c_out, 0, w * s), np.float32)
    for iy, ty in enumerate(tiles_y):
        r0, r1 = spans_y[iy]
        acc = np.zeros((b, c_out, r1 - start, w * s), np.float32)
        acc[:, :, :carry.shape[2]] = carry
        jobs = [(i, ix) for i in range(b) for ix in range(len(tiles_x))]
        for j in range(0, len(jobs), batch_size):
            chunk = jobs[j:j + batch_size]
            batch = np.stack([frame.cut(lr[i], ty.start, ty.stop, tiles_x[ix].start,
                                        tiles_x[ix].stop) for i, ix in chunk])
            sr = forward(batch)
            for k, (i, ix) in enumerate(chunk):
                tx = tiles_x[ix]
                c0, c1 = spans_x[ix]
                part = sr[k, :, r0 - ty.offset:r1 - ty.offset, c0 - tx.offset:c1 - tx.offset]
                weight = ty.weight[r0:r1, None] * tx.weight[None, c0:c1]
                acc[i, :, r0 - start:r1 - start, c0:c1] += part * weight
            done += len(chunk)
            if progress is not None:
                progress(done, total)
        final = spans_y[iy + 1][0] if iy + 1 < len(tiles_y) else h * s
        yield start, acc[:, :, :final - start]
        carry = acc[:, :, final - start:].copy()
        start = final


def channel_bands(lr: np.ndarray, forward: Forward, layout: Layout, *, tile: int,
                  overlap: int, batch_size: int = 1, progress: ProgressFn | None = None
                  ) -> Iterator[tuple[int, np.ndarray]]:
    """:func:`bands` for any number of input channels: a one-channel model upscales colour
    channel by channel; a colour model given gray sees it replicated and its output is
    averaged back to one channel."""
    if lr.ndim != 4:
        raise ImageError(f"lr must be (B, C, H, W), got {tuple(lr.shape)}")
    b, c, h, w = lr.shape
    m_in, m_out = layout.in_channels, layout.out_channels
    run = dict(tile=tile, overlap=overlap, batch_size=batch_size, progress=progress)
    if c == m_in:
        yield from bands(lr, forward, layout, **run)
    elif m_in == 1 and m_out == 1:
        for row, band in bands(lr.reshape(b * c, 1, h, w), forward, layout, **run):
            yield row, band.reshape(b, c, *band.shape[-2:])
    elif c == 1:
        for row, band in bands(np.broadcast_to(lr, (b, m_in, h, w)), forward, layout, **run):
            yield row, band.mean(1, keepdims=True)
    else:
        raise ImageError(
            f"cannot run a {m_in}-channel model on {c}-channel input (shape {tuple(lr.shape)})"
        )


def upscale(lr: np.ndarray, forward: Forward, layout: Layout, *, tile: int, overlap: int,
            batch_size: int = 1, progress: ProgressFn | None = None) -> np.ndarray:
    """:func:`channel_bands` stacked into one ``(B, C, H * s, W * s)`` float32 array."""
    b, _, h, w = lr.shape
    out = None
    for row, band in channel_bands(lr, forward, layout, tile=tile, overlap=overlap,
                                   batch_size=batch_size, progress=progress):
        if out is None:
            out = np.empty((b, band.shape[1], h * layout.scale, w * layout.scale), np.float32)
        out[:, :, row:row + band.shape[2]] = band
    return out
