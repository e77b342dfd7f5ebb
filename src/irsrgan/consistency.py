"""Measurement consistency: make an upscaled image agree with the pixels it was made from.

A thermal detector pixel reports the mean of the radiance (or the temperature, as the camera
maps it) over its area, so an upscaled image ``x`` (factor ``s``) is consistent with the
measurement ``y`` when the mean of every ``s x s`` block of ``x`` equals its pixel of ``y``:
``D(x) = y`` with ``D`` the area downsample. :func:`project_block_mean` corrects the model's
output towards that set in two stages:

1. a few iterative back-projection steps ``x += U(y - D(x))`` with ``U`` a bilinear
   upsampling, which spread the residual smoothly (no block edges) and remove most of it;
2. the closed-form projection ``x += nearest(y - D(x))``, exact in one step (each block's
   remaining mean error is added to its pixels); where the output range clips (for example
   8-bit 0..255), the error is shared among the block's pixels that can still move, and the
   step repeated.

Integer outputs are rounded at the end, so their block means agree with ``y`` within half a
unit; float outputs agree to float rounding. Non-finite input pixels (NaN marks invalid
temperatures, +-Inf saturated ones) leave their block untouched and stay as they are.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace

import cv2
import numpy as np

from .errors import ImageError
from .image import Image
from .streaming import ImageRows

SMOOTH_STEPS = 3
MAX_EXACT_STEPS = 20


def block_mean(x: np.ndarray, scale: int) -> np.ndarray:
    """The mean of every ``scale x scale`` block of ``x`` ``(H, W[, C])`` (H, W multiples of
    ``scale``): the area downsample."""
    h, w = x.shape[:2]
    if h % scale or w % scale:
        raise ImageError(f"image of {w}x{h} is not a multiple of the scale {scale}")
    blocks = x.reshape(h // scale, scale, w // scale, scale, *x.shape[2:])
    return blocks.mean(axis=(1, 3))


def _nearest_up(r: np.ndarray, scale: int) -> np.ndarray:
    return np.repeat(np.repeat(r, scale, axis=0), scale, axis=1)


def _bilinear_up(r: np.ndarray, scale: int) -> np.ndarray:
    h, w = r.shape[:2]
    out = cv2.resize(r.astype(np.float32), (w * scale, h * scale),
                     interpolation=cv2.INTER_LINEAR).astype(np.float64)
    return out.reshape(h * scale, w * scale, *r.shape[2:])


def _as_float_pair(sr: np.ndarray, lr: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """``sr`` (a float64 copy) and ``lr`` as float64, after checking that ``sr`` is ``lr``
    upscaled ``scale`` times (``(H*s, W*s[, C])`` and ``(H, W[, C])``)."""
    if sr.shape[:2] != (lr.shape[0] * scale, lr.shape[1] * scale) or sr.shape[2:] != \
            lr.shape[2:]:
        raise ImageError(f"upscaled image {sr.shape} is not x{scale} of its input {lr.shape}")
    return sr.astype(np.float64, copy=True), lr.astype(np.float64)


def project_block_mean(
    sr: np.ndarray, lr: np.ndarray, scale: int, *, low: float | None = None,
    high: float | None = None, tolerance: float = 1e-6,
) -> np.ndarray:
    """``sr`` (float64 copy) corrected so that ``block_mean(sr, scale) == lr``, clipped to
    ``[low, high]``. ``sr`` is ``(H*s, W*s[, C])``, ``lr`` ``(H, W[, C])``."""
    x, y = _as_float_pair(sr, lr, scale)
    valid = np.isfinite(y)
    y = np.where(valid, y, 0.0)
    clip = low is not None or high is not None

    def residual() -> np.ndarray:
        r = y - block_mean(x, scale)
        r[~valid | ~np.isfinite(r)] = 0.0
        return r

    for _ in range(SMOOTH_STEPS):
        x += _bilinear_up(residual(), scale)
        if clip:
            np.clip(x, low, high, out=x)
    for _ in range(MAX_EXACT_STEPS):
        r = residual()
        if not np.any(np.abs(r) > tolerance):
            break
        if not clip:
            x += _nearest_up(r, scale)
            break
        # only pixels with room to move take the correction, so a partly saturated block
        # still reaches its mean in a step or two
        up = _nearest_up(r, scale)
        free = ((up > 0) & (x < high)) | ((up < 0) & (x > low))
        n_free = block_mean(free.astype(np.float64), scale) * scale * scale
        gain = np.where(n_free > 0, scale * scale / np.maximum(n_free, 1), 0.0)
        x += np.where(free, up * _nearest_up(gain, scale), 0.0)
        np.clip(x, low, high, out=x)
    return x


def consistent_image(sr: Image, lr: Image) -> Image:
    """``sr`` (an upscaled ``lr``, same dtype and layout) with every block's mean equal to
    its pixel of ``lr``: exactly for float, within half a unit for integer dtypes."""
    scale, low, high = _pair(sr.dtype, sr.width, sr.height, lr)
    x = project_block_mean(sr.pixels, lr.pixels, scale, low=low, high=high)
    return replace(sr, pixels=_as_dtype(x, sr.pixels, np.dtype(sr.dtype)))


def _pair(dtype: np.dtype, width: int, height: int, lr: Image
          ) -> tuple[int, float | None, float | None]:
    """The scale of an upscaled ``width x height`` image of ``dtype`` over ``lr``, and the
    dtype's bounds (None for float); refuses a pair that does not match."""
    if dtype != lr.dtype:
        raise ImageError(f"upscaled image is {dtype}, its input {lr.dtype}")
    scale = height // lr.height
    if scale < 1 or height != lr.height * scale or width != lr.width * scale:
        raise ImageError(f"upscaled image of {width}x{height} is not an integer "
                         f"multiple of its input's {lr.width}x{lr.height}")
    if np.dtype(dtype).kind in "ui":
        info = np.iinfo(dtype)
        return scale, float(info.min), float(info.max)
    return scale, None, None


