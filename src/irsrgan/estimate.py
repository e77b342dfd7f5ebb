"""What a single frame says about its sensor: pixel noise, column/row stripes, blur.

Estimators on one frame, no ground truth, in the frame's own units (pass a unit-range image to
get unit-range levels). "Noise" is temporal noise plus pixel-level fixed pattern: one frame
cannot tell them apart.

* :func:`pixel_noise`: Immerkaer's estimator ``sigma = sqrt(pi/2) * mean|I * M| / 6`` with
  ``M = [1,-2,1]^T [1,-2,1]``, per 16x16 block (8x8 for frames under 200 px), median over the
  10 % of blocks with the least structure (gradient of a 3x3 box-blurred copy). ``M`` has zero
  response to a pattern constant along columns or rows, so stripes do not count here.
* :func:`stripe_sigma`: the horizontal second difference ``d = x - (left + right) / 2`` of each
  row, its robust mean down each column (scene edges dropped), the outlier-clipped std of that
  profile,
  ``sigma_col^2 = var(profile) / 1.5 - sigma_pix^2 / H`` (1.5: white column offsets through
  ``d``; second term: the pixel noise left in a mean of H values). Pass ``x.T`` for rows.
* :func:`outlier_fraction`: dead/hot pixels, the share farther than ``max(8 sigma, 5 % of the
  range)`` from their 3x3 median (an upper bound: small hot objects count too).
* :func:`jpeg_quality`: the IJG quality whose luminance table matches the file's best.
* :func:`quantisation`: the step between stored levels and the bits they span.
* :func:`spectral_blur_sigma`: a fit of the radially averaged power spectrum ``log(P - noise)
  = c - a log f - 4 pi^2 s^2 f^2`` over 0.04..0.45 cycles/px gives the equivalent gaussian PSF
  sigma ``s`` of the whole chain (optics, detector, processing).

OpenCV does the filtering (fast, border handling); NumPy the robust statistics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .errors import ImageError

_M = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64)


def _gray64(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2:
        raise ImageError(f"image must be (H, W), got {tuple(x.shape)}")
    return x.astype(np.float64)


def robust_std(v: np.ndarray) -> float:
    """1.4826 x the median absolute deviation (the std for gaussian data, robust to outliers)."""
    return float(1.4826 * np.median(np.abs(v - np.median(v))))


def clipped_std(v: np.ndarray, k: float = 3.5) -> float:
    """The std of the values within ``k`` robust stds of the median: as robust as
    :func:`robust_std` to a few outliers, and as precise as the plain std on gaussian data
    (the median absolute deviation of a few hundred values scatters by about 7 %)."""
    v = np.asarray(v, dtype=np.float64)
    med, rs = np.median(v), robust_std(v)
    if rs <= 0:
        return 0.0
    return float(v[np.abs(v - med) <= k * rs].std())


def pixel_noise(x: np.ndarray, frac: float = 0.10) -> float:
    """Immerkaer noise sigma over the flattest blocks (the image's units)."""
    x = _gray64(x)
    if min(x.shape) < 8:
        return float("nan")
    resp = np.abs(cv2.filter2D(x, -1, _M, borderType=cv2.BORDER_REFLECT))[1:-1, 1:-1]
    smooth = cv2.blur(x, (3, 3))
    gy, gx = np.gradient(smooth)
    grad = np.hypot(gx, gy)[1:-1, 1:-1]
    b = 16 if min(x.shape) >= 200 else 8
    h, w = (resp.shape[0] // b) * b, (resp.shape[1] // b) * b
    if h == 0 or w == 0:
        b = min(resp.shape)
        h, w = (resp.shape[0] // b) * b, (resp.shape[1] // b) * b
    blocks_r = resp[:h, :w].reshape(h // b, b, w // b, b).mean(axis=(1, 3)).ravel()
    blocks_g = grad[:h, :w].reshape(h // b, b, w // b, b).mean(axis=(1, 3)).ravel()
    keep = blocks_g <= np.quantile(blocks_g, frac)
    return float(np.median(blocks_r[keep]) * math.sqrt(math.pi / 2) / 6.0)


def stripe_sigma(x: np.ndarray, sigma_pix: float) -> float:
    """Column-stripe sigma (the image's units); pass ``x.T`` for rows."""
    x = _gray64(x)
    if x.shape[1] < 3:
        return float("nan")
    d = x[:, 1:-1] - 0.5 * (x[:, :-2] + x[:, 2:])
    keep = np.abs(d - np.median(d)) <= 3 * max(robust_std(d), 1e-12)  # drop scene edges
    profile = (d * keep).sum(axis=0) / np.maximum(keep.sum(axis=0), 1)
    n_eff = float(max(np.median(keep.sum(axis=0)), 1.0))
    var = clipped_std(profile) ** 2 / 1.5 - sigma_pix**2 / n_eff
    return math.sqrt(max(var, 0.0))


def spectral_blur_sigma(x: np.ndarray, sigma_pix: float) -> float:
    """Equivalent gaussian PSF sigma (px) from the power spectrum's fall-off (NaN if the
    spectrum is too close to the noise floor to fit)."""
    x = _gray64(x)
    n = min(x.shape)
    n = n - (n % 2)
    y0, x0 = (x.shape[0] - n) // 2, (x.shape[1] - n) // 2
    tile = x[y0:y0 + n, x0:x0 + n]
    tile = tile - tile.mean()
    win = np.outer(np.hanning(n), np.hanning(n))
    spec = np.abs(np.fft.fftshift(np.fft.fft2(tile * win))) ** 2 / (win**2).sum()
    fy, fx = np.meshgrid(np.fft.fftshift(np.fft.fftfreq(n)), np.fft.fftshift(np.fft.fftfreq(n)),
                         indexing="ij")
    fr = np.hypot(fy, fx)
    edges = np.linspace(0.04, 0.45, 24)
    f_mid, p = [], []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = (fr >= lo) & (fr < hi)
        if sel.any():
            f_mid.append(0.5 * (lo + hi))
            p.append(spec[sel].mean())
    f_mid, p = np.array(f_mid), np.array(p) - sigma_pix**2
    ok = p > sigma_pix**2  # well above the noise floor
    if ok.sum() < 6:
        return float("nan")
    a = np.stack([np.ones(ok.sum()), np.log(f_mid[ok]), f_mid[ok] ** 2], axis=1)
    coef, *_ = np.linalg.lstsq(a, np.log(p[ok]), rcond=None)
    s2 = -coef[2] / (4 * math.pi**2)
    return math.sqrt(s2) if s2 > 0 else 0.0


def blockiness(x: np.ndarray, block: int = 8) -> float:
    """JPEG blocking: the mean absolute step across ``block``-px grid lines over the mean
    step elsewhere, rows and columns together, minus 1 (about 0 for an unblocked image; the
    grid phase with the strongest steps is used, as a crop can shift it)."""
    x = _gray64(x)
    if min(x.shape) < 2 * block + 2:
        return 0.0
    dx = np.abs(np.diff(x, axis=1)).mean(axis=0)  # step between column j and j + 1
    dy = np.abs(np.diff(x, axis=0)).mean(axis=1)
    best = 0.0
    for d in (dx, dy):
        if d.mean() <= 0:
            continue
        phases = [d[p::block].mean() / max(np.delete(d, np.s_[p::block]).mean(), 1e-12)
                  for p in range(block)]
        best = max(best, max(phases) - 1.0)
    return float(best)


def outlier_fraction(x: np.ndarray, sigma_pix: float, value_range: float) -> float:
    """Share of pixels farther than ``max(8 sigma_pix, 5 % of value_range)`` from their 3x3
    median (dead/hot pixels; an upper bound, as small hot objects count too)."""
    xf = _gray64(x).astype(np.float32)
    if min(xf.shape) < 3:
        return 0.0
    med = cv2.medianBlur(xf, 3)
    thr = max(8.0 * sigma_pix, 0.05 * value_range)
    return float((np.abs(xf - med)[1:-1, 1:-1] > thr).mean())


#: The IJG (libjpeg) luminance quantisation table at quality 50.
_IJG_LUMA = np.array([16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
                      14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
                      18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
                      49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99],
                     dtype=np.float64)


def jpeg_quality(data: bytes) -> int | None:
    """The IJG quality (1..100) whose luminance table is closest to the JPEG's own, or None
    when ``data`` is not a JPEG. Tables are compared sorted, as files may store them in
    zig-zag order."""
    import io

    from PIL import Image as PILImage

    if not data.startswith(b"\xff\xd8"):
        return None
    try:
        with PILImage.open(io.BytesIO(data)) as im:
            tables = getattr(im, "quantization", None)
    except Exception:  # noqa: BLE001 - an unreadable JPEG simply has no known quality
        return None
    if not tables:
        return None
    own = np.sort(np.asarray(tables[0], dtype=np.float64))
    best, best_err = None, float("inf")
    for q in range(1, 101):
        factor = 5000 / q if q < 50 else 200 - 2 * q
        table = np.clip(np.floor((_IJG_LUMA * factor + 50) / 100), 1, 255)
        err = float(np.abs(np.sort(table) - own).sum())
        if err < best_err:
            best, best_err = q, err
    return best


def quantisation(x: np.ndarray) -> tuple[float, int]:
    """``(step, bits)`` of integer data: the greatest common divisor of the gaps between the
    stored levels (4 for 14-bit counts shifted into 16 bits) and the bits needed for the
    largest level in units of that step (``ceil(log2(max / step + 1))``). Float data: (0, 32).
    """
    x = np.asarray(x)
    if x.dtype.kind not in "ui":
        return 0.0, 32
    levels = np.unique(x)
    step = int(np.gcd.reduce(np.diff(levels).astype(np.int64))) if levels.size > 1 else 1
    step = max(step, 1)
    top = int(levels.max()) // step
    return float(step), max(1, math.ceil(math.log2(top + 1))) if top > 0 else 1


@dataclass(frozen=True)
class NoiseLevel:
    """A frame's noise levels, in the units of the image they were measured on."""

    pixel: float
    column: float
    row: float

    @property
    def effective(self) -> float:
        """One number for "how noisy": pixel noise and the stronger stripe direction together
        (stripes weigh double: they are structured, so a model cannot average them away
        within a neighbourhood)."""
        stripe = max(self.column, self.row)
        return math.sqrt(self.pixel**2 + (2.0 * stripe) ** 2)


def estimate_noise(x: np.ndarray) -> NoiseLevel:
    """Pixel noise and column/row stripe sigma of one gray frame ``(H, W)``."""
    x = _gray64(x)
    sp = pixel_noise(x)
    sp = 0.0 if not math.isfinite(sp) else sp
    col, row = stripe_sigma(x, sp), stripe_sigma(x.T, sp)
    return NoiseLevel(sp, 0.0 if not math.isfinite(col) else col,
                      0.0 if not math.isfinite(row) else row)


__all__ = ["NoiseLevel", "blockiness", "clipped_std", "estimate_noise", "jpeg_quality",
           "outlier_fraction", "pixel_noise", "quantisation", "robust_std",
           "spectral_blur_sigma", "stripe_sigma"]