def _as_dtype(x: np.ndarray, orig: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Corrected values ``x`` back in ``dtype``: integers rounded; for float, non-finite
    pixels of ``orig`` (NaN, +-Inf) stay as they were."""
    if dtype.kind in "ui":
        np.rint(x, out=x)
    elif np.issubdtype(dtype, np.floating):
        bad = ~np.isfinite(orig)
        x[bad] = orig[bad]
    return np.ascontiguousarray(x.astype(dtype))


CHUNK_ROWS = 64  # LR rows corrected at a time by consistent_rows and anchored_rows
HALO_ROWS = SMOOTH_STEPS + 2  # LR rows of context above and below a chunk


def consistent_rows(sr: ImageRows, lr: Image) -> ImageRows:
    """:func:`consistent_image` for an output that arrives as bands of rows: corrected
    :data:`CHUNK_ROWS` LR rows at a time, each with :data:`HALO_ROWS` rows of context above
    and below. Each smoothing step reaches one LR row further, so the halo covers everything a
    chunk's rows depend on: the result equals :func:`consistent_image`'s (up to the last
    sub-tolerance step, which the whole image may take where a chunk has already converged)."""
    scale, low, high = _pair(sr.like.dtype, sr.width, sr.height, lr)

    def correct(hr: np.ndarray, lr_rows: np.ndarray) -> np.ndarray:
        return project_block_mean(hr, lr_rows, scale, low=low, high=high)

    return _chunked(sr, lr, scale, HALO_ROWS, correct)


def _chunked(sr: ImageRows, lr: Image, scale: int, halo: int, correct) -> ImageRows:
    """``sr``'s bands corrected :data:`CHUNK_ROWS` LR rows at a time by ``correct(hr, lr)``
    (the HR rows of a run of LR rows, in the output's dtype, and those LR rows; it returns
    float64), each chunk seen with ``halo``
    LR rows of context above and below (clipped at the image's edges), which are dropped
    again. Between chunks only the rows they share are held."""
    dtype = np.dtype(lr.dtype)

    def corrected(hr: np.ndarray, lo: int, a: int, b: int) -> np.ndarray:
        """LR rows ``a..b`` corrected, from HR rows of LR rows ``lo..`` (``hr``)."""
        hi = min(lr.height, b + halo)
        x = correct(hr[:(hi - lo) * scale], lr.pixels[lo:hi])[(a - lo) * scale:(b - lo) * scale]
        return _as_dtype(x, hr[(a - lo) * scale:(b - lo) * scale], dtype)

    def bands() -> Iterator[np.ndarray]:
        held: list[np.ndarray] = []  # HR rows from LR row `lo` on
        lo = a = 0  # first LR row held, first LR row not yet emitted
        count = 0  # HR rows held
        for band in sr.bands:
            held.append(band)
            count += band.shape[0]
            while a < lr.height and count >= (min(lr.height, a + CHUNK_ROWS + halo)
                                              - lo) * scale:
                hr = np.concatenate(held) if len(held) > 1 else held[0]
                b = min(lr.height, a + CHUNK_ROWS)
                yield corrected(hr, lo, a, b)
                a = b
                new_lo = max(0, a - halo)
                held = [hr[(new_lo - lo) * scale:]]
                count -= (new_lo - lo) * scale
                lo = new_lo
        if a < lr.height:
            raise ImageError(f"bands held {count + lo * scale} rows, expected {sr.height}")

    return replace(sr, bands=bands())


# ----------------------------------------------------------------------- level anchoring
#: Level anchoring keeps the residual ``y - D(x)`` only at the scale of this gaussian (in LR
#: pixels), where a pixel's noise is averaged away ...
ANCHOR_SIGMA = 1.0
#: ... and only where it exceeds this many standard deviations of what the LR's pixel noise
#: leaves after that gaussian (a soft threshold: a level error passes, the noise does not).
ANCHOR_THRESHOLD = 2.0
#: LR rows a chunk of :func:`anchored_rows` depends on beyond its own: the gaussian's radius
#: (4 sigma) and the bicubic upsampling's 2 rows, plus one to spare
ANCHOR_HALO_ROWS = int(4 * ANCHOR_SIGMA + 0.5) + 3


def anchor_levels(sr: np.ndarray, lr: np.ndarray, scale: int, noise: float, *,
                  low: float | None = None, high: float | None = None,
                  sigma: float = ANCHOR_SIGMA, threshold: float = ANCHOR_THRESHOLD
                  ) -> np.ndarray:
    """``sr`` (float64 copy) with its coarse levels moved to those of the measurement ``lr``.

    A denoising model can shift the level of a region while it removes the noise (a window
    pane drawn warmer, a hot spot overshooting). :func:`project_block_mean` would undo that
    but put the noise back; this keeps the part of the residual ``r = lr - D(sr)`` that noise
    cannot explain: ``r`` smoothed by a gaussian of :data:`ANCHOR_SIGMA` LR pixels (which
    leaves ``noise / (2 sqrt(pi) sigma)`` of white pixel noise), soft-thresholded at
    :data:`ANCHOR_THRESHOLD` times that, upsampled bicubically and added. ``noise`` is the LR's
    pixel noise sigma in its own units (:func:`irsrgan.estimate.pixel_noise`). ``sr`` is
    ``(H*s, W*s[, C])``, ``lr`` ``(H, W[, C])``; non-finite LR pixels add nothing.
    ``sigma`` (0: no smoothing, pixel noise left whole) and ``threshold`` replace the shipped
    values, for measuring other anchorings (scripts/pair_alternatives.py)."""
    x, y = _as_float_pair(sr, lr, scale)
    r = y - block_mean(x, scale)
    r[~np.isfinite(r)] = 0.0
    tau = threshold * max(noise, 0.0)  # x the white pixel noise the smoothing leaves
    if sigma > 0:
        r = cv2.GaussianBlur(r, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
        tau /= 2.0 * math.sqrt(math.pi) * sigma
    r = np.sign(r) * np.maximum(np.abs(r) - tau, 0.0)
    h, w = r.shape[:2]
    up = cv2.resize(r, (w * scale, h * scale), interpolation=cv2.INTER_CUBIC)
    x += up.reshape(x.shape)
    if low is not None or high is not None:
        np.clip(x, low, high, out=x)
    return x


def lr_noise(lr: np.ndarray) -> float:
    """The pixel noise sigma :func:`anchor_levels` thresholds with: of ``lr`` ``(H, W[, C])``
    (the mean of its channels), in its units; 0 where it cannot be measured."""
    from .estimate import pixel_noise

    x = np.asarray(lr, dtype=np.float64)
    if x.ndim == 3:
        x = x.mean(axis=2)
    x = np.where(np.isfinite(x), x, np.nanmedian(x) if np.isfinite(x).any() else 0.0)
    sigma = pixel_noise(x)
    return sigma if math.isfinite(sigma) else 0.0


def anchored_image(sr: Image, lr: Image) -> Image:
    """``sr`` (an upscaled ``lr``, same dtype and layout) with its levels anchored to ``lr``
    (:func:`anchor_levels`; integer dtypes rounded and kept in range)."""
    scale, low, high = _pair(sr.dtype, sr.width, sr.height, lr)
    x = anchor_levels(sr.pixels, lr.pixels, scale, lr_noise(lr.pixels), low=low, high=high)
    return replace(sr, pixels=_as_dtype(x, sr.pixels, np.dtype(sr.dtype)))


def anchored_rows(sr: ImageRows, lr: Image) -> ImageRows:
    """:func:`anchored_image` for an output that arrives as bands of rows: anchored
    :data:`CHUNK_ROWS` LR rows at a time with :data:`ANCHOR_HALO_ROWS` rows of context, which
    cover everything a chunk's rows depend on, so the result equals :func:`anchored_image`'s.
    The noise is measured on the whole LR first (it is in memory)."""
    scale, low, high = _pair(sr.like.dtype, sr.width, sr.height, lr)
    noise = lr_noise(lr.pixels)

    def correct(hr: np.ndarray, lr_rows: np.ndarray) -> np.ndarray:
        return anchor_levels(hr, lr_rows, scale, noise, low=low, high=high)

    return _chunked(sr, lr, scale, ANCHOR_HALO_ROWS, correct)
