"""Seeded degradation operations and the presets that chain them into HR -> LR pipelines.

Every operation is a pure function over ``(B, C, H, W)`` float tensors in [0, 1] (one channel or
more, any bit depth); nothing is quantised to 8 bits unless the operation says so
(:func:`jpeg`, :func:`quantize` with ``bits=8``, :func:`agc_8bit`). Every random choice is drawn
from an explicit :class:`torch.Generator`: the same seed gives the same output. Parameters that
may differ per sample accept a float or a ``(B,)`` tensor.

A :class:`Preset` is data: a list of steps read from YAML (the built-in ones live in
``irsrgan/presets/*.yaml``; a user passes a file path, or ``mix:bicubic=0.4,thermal=0.6``).
:func:`degrade` runs a preset with independent draws for each sample of the batch and returns the
LR at exactly ``(H // scale, W // scale)``.

>>> import torch
>>> g = torch.Generator().manual_seed(0)
>>> hr = torch.rand(2, 1, 64, 64, generator=g)
>>> lr = degrade(hr, 4, "thermal", torch.Generator().manual_seed(1))
>>> tuple(lr.shape), lr.dtype
((2, 1, 16, 16), torch.float32)
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import torch
import yaml
from torch.nn import functional as F

from ..errors import ConfigError, ImageError

log = logging.getLogger(__name__)

ResizeMode = Literal["area", "bilinear", "bicubic", "bicubic_aa", "nearest"]
KernelKind = Literal[
    "iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso", "sinc"
]
RESIZE_MODES: tuple[str, ...] = ("area", "bilinear", "bicubic", "bicubic_aa", "nearest")
KERNEL_KINDS: tuple[str, ...] = (
    "iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso", "sinc"
)
NOISE_KINDS: tuple[str, ...] = ("gaussian", "poisson", "both")

#: Built-in presets (``irsrgan/presets/<name>.yaml``).
PRESET_NAMES: tuple[str, ...] = ("bicubic", "irsrgan", "realesrgan", "thermal", "thermal-mix")

Param = float | torch.Tensor


# --------------------------------------------------------------------------------------------
# helpers


def _check_image(x: torch.Tensor, name: str = "image") -> None:
    if not isinstance(x, torch.Tensor):
        raise ImageError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 4:
        raise ImageError(f"{name} must be (B, C, H, W), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ImageError(f"{name} must be a float tensor in [0, 1], got dtype {x.dtype}")
    if min(x.shape) < 1:
        raise ImageError(f"{name} must not be empty, got {tuple(x.shape)}")


def _per_sample(value: Param, n: int, device: torch.device, name: str) -> torch.Tensor:
    """A float or ``(n,)`` tensor as a float32 ``(n,)`` tensor on ``device``."""
    if isinstance(value, torch.Tensor):
        t = value.to(device=device, dtype=torch.float32).reshape(-1)
        if t.numel() == 1:
            return t.expand(n).clone()
        if t.numel() != n:
            raise ConfigError(
                f"{name} must be a float or a ({n},) tensor, got {tuple(value.shape)}"
            )
        return t
    return torch.full((n,), float(value), device=device, dtype=torch.float32)


def _rand(shape: Sequence[int], gen: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.rand(tuple(shape), generator=gen, device=gen.device).to(device)


def _randn(shape: Sequence[int], gen: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.randn(tuple(shape), generator=gen, device=gen.device).to(device)


def _b4(t: torch.Tensor) -> torch.Tensor:
    return t.view(-1, 1, 1, 1)


# --------------------------------------------------------------------------------------------
# blur kernels (deterministic given their parameters)


def _kernel_grid(size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    ax = torch.arange(size, device=device, dtype=torch.float32) - (size - 1) / 2
    yy, xx = torch.meshgrid(ax, ax, indexing="ij")
    return xx, yy


def _check_size(size: int) -> int:
    if not isinstance(size, (int, np.integer)) or size < 1 or size % 2 == 0:
        raise ConfigError(f"kernel size must be a positive odd integer, got {size!r}")
    return int(size)


def _quadratic_form(
    size: int, sigma_x: Param, sigma_y: Param | None, theta: Param, device: torch.device
) -> torch.Tensor:
    """``d^T Sigma^-1 d`` on a ``size x size`` grid, ``Sigma = R diag(sx^2, sy^2) R^T``."""
    size = _check_size(size)
    sx = sigma_x if isinstance(sigma_x, torch.Tensor) else torch.tensor([float(sigma_x)])
    n = sx.numel()
    sx = _per_sample(sx, n, device, "sigma_x")
    sy = sx if sigma_y is None else _per_sample(sigma_y, n, device, "sigma_y")
    th = _per_sample(theta, n, device, "theta")
    if bool((sx <= 0).any()) or bool((sy <= 0).any()):
        raise ConfigError("blur sigma must be > 0")
    c, s = torch.cos(th), torch.sin(th)
    ix, iy = 1.0 / sx**2, 1.0 / sy**2
    a = c * c * ix + s * s * iy
    b = c * s * (ix - iy)
    d = s * s * ix + c * c * iy
    xx, yy = _kernel_grid(size, device)
    return _b4(a)[:, 0] * xx**2 + 2 * _b4(b)[:, 0] * xx * yy + _b4(d)[:, 0] * yy**2


def _normalise(k: torch.Tensor) -> torch.Tensor:
    return k / k.sum(dim=(-2, -1), keepdim=True)


def gaussian_kernel(
    size: int, sigma_x: Param, sigma_y: Param | None = None, theta: Param = 0.0,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Normalised (an)isotropic gaussian kernels.

    Args:
        size: odd kernel size. sigma_x, sigma_y: standard deviations in pixels along the rotated
            axes (``sigma_y=None``: isotropic). theta: rotation in radians.

    Returns:
        ``(B, size, size)`` float32, each summing to 1 (``B`` = number of sigmas given).
    """
    q = _quadratic_form(size, sigma_x, sigma_y, theta, torch.device(device))
    return _normalise(torch.exp(-0.5 * q))


def generalized_gaussian_kernel(
    size: int, sigma_x: Param, sigma_y: Param | None = None, theta: Param = 0.0,
    beta: Param = 1.0, device: torch.device | str = "cpu",
) -> torch.Tensor:
    """``exp(-0.5 * (d^T Sigma^-1 d) ^ beta)``: beta < 1 heavier tails, > 1 flatter top.

    Returns: ``(B, size, size)`` normalised.
    """
    q = _quadratic_form(size, sigma_x, sigma_y, theta, torch.device(device))
    bt = _b4(_per_sample(beta, q.shape[0], q.device, "beta"))[:, 0]
    return _normalise(torch.exp(-0.5 * q.clamp_min(0).pow(bt)))


def plateau_kernel(
    size: int, sigma_x: Param, sigma_y: Param | None = None, theta: Param = 0.0,
    beta: Param = 1.0, device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Plateau-shaped kernel ``1 / (1 + (d^T Sigma^-1 d) ^ beta)`` (Real-ESRGAN).

    Returns: ``(B, size, size)`` normalised.
    """
    q = _quadratic_form(size, sigma_x, sigma_y, theta, torch.device(device))
    bt = _b4(_per_sample(beta, q.shape[0], q.device, "beta"))[:, 0]
    return _normalise(1.0 / (1.0 + q.clamp_min(0).pow(bt)))


def sinc_kernel(size: int, cutoff: Param, device: torch.device | str = "cpu") -> torch.Tensor:
    """Circular low-pass (2-D sinc) kernel ``wc * J1(wc r) / (2 pi r)``, normalised.

    Args:
        size: odd kernel size. cutoff: angular cutoff frequency ``wc`` in (0, pi] rad/pixel.

    Returns: ``(B, size, size)``; gives ringing and overshoot like real sharpening/resampling.
    """
    size = _check_size(size)
    device = torch.device(device)
    wc = cutoff if isinstance(cutoff, torch.Tensor) else torch.tensor([float(cutoff)])
    wc = _per_sample(wc, wc.numel(), device, "cutoff")
    if bool((wc <= 0).any()):
        raise ConfigError("sinc cutoff must be > 0")
    xx, yy = _kernel_grid(size, device)
    r = torch.sqrt(xx**2 + yy**2)[None]
    w = _b4(wc)[:, 0]
    arg = w * r
    safe_r = torch.where(r > 0, r, torch.ones_like(r))
    k = torch.where(
        r > 0, w * torch.special.bessel_j1(arg) / (2 * math.pi * safe_r), w**2 / (4 * math.pi)
    )
    return _normalise(k)


def filter2d(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Convolve each sample with its own kernel (reflect padding; replicate for tiny images).

    Args:
        x: ``(B, C, H, W)``. kernel: ``(k, k)`` for all samples or ``(B, k, k)``, odd ``k``.

    Returns: ``(B, C, H, W)``, the same size. Kernels that sum to 1 preserve the mean.
    """
    _check_image(x, "x")
    b, c, h, w = x.shape
    if kernel.ndim == 2:
        kernel = kernel[None].expand(b, -1, -1)
    if kernel.ndim != 3 or kernel.shape[0] != b or kernel.shape[1] != kernel.shape[2]:
        raise ConfigError(f"kernel must be (k, k) or ({b}, k, k), got {tuple(kernel.shape)}")
    k = kernel.shape[-1]
    if k % 2 == 0:
        raise ConfigError(f"kernel size must be odd, got {k}")
    if k == 1:
        return x * kernel.reshape(b, 1, 1, 1).to(x)
    p = k // 2
    mode = "reflect" if p < h and p < w else "replicate"
    xp = F.pad(x, (p, p, p, p), mode=mode).reshape(1, b * c, h + 2 * p, w + 2 * p)
    kernel = kernel.to(x)
    if k >= 7:
        # separable kernels (isotropic or axis-aligned gaussians, boxes) as two 1-D passes:
        # 2k instead of k^2 multiplications per pixel, the same result to float precision
        u, s, vh = torch.linalg.svd(kernel.double())
        if bool((s[:, 1] <= 1e-7 * s[:, 0]).all()):
            root = s[:, :1].sqrt()
            col = (u[:, :, 0] * root).to(x).repeat_interleave(c, dim=0)
            row = (vh[:, 0, :] * root).to(x).repeat_interleave(c, dim=0)
            y = F.conv2d(xp, col[:, None, :, None], groups=b * c)
            y = F.conv2d(y, row[:, None, None, :], groups=b * c)
            return y.view(b, c, h, w)
    weight = kernel.repeat_interleave(c, dim=0)[:, None]
    y = F.conv2d(xp, weight, groups=b * c)
    return y.view(b, c, h, w)


def gaussian_blur(
    x: torch.Tensor, sigma: Param, *, sigma_y: Param | None = None, theta: Param = 0.0,
    kernel_size: int | None = None,
) -> torch.Tensor:
    """Gaussian blur, per-sample sigmas; ``kernel_size`` defaults to ``2 * ceil(3 sigma) + 1``."""
    _check_image(x, "x")
    b = x.shape[0]
    sx = _per_sample(sigma, b, x.device, "sigma")
    sy = sx if sigma_y is None else _per_sample(sigma_y, b, x.device, "sigma_y")
    if kernel_size is None:
        kernel_size = 2 * math.ceil(3 * float(torch.maximum(sx, sy).max())) + 1
    return filter2d(x, gaussian_kernel(kernel_size, sx, sy, theta, device=x.device))


# --------------------------------------------------------------------------------------------
# resize


def resize(
    x: torch.Tensor, size: tuple[int, int], mode: ResizeMode = "bicubic_aa", *, clamp: bool = True
) -> torch.Tensor:
    """Resize to ``size = (h, w)``.

    Modes: ``area`` (mean over each output pixel's footprint, the detector's integration),
    ``bilinear`` and ``bicubic`` (no antialiasing, as in Real-ESRGAN), ``bicubic_aa`` (antialiased
    bicubic, like MATLAB ``imresize`` and PIL: the clean downsample), ``nearest``.
    Bicubic overshoot is clamped to [0, 1] unless ``clamp=False``.
    """
    _check_image(x, "x")
    h, w = int(size[0]), int(size[1])
    if h < 1 or w < 1:
        raise ConfigError(f"resize size must be >= 1, got {(h, w)}")
    if (h, w) == tuple(x.shape[-2:]):
        return x
    if mode == "area":
        y = F.interpolate(x, size=(h, w), mode="area")
    elif mode == "nearest":
        y = F.interpolate(x, size=(h, w), mode="nearest-exact")
    elif mode in ("bilinear", "bicubic"):
        y = F.interpolate(x, size=(h, w), mode=mode, align_corners=False)
    elif mode == "bicubic_aa":
        aa = h < x.shape[-2] or w < x.shape[-1]
        y = F.interpolate(x, size=(h, w), mode="bicubic", align_corners=False, antialias=aa)
    else:
        raise ConfigError(f"resize mode must be one of {', '.join(RESIZE_MODES)}, got {mode!r}")
    return y.clamp(0.0, 1.0) if clamp else y


def downsample_bicubic(x: torch.Tensor, scale: int) -> torch.Tensor:
    """The clean downsample: antialiased bicubic to ``(H // scale, W // scale)``."""
    _check_image(x, "x")
    return resize(x, (x.shape[-2] // scale, x.shape[-1] // scale), "bicubic_aa")


# --------------------------------------------------------------------------------------------
# noise and compression


def add_gaussian_noise(
    x: torch.Tensor, sigma: Param, generator: torch.Generator, *,
    gray: bool | torch.Tensor = True, clip: bool = True,
) -> torch.Tensor:
    """Add zero-mean gaussian noise of std ``sigma`` (unit range, per sample).

    ``gray``: the same noise in every channel (per sample if a ``(B,)`` bool tensor).
    """
    _check_image(x, "x")
    b, c, h, w = x.shape
    s = _b4(_per_sample(sigma, b, x.device, "sigma"))
    noise = _randn((b, c, h, w), generator, x.device)
    if c > 1:
        g = torch.as_tensor(gray, device=x.device).reshape(-1).expand(b).view(b, 1, 1, 1)
        noise = torch.where(g, noise[:, :1].expand(-1, c, -1, -1), noise)
    y = x + s * noise
    return y.clamp(0.0, 1.0) if clip else y


def add_poisson_noise(
    x: torch.Tensor, scale: Param, generator: torch.Generator, *, peak: float = 255.0,
    gray: bool | torch.Tensor = True, clip: bool = True,
) -> torch.Tensor:
    """Signal-dependent (shot) noise: ``(Poisson(x * peak) / peak - x) * scale``.

    The std at level ``v`` is ``scale * sqrt(v / peak)``; ``peak = 255`` matches Real-ESRGAN on
    8-bit images (whose noise uses the number of distinct 8-bit levels as the peak).
    """
    _check_image(x, "x")
    b, c, h, w = x.shape
    s = _b4(_per_sample(scale, b, x.device, "scale"))
    base = x.clamp(0.0, 1.0)
    lam = (base * peak).to(generator.device)
    counts = torch.poisson(lam, generator=generator).to(x.device)
    noise = counts / peak - base
    if c > 1:
        gbase = base.mean(dim=1, keepdim=True)
        gcounts = torch.poisson((gbase * peak).to(generator.device), generator=generator)
        gnoise = (gcounts.to(x.device) / peak - gbase).expand(-1, c, -1, -1)
        g = torch.as_tensor(gray, device=x.device).reshape(-1).expand(b).view(b, 1, 1, 1)
        noise = torch.where(g, gnoise, noise)
    y = x + s * noise
    return y.clamp(0.0, 1.0) if clip else y


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    return (x.detach().float().clamp(0, 1) * 255.0).round().to(torch.uint8).cpu().numpy()


def jpeg(x: torch.Tensor, quality: Param) -> torch.Tensor:
    """JPEG-compress each sample at its quality (1..100) through OpenCV.

    Quantises to 8 bits (JPEG stores 8 bits). One channel is coded as a gray JPEG; three as
    RGB (with the usual chroma subsampling); other counts channel by channel.
    """
    _check_image(x, "x")
    b, c, _, _ = x.shape
    q = _per_sample(quality, b, torch.device("cpu"), "quality").round().clamp(1, 100).int()
    arr = _to_uint8(x)
    out = np.empty_like(arr)
    for i in range(b):
        params = [cv2.IMWRITE_JPEG_QUALITY, int(q[i])]
        if c == 3:
            img = np.ascontiguousarray(arr[i, ::-1].transpose(1, 2, 0))
            ok, buf = cv2.imencode(".jpg", img, params)
            dec = cv2.imdecode(buf, cv2.IMREAD_COLOR)
            out[i] = dec.transpose(2, 0, 1)[::-1]
        else:
            for ch in range(c):
                ok, buf = cv2.imencode(".jpg", arr[i, ch], params)
                out[i, ch] = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    return torch.from_numpy(out).to(device=x.device, dtype=torch.float32) / 255.0


# --------------------------------------------------------------------------------------------
# thermal sensor effects


def stripe_noise(
    x: torch.Tensor, generator: torch.Generator, *, column_sigma: Param = 0.0,
    row_sigma: Param = 0.0, clip: bool = True,
) -> torch.Tensor:
    """Column and row fixed-pattern offsets: each detector column (row) gets one offset
    ``~ N(0, sigma)``, constant along it (the readout-amplifier stripes of microbolometers).
    All channels share the pattern (it is a property of the sensor, not of the colour).
    """
    _check_image(x, "x")
    b, _, h, w = x.shape
    cs = _b4(_per_sample(column_sigma, b, x.device, "column_sigma"))
    rs = _b4(_per_sample(row_sigma, b, x.device, "row_sigma"))
    cols = _randn((b, 1, 1, w), generator, x.device) * cs
    rows = _randn((b, 1, h, 1), generator, x.device) * rs
    y = x + cols + rows
    return y.clamp(0.0, 1.0) if clip else y


def smooth_field(
    b: int, size: tuple[int, int], generator: torch.Generator, *, cells: int = 4,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """A smooth random field with zero mean and unit std per sample, ``(B, 1, H, W)``:
    gaussian values on a ``(cells + 1)^2`` grid, bicubically interpolated (residual shading)."""
    g = _randn((b, 1, cells + 1, cells + 1), generator, torch.device(device))
    f = F.interpolate(g, size=size, mode="bicubic", align_corners=True)
    f = f - f.mean(dim=(-2, -1), keepdim=True)
    return f / f.flatten(1).std(dim=1).clamp_min(1e-6).view(b, 1, 1, 1)


def nonuniformity(
    x: torch.Tensor, generator: torch.Generator, *, gain_sigma: Param = 0.0,
    offset_sigma: Param = 0.0, lowfreq_sigma: Param = 0.0, lowfreq_cells: int = 4,
    clip: bool = True,
) -> torch.Tensor:
    """Residual non-uniformity after an imperfect NUC: ``x * (1 + g) + o + s * field`` with a
    per-pixel gain ``g ~ N(0, gain_sigma)``, a per-pixel offset ``o ~ N(0, offset_sigma)`` and a
    smooth shading field of std ``lowfreq_sigma`` (see :func:`smooth_field`)."""
    _check_image(x, "x")
    b, _, h, w = x.shape
    gs = _b4(_per_sample(gain_sigma, b, x.device, "gain_sigma"))
    os_ = _b4(_per_sample(offset_sigma, b, x.device, "offset_sigma"))
    ls = _b4(_per_sample(lowfreq_sigma, b, x.device, "lowfreq_sigma"))
    gain = 1.0 + gs * _randn((b, 1, h, w), generator, x.device)
    off = os_ * _randn((b, 1, h, w), generator, x.device)
    y = x * gain + off
    if bool((ls > 0).any()):
        y = y + ls * smooth_field(b, (h, w), generator, cells=lowfreq_cells, device=x.device)
    return y.clamp(0.0, 1.0) if clip else y


def vignetting(
    x: torch.Tensor, strength: Param, *, center: tuple[Param, Param] = (0.0, 0.0),
    mode: Literal["multiplicative", "additive"] = "multiplicative", clip: bool = True,
) -> torch.Tensor:
    """Radial fall-off ``r^2`` (``r = 1`` at the corners, ``center`` in units of the
    half-size, per sample). ``multiplicative``: ``x * (1 - strength * r^2)``; ``additive``
    (cold-stop/narcissus shading of thermal cameras): ``x - strength * (r^2 - mean r^2)``.
    Negative strength brightens the corners.
    """
    _check_image(x, "x")
    b, _, h, w = x.shape
    s = _b4(_per_sample(strength, b, x.device, "strength"))
    cx = _b4(_per_sample(center[0], b, x.device, "center x"))
    cy = _b4(_per_sample(center[1], b, x.device, "center y"))
    yy = torch.linspace(-1, 1, h, device=x.device).view(1, 1, h, 1)
    xx = torch.linspace(-1, 1, w, device=x.device).view(1, 1, 1, w)
    r2 = ((xx - cx) ** 2 + (yy - cy) ** 2) / 2
    if mode == "multiplicative":
        y = x * (1 - s * r2)
    elif mode == "additive":
        y = x - s * (r2 - r2.mean(dim=(-2, -1), keepdim=True))
    else:
        raise ConfigError(f"vignetting mode must be 'multiplicative' or 'additive', got {mode!r}")
    return y.clamp(0.0, 1.0) if clip else y


def dead_hot_pixels(
    x: torch.Tensor, fraction: Param, generator: torch.Generator, *, hot_ratio: float = 0.5
) -> torch.Tensor:
    """Set a ``fraction`` of pixels (per sample) to 0 (dead) or 1 (hot, with ``hot_ratio``)."""
    _check_image(x, "x")
    b, _, h, w = x.shape
    f = _b4(_per_sample(fraction, b, x.device, "fraction"))
    u = _rand((b, 1, h, w), generator, x.device)
    kind = _rand((b, 1, h, w), generator, x.device) < hot_ratio
    hit = u < f
    y = torch.where(hit & kind, torch.ones_like(x), x)
    return torch.where(hit & ~kind, torch.zeros_like(x), y)


def quantize(x: torch.Tensor, bits: Param = 14) -> torch.Tensor:
    """Round to ``2**bits`` levels in [0, 1] (an ADC or a file of that bit depth)."""
    _check_image(x, "x")
    nb = _per_sample(bits, x.shape[0], x.device, "bits")
    if bool(((nb < 1) | (nb > 24)).any()):
        raise ConfigError(f"bits must be in 1..24, got {nb.tolist()}")
    levels = _b4(torch.exp2(nb.round()) - 1)
    return torch.round(x.clamp(0.0, 1.0) * levels) / levels


def agc_8bit(
    x: torch.Tensor, *, low_percentile: Param = 0.0, high_percentile: Param = 100.0,
    restore: bool = True,
) -> torch.Tensor:
    """8-bit export of a high-bit-depth frame by linear automatic gain control.

    Each sample's ``low``..``high`` percentiles are stretched to 0..255 (tails saturate) and
    rounded to 8 bits. ``restore=True`` maps the 8-bit values back through the same linear map,
    so the result keeps the input's radiometric scale (and its pairing with the HR) and carries
    only what the export loses: the 8-bit steps of ``(high - low) / 255`` and the clipped
    tails. ``restore=False`` returns the displayed 0..1 frame.
    """
    _check_image(x, "x")
    b = x.shape[0]
    lo_p = _per_sample(low_percentile, b, x.device, "low_percentile") / 100
    hi_p = _per_sample(high_percentile, b, x.device, "high_percentile") / 100
    if bool(((lo_p < 0) | (hi_p > 1) | (lo_p >= hi_p)).any()):
        raise ConfigError("agc percentiles must satisfy 0 <= low < high <= 100")
    flat = x.flatten(1).float()
    lo = torch.stack([torch.quantile(flat[i], lo_p[i]) for i in range(b)])
    hi = torch.stack([torch.quantile(flat[i], hi_p[i]) for i in range(b)])
    span = (hi - lo).clamp_min(1e-6)
    lo4, span4 = _b4(lo), _b4(span)
    disp = torch.round(((x - lo4) / span4).clamp(0.0, 1.0) * 255.0) / 255.0
    if not restore:
        return disp
    return (disp * span4 + lo4).clamp(0.0, 1.0)


# --------------------------------------------------------------------------------------------
# parameter distributions (preset data)

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


def _parse_number(value: Any, where: str) -> float:
    """A number, or a string ``"pi"``, ``"pi/3"``, ``"30/255"``, ``"2*pi"``."""
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        s = value.replace(" ", "").lower()

        def atom(t: str) -> float:
            if t == "pi":
                return math.pi
            if re.fullmatch(_NUM, t):
                return float(t)
            raise ConfigError(f"{where}: cannot read {value!r} as a number")

        m = re.fullmatch(r"([^*/]+)(?:\*([^*/]+))?(?:/([^*/]+))?", s)
        if m:
            v = atom(m.group(1))
            if m.group(2):
                v *= atom(m.group(2))
            if m.group(3):
                v /= atom(m.group(3))
            return v
    raise ConfigError(f"{where}: expected a number, got {value!r}")


class Dist:
    """A distribution of one scalar parameter; ``sample(n, gen)`` gives ``(n,)`` float64."""

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def sample_int(self, n: int, gen: torch.Generator) -> torch.Tensor:
        return self.sample(n, gen).round().long()


@dataclass(frozen=True)
class Const(Dist):
    value: float

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        return torch.full((n,), self.value, dtype=torch.float64)


@dataclass(frozen=True)
class Uniform(Dist):
    """Uniform on [low, high]; as integers, each integer in [low, high] equally likely."""

    low: float
    high: float

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        u = torch.rand(n, generator=gen, device=gen.device, dtype=torch.float64).cpu()
        return self.low + (self.high - self.low) * u

    def sample_int(self, n: int, gen: torch.Generator) -> torch.Tensor:
        lo, hi = math.ceil(self.low - 1e-9), math.floor(self.high + 1e-9)
        return torch.randint(lo, hi + 1, (n,), generator=gen, device=gen.device).cpu()


@dataclass(frozen=True)
class LogUniform(Dist):
    """``log x`` uniform on [log low, log high]: as many draws per decade at both ends."""

    low: float
    high: float

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        u = torch.rand(n, generator=gen, device=gen.device, dtype=torch.float64).cpu()
        return torch.exp(math.log(self.low) + (math.log(self.high) - math.log(self.low)) * u)


@dataclass(frozen=True)
class Choice(Dist):
    values: tuple[float, ...]
    weights: tuple[float, ...]

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        idx = _categorical(self.weights, n, gen)
        return torch.tensor(self.values, dtype=torch.float64)[idx]


@dataclass(frozen=True)
class Mixture(Dist):
    parts: tuple[Dist, ...]
    weights: tuple[float, ...]

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        idx = _categorical(self.weights, n, gen)
        out = torch.zeros(n, dtype=torch.float64)
        for j, part in enumerate(self.parts):
            sel = (idx == j).nonzero()[:, 0]
            if sel.numel():
                out[sel] = part.sample(sel.numel(), gen)
        return out

    def sample_int(self, n: int, gen: torch.Generator) -> torch.Tensor:
        idx = _categorical(self.weights, n, gen)
        out = torch.zeros(n, dtype=torch.long)
        for j, part in enumerate(self.parts):
            sel = (idx == j).nonzero()[:, 0]
            if sel.numel():
                out[sel] = part.sample_int(sel.numel(), gen)
        return out


def _categorical(weights: Sequence[float], n: int, gen: torch.Generator) -> torch.Tensor:
    """``n`` indices drawn with the given (unnormalised) weights, on the CPU."""
    w = torch.tensor(weights, dtype=torch.float64)
    cdf = torch.cumsum(w / w.sum(), 0)
    u = torch.rand(n, generator=gen, device=gen.device, dtype=torch.float64).cpu()
    return torch.searchsorted(cdf, u, right=True).clamp_max(len(weights) - 1)


def parse_dist(value: Any, where: str) -> Dist:
    """Read a parameter: ``0.5`` | ``"1/255"`` | ``[lo, hi]`` (uniform) |
    ``{log_uniform: [lo, hi]}`` | ``{choice: [...], weights: [...]}`` |
    ``{mixture: [[weight, <param>], ...]}`` | ``{const: v}`` | ``{uniform: [lo, hi]}``."""
    if isinstance(value, Dist):
        return value
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        return Const(_parse_number(value, where))
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ConfigError(f"{where}: a range must be [low, high], got {value!r}")
        lo, hi = (_parse_number(v, where) for v in value)
        if lo > hi:
            raise ConfigError(f"{where}: range low must be <= high, got {value!r}")
        return Uniform(lo, hi)
    if isinstance(value, Mapping) and len(value) >= 1:
        keys = set(value)
        if keys == {"const"}:
            return Const(_parse_number(value["const"], where))
        if keys == {"uniform"}:
            return parse_dist(list(value["uniform"]), where)
        if keys == {"log_uniform"}:
            rng = value["log_uniform"]
            if not isinstance(rng, (list, tuple)) or len(rng) != 2:
                raise ConfigError(f"{where}: log_uniform must be [low, high], got {rng!r}")
            lo, hi = (_parse_number(v, where) for v in rng)
            if not 0 < lo <= hi:
                raise ConfigError(f"{where}: log_uniform needs 0 < low <= high, got {rng!r}")
            return LogUniform(lo, hi)
        if keys <= {"choice", "weights"} and "choice" in keys:
            vals = tuple(_parse_number(v, where) for v in value["choice"])
            if not vals:
                raise ConfigError(f"{where}: choice must list at least one value")
            weights = tuple(value.get("weights") or [1.0] * len(vals))
            _check_weights(weights, len(vals), where)
            return Choice(vals, tuple(float(w) for w in weights))
        if keys == {"mixture"}:
            parts, weights = [], []
            for item in value["mixture"]:
                if not isinstance(item, (list, tuple)) or len(item) != 2:
                    raise ConfigError(f"{where}: mixture items must be [weight, param], "
                                      f"got {item!r}")
                weights.append(_parse_number(item[0], where))
                parts.append(parse_dist(item[1], where))
            _check_weights(weights, len(parts), where)
            return Mixture(tuple(parts), tuple(weights))
    raise ConfigError(f"{where}: cannot read parameter {value!r}")


def _check_weights(weights: Sequence[Any], n: int, where: str) -> None:
    if len(weights) != n or n == 0:
        raise ConfigError(f"{where}: expected {n} weights, got {list(weights)!r}")
    if any(not isinstance(w, (int, float)) or isinstance(w, bool) or w < 0 for w in weights):
        raise ConfigError(f"{where}: weights must be numbers >= 0, got {list(weights)!r}")
    if sum(weights) <= 0:
        raise ConfigError(f"{where}: weights must not all be 0")


def _parse_weights(value: Any, allowed: Sequence[str], where: str) -> dict[str, float]:
    if isinstance(value, str):
        value = {value: 1.0}
    if not isinstance(value, Mapping) or not value:
        raise ConfigError(f"{where}: expected a mapping of name -> weight, got {value!r}")
    out = {}
    for k, v in value.items():
        if k not in allowed:
            raise ConfigError(f"{where}: unknown name {k!r} (expected {', '.join(allowed)})")
        out[str(k)] = _parse_number(v, f"{where}.{k}")
    _check_weights(list(out.values()), len(out), where)
    return out


# --------------------------------------------------------------------------------------------
# pipeline engine


@dataclass(frozen=True)
class _Ctx:
    """What a step knows besides its input: the HR size, the target LR size and the scale."""

    hr_size: tuple[int, int]
    target: tuple[int, int]
    scale: float
    done: float = 0.0  # fraction of the geometric downscale done by ``to: fraction`` steps


@dataclass
class _Split:
    """Samples that go on with different remaining steps or different sizes."""

    groups: list[tuple[torch.Tensor, torch.Tensor, _Ctx, list[Step]]]  # idx, x, ctx, prefix


class Step:
    """One pipeline step. ``prob``: the chance (per sample) that it applies."""

    prob: float = 1.0
    size_preserving: bool = True

    def apply(self, x: torch.Tensor, ctx: _Ctx, gen: torch.Generator):
        raise NotImplementedError

    def run(self, x: torch.Tensor, ctx: _Ctx, gen: torch.Generator):
        if self.prob >= 1.0:
            return self.apply(x, ctx, gen)
        n = x.shape[0]
        on = torch.rand(n, generator=gen, device=gen.device).cpu() < self.prob
        if bool(on.all()):
            return self.apply(x, ctx, gen)
        if not bool(on.any()):
            return x, ctx
        idx_on, idx_off = on.nonzero()[:, 0], (~on).nonzero()[:, 0]
        if self.size_preserving:
            y, _ = self.apply(x[idx_on.to(x.device)], ctx, gen)
            out = x.clone()
            out[idx_on.to(x.device)] = y
            return out, ctx
        always = replace(self, prob=1.0)
        return _Split([
            (idx_on, x[idx_on.to(x.device)], ctx, [always]),
            (idx_off, x[idx_off.to(x.device)], ctx, []),
        ])


def _run(steps: Sequence[Step], x: torch.Tensor, ctx: _Ctx, gen: torch.Generator) -> torch.Tensor:
    for i, step in enumerate(steps):
        out = step.run(x, ctx, gen)
        if isinstance(out, _Split):
            rest = list(steps[i + 1:])
            pieces = []
            for idx, xs, c, prefix in out.groups:
                if idx.numel():
                    pieces.append((idx, _run(list(prefix) + rest, xs, c, gen)))
            first = pieces[0][1]
            result = first.new_empty((x.shape[0], *first.shape[1:]))
            for idx, y in pieces:
                result[idx.to(result.device)] = y
            return result
        x, ctx = out
    if tuple(x.shape[-2:]) != ctx.target:
        log.debug("pipeline ended at %s, resizing to %s", tuple(x.shape[-2:]), ctx.target)
        x = resize(x, ctx.target, "bicubic_aa")
    return x


def _group_by(keys: list[tuple]) -> dict[tuple, torch.Tensor]:
    groups: dict[tuple, list[int]] = {}
    for i, k in enumerate(keys):
        groups.setdefault(k, []).append(i)
    return {k: torch.tensor(v, dtype=torch.long) for k, v in groups.items()}


def _pop(cfg: dict, key: str, default: Any = None) -> Any:
    return cfg.pop(key, default)


def _no_extra(cfg: dict, where: str) -> None:
    if cfg:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(map(str, cfg)))}")


def _prob(cfg: dict, where: str) -> float:
    p = _parse_number(_pop(cfg, "prob", 1.0), f"{where}.prob")
    if not 0.0 <= p <= 1.0:
        raise ConfigError(f"{where}.prob must be in [0, 1], got {p}")
    return p


@dataclass(frozen=True)
class BlurStep(Step):
    """Random blur kernel per sample (Real-ESRGAN's kernel family).

    ``units: lr`` multiplies sigmas by the scale (a PSF given in LR detector pixels).
    ``kernel_size: auto`` uses ``2 * ceil(3 * sigma) + 1`` (in HR pixels) per sample.
    ``sinc_cutoff: auto``: uniform [pi/3, pi] for kernels under 13 px, else [pi/5, pi].
    """

    kinds: dict[str, float] = field(default_factory=lambda: {"iso": 1.0})
    sigma: Dist = Const(1.0)
    kernel_size: Dist | None = None  # None: auto
    beta_gaussian: Dist = Const(1.0)
    beta_plateau: Dist = Const(1.0)
    sinc_cutoff: Dist | None = None  # None: auto
    units: Literal["hr", "lr"] = "hr"
    prob: float = 1.0

    @classmethod
    def from_config(cls, cfg: dict, where: str) -> BlurStep:
        prob = _prob(cfg, where)
        kinds = _parse_weights(_pop(cfg, "kinds", {"iso": 1.0}), KERNEL_KINDS, f"{where}.kinds")
        ks = _pop(cfg, "kernel_size", "auto")
        units = _pop(cfg, "units", "hr")
        if units not in ("hr", "lr"):
            raise ConfigError(f"{where}.units must be 'hr' or 'lr', got {units!r}")
        sc = _pop(cfg, "sinc_cutoff", "auto")
        step = cls(
            kinds=kinds, sigma=parse_dist(_pop(cfg, "sigma", 1.0), f"{where}.sigma"),
            kernel_size=None if ks == "auto" else parse_dist(ks, f"{where}.kernel_size"),
            beta_gaussian=parse_dist(_pop(cfg, "beta_gaussian", 1.0), f"{where}.beta_gaussian"),
            beta_plateau=parse_dist(_pop(cfg, "beta_plateau", 1.0), f"{where}.beta_plateau"),
            sinc_cutoff=None if sc == "auto" else parse_dist(sc, f"{where}.sinc_cutoff"),
            units=units, prob=prob,
        )
        _no_extra(cfg, where)
        return step

    def kernels(self, n: int, scale: float, gen: torch.Generator,
                device: torch.device) -> torch.Tensor:
        """Draw ``n`` kernels, ``(n, K, K)`` (zero-padded to the largest size drawn)."""
        names = list(self.kinds)
        kind = [names[i] for i in _categorical(list(self.kinds.values()), n, gen).tolist()]
        unit = scale if self.units == "lr" else 1.0
        sx = self.sigma.sample(n, gen) * unit
        sy = self.sigma.sample(n, gen) * unit
        theta = (torch.rand(n, generator=gen, device=gen.device, dtype=torch.float64).cpu()
                 * 2 - 1) * math.pi
        iso = torch.tensor([not k.endswith("aniso") for k in kind])
        sy = torch.where(iso, sx, sy)
        theta = torch.where(iso, torch.zeros_like(theta), theta)
        sx, sy = sx.clamp_min(1e-3), sy.clamp_min(1e-3)
        if self.kernel_size is None:
            size = 2 * torch.ceil(3 * torch.maximum(sx, sy)).long() + 1
            size = torch.where(torch.tensor([k == "sinc" for k in kind]),
                               torch.full_like(size, 21), size)
        else:
            size = self.kernel_size.sample_int(n, gen)
            size = size + (size % 2 == 0).long()  # odd
        size = size.clamp(1, 129)
        big = int(size.max())
        bg = self.beta_gaussian.sample(n, gen)
        bp = self.beta_plateau.sample(n, gen)
        if self.sinc_cutoff is None:
            lo = torch.where(size < 13, torch.full((n,), math.pi / 3, dtype=torch.float64),
                             torch.full((n,), math.pi / 5, dtype=torch.float64))
            u = torch.rand(n, generator=gen, device=gen.device, dtype=torch.float64).cpu()
            wc = lo + (math.pi - lo) * u
        else:
            wc = self.sinc_cutoff.sample(n, gen)
        q = _quadratic_form(big, sx.float(), sy.float(), theta.float(), device)
        kind_t = torch.tensor([KERNEL_KINDS.index(k) for k in kind], device=device).view(n, 1, 1)
        qc = q.clamp_min(0)
        out = torch.exp(-0.5 * q)
        bgp = bg.float().to(device).view(n, 1, 1)
        bpp = bp.float().to(device).view(n, 1, 1)
        gen_mask = (kind_t == 2) | (kind_t == 3)
        plat_mask = (kind_t == 4) | (kind_t == 5)
        if bool(gen_mask.any()):
            out = torch.where(gen_mask, torch.exp(-0.5 * qc.pow(bgp)), out)
        if bool(plat_mask.any()):
            out = torch.where(plat_mask, 1.0 / (1.0 + qc.pow(bpp)), out)
        if bool((kind_t == 6).any()):
            out = torch.where(kind_t == 6, sinc_kernel(big, wc.float(), device=device), out)
        xx, yy = _kernel_grid(big, device)
        half = ((size.to(device).float() - 1) / 2).view(n, 1, 1)
        inside = (xx.abs()[None] <= half) & (yy.abs()[None] <= half)
        return _normalise(out * inside)

    def apply(self, x, ctx, gen):
        k = self.kernels(x.shape[0], ctx.scale, gen, x.device)
        return filter2d(x, k).clamp(0.0, 1.0), ctx


@dataclass(frozen=True)
class ResizeStep(Step):
    """Resize, with a random mode per sample.

    ``to: target``: to the final LR size. ``to: fraction`` with ``fraction: f``: a geometric
    share ``f`` of the total downscale (two steps of 0.5 make x4 out of x2 and x2, in any
    order; the step completing the total lands exactly on the target). ``to: relative`` with
    ``factor`` (a parameter) and ``relative_to`` (``current``, ``target`` or ``hr``): a random
    up/down scale, per sample.
    """

    modes: dict[str, float] = field(default_factory=lambda: {"bicubic_aa": 1.0})
    to: Literal["target", "fraction", "relative"] = "target"
    fraction: float = 1.0
    factor: Dist = Const(1.0)
    relative_to: Literal["current", "target", "hr"] = "current"
    prob: float = 1.0
    size_preserving: bool = False

    @classmethod
    def from_config(cls, cfg: dict, where: str) -> ResizeStep:
        prob = _prob(cfg, where)
        modes = _parse_weights(_pop(cfg, "modes", {"bicubic_aa": 1.0}), RESIZE_MODES,
                               f"{where}.modes")
        to = _pop(cfg, "to", "target")
        if to not in ("target", "fraction", "relative"):
            raise ConfigError(f"{where}.to must be target, fraction or relative, got {to!r}")
        fraction = _parse_number(_pop(cfg, "fraction", 1.0), f"{where}.fraction")
        if to == "fraction" and not 0 < fraction <= 1:
            raise ConfigError(f"{where}.fraction must be in (0, 1], got {fraction}")
        factor = parse_dist(_pop(cfg, "factor", 1.0), f"{where}.factor")
        rel = _pop(cfg, "relative_to", "current")
        if rel not in ("current", "target", "hr"):
            raise ConfigError(f"{where}.relative_to must be current, target or hr, got {rel!r}")
        _no_extra(cfg, where)
        return cls(modes=modes, to=to, fraction=fraction, factor=factor, relative_to=rel,
                   prob=prob)

    def apply(self, x, ctx, gen):
        n = x.shape[0]
        h, w = x.shape[-2:]
        names = list(self.modes)
        mode_idx = _categorical(list(self.modes.values()), n, gen)
        new_ctx = ctx
        if self.to == "target":
            sizes = [ctx.target] * n
        elif self.to == "fraction":
            done = ctx.done + self.fraction
            if done >= 1.0 - 1e-6:
                size = ctx.target
            else:
                f = ctx.scale**done
                size = (max(1, round(ctx.hr_size[0] / f)), max(1, round(ctx.hr_size[1] / f)))
            sizes = [size] * n
            new_ctx = replace(ctx, done=min(done, 1.0))
        else:
            ref = {"current": (h, w), "target": ctx.target, "hr": ctx.hr_size}[self.relative_to]
            fac = self.factor.sample(n, gen).tolist()
            sizes = [(max(1, int(ref[0] * f)), max(1, int(ref[1] * f))) for f in fac]
        keys = [(sizes[i], int(mode_idx[i])) for i in range(n)]
        by_size: dict[tuple[int, int], list[tuple[torch.Tensor, torch.Tensor]]] = {}
        for (size, m), idx in _group_by(keys).items():
            y = resize(x[idx.to(x.device)], size, names[m])  # type: ignore[arg-type]
            by_size.setdefault(size, []).append((idx, y))
        if len(by_size) == 1:
            (size, parts), = by_size.items()
            out = x.new_empty((n, x.shape[1], *size))
            for idx, y in parts:
                out[idx.to(x.device)] = y
            return out, new_ctx
        groups = []
        for parts in by_size.values():
            idx = torch.cat([p[0] for p in parts])
            groups.append((idx, torch.cat([p[1] for p in parts]), new_ctx, []))
        return _Split(groups)


@dataclass(frozen=True)
class NoiseStep(Step):
    """Gaussian (``sigma``, unit range) and/or Poisson (``poisson_scale``) noise per sample."""

    kinds: dict[str, float] = field(default_factory=lambda: {"gaussian": 1.0})
    sigma: Dist = Const(0.01)
    poisson_scale: Dist = Const(1.0)
    gray_prob: float = 1.0
    prob: float = 1.0

    @classmethod
    def from_config(cls, cfg: dict, where: str) -> NoiseStep:
        prob = _prob(cfg, where)
        kinds = _parse_weights(_pop(cfg, "kinds", {"gaussian": 1.0}), NOISE_KINDS,
                               f"{where}.kinds")
        step = cls(
            kinds=kinds, sigma=parse_dist(_pop(cfg, "sigma", 0.01), f"{where}.sigma"),
            poisson_scale=parse_dist(_pop(cfg, "poisson_scale", 1.0), f"{where}.poisson_scale"),
            gray_prob=_parse_number(_pop(cfg, "gray_prob", 1.0), f"{where}.gray_prob"),
            prob=prob,
        )
        _no_extra(cfg, where)
        return step

    def apply(self, x, ctx, gen):
        return self.add(x, self.draw(x.shape[0], gen), gen), ctx

    def draw(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
        """The per-sample noise parameters: which kinds, sigma, Poisson scale, gray."""
        names = list(self.kinds)
        kind = _categorical(list(self.kinds.values()), n, gen)
        sigma = self.sigma.sample(n, gen).float()
        pscale = self.poisson_scale.sample(n, gen).float()
        gray = torch.rand(n, generator=gen, device=gen.device).cpu() < self.gray_prob
        use_g = torch.tensor([names[k] in ("gaussian", "both") for k in kind.tolist()])
        use_p = torch.tensor([names[k] in ("poisson", "both") for k in kind.tolist()])
        return use_g, use_p, sigma, pscale, gray

    def add(self, x: torch.Tensor, params: tuple[torch.Tensor, ...],
            gen: torch.Generator) -> torch.Tensor:
        """``x`` plus one noise realisation (from ``gen``) with parameters from :meth:`draw`."""
        use_g, use_p, sigma, pscale, gray = params
        y = x
        if bool(use_g.any()):
            y = add_gaussian_noise(y, torch.where(use_g, sigma, 0.0), gen, gray=gray)
        if bool(use_p.any()):
            y = add_poisson_noise(y, torch.where(use_p, pscale, 0.0), gen, gray=gray)
        return y


@dataclass(frozen=True)
class JpegStep(Step):
    quality: Dist = Uniform(30, 95)
    prob: float = 1.0

    @classmethod
    def from_config(cls, cfg: dict, where: str) -> JpegStep:
        prob = _prob(cfg, where)
        q = parse_dist(_pop(cfg, "quality", [30, 95]), f"{where}.quality")
        _no_extra(cfg, where)
        return cls(quality=q, prob=prob)

    def apply(self, x, ctx, gen):
        return jpeg(x, self.quality.sample_int(x.shape[0], gen).float()), ctx


@dataclass(frozen=True)
class StripeStep(Step):
    column_sigma: Dist = Const(0.0)
    row_sigma: Dist = Const(0.0)
    prob: float = 1.0

    @classmethod
    def from_config(cls, cfg: dict, where: str) -> StripeStep:
        prob = _prob(cfg, where)
        step = cls(
            column_sigma=parse_dist(_pop(cfg, "column_sigma", 0.0), f"{where}.column_sigma"),
            row_sigma=parse_dist(_pop(cfg, "row_sigma", 0.0), f"{where}.row_sigma"), prob=prob,
        )
        _no_extra(cfg, where)
        return step

    def apply(self, x, ctx, gen):
        n = x.shape[0]
        cs, rs = self.column_sigma.sample(n, gen).float(), self.row_sigma.sample(n, gen).float()
        return stripe_noise(x, gen, column_sigma=cs, row_sigma=rs), ctx


@dataclass(frozen=True)
class NonUniformityStep(Step):
    gain_sigma: Dist = Const(0.0)
    offset_sigma: Dist = Const(0.0)
    lowfreq_sigma: Dist = Const(0.0)
    lowfreq_cells: int = 4
    prob: float = 1.0

    @classmethod
    def from_config(cls, cfg: dict, where: str) -> NonUniformityStep:
        prob = _prob(cfg, where)
        cells = _pop(cfg, "lowfreq_cells", 4)
        if not isinstance(cells, int) or cells < 1:
            raise ConfigError(f"{where}.lowfreq_cells must be an integer >= 1, got {cells!r}")
        step = cls(
            gain_sigma=parse_dist(_pop(cfg, "gain_sigma", 0.0), f"{where}.gain_sigma"),
            offset_sigma=parse_dist(_pop(cfg, "offset_sigma", 0.0), f"{where}.offset_sigma"),
            lowfreq_sigma=parse_dist(_pop(cfg, "lowfreq_sigma", 0.0), f"{where}.lowfreq_sigma"),
            lowfreq_cells=cells, prob=prob,
        )
        _no_extra(cfg, where)
        return step

    def apply(self, x, ctx, gen):
        n = x.shape[0]
        return nonuniformity(
            x, gen, gain_sigma=self.gain_sigma.sample(n, gen).float(),
            offset_sigma=self.offset_sigma.sample(n, gen).float(),
            lowfreq_sigma=self.lowfreq_sigma.sample(n, gen).float(),
            lowfreq_cells=self.lowfreq_cells,
        ), ctx


@dataclass(frozen=True)
class VignettingStep(Step):
    strength: Dist = Const(0.0)
    center_jitter: float = 0.0
    mode: Literal["multiplicative", "additive"] = "multiplicative"
    prob: float = 1.0

    @classmethod
    def from_config(cls, cfg: dict, where: str) -> VignettingStep:
        prob = _prob(cfg, where)
        mode = _pop(cfg, "mode", "multiplicative")
        if mode not in ("multiplicative", "additive"):
            raise ConfigError(f"{where}.mode must be multiplicative or additive, got {mode!r}")
        step = cls(
            strength=parse_dist(_pop(cfg, "strength", 0.0), f"{where}.strength"),
            center_jitter=_parse_number(_pop(cfg, "center_jitter", 0.0),
                                        f"{where}.center_jitter"),
            mode=mode, prob=prob,
        )
        _no_extra(cfg, where)
        return step

    def apply(self, x, ctx, gen):
        n = x.shape[0]
        s = self.strength.sample(n, gen).float()
        c = (torch.rand(2, n, generator=gen, device=gen.device).cpu() * 2 - 1) * self.center_jitter
        return vignetting(x, s, center=(c[0], c[1]), mode=self.mode), ctx


@dataclass(frozen=True)
class DeadHotStep(Step):
    fraction: Dist = Const(1e-4)
    hot_ratio: float = 0.5
    prob: float = 1.0

    @classmethod
    def from_config(cls, cfg: dict, where: str) -> DeadHotStep:
        prob = _prob(cfg, where)
        step = cls(fraction=parse_dist(_pop(cfg, "fraction", 1e-4), f"{where}.fraction"),
                   hot_ratio=_parse_number(_pop(cfg, "hot_ratio", 0.5), f"{where}.hot_ratio"),
                   prob=prob)
        _no_extra(cfg, where)
        return step

    def apply(self, x, ctx, gen):
        f = self.fraction.sample(x.shape[0], gen).float()
        return dead_hot_pixels(x, f, gen, hot_ratio=self.hot_ratio), ctx


@dataclass(frozen=True)
class QuantizeStep(Step):
    bits: Dist = Const(14)
    prob: float = 1.0

    @classmethod
    def from_config(cls, cfg: dict, where: str) -> QuantizeStep:
        prob = _prob(cfg, where)
        bits = parse_dist(_pop(cfg, "bits", 14), f"{where}.bits")
        _no_extra(cfg, where)
        return cls(bits=bits, prob=prob)

    def apply(self, x, ctx, gen):
        return quantize(x, self.bits.sample_int(x.shape[0], gen).float()), ctx


@dataclass(frozen=True)
class AgcStep(Step):
    low_percentile: Dist = Const(0.0)
    high_percentile: Dist = Const(100.0)
    restore: bool = True
    prob: float = 1.0

    @classmethod
    def from_config(cls, cfg: dict, where: str) -> AgcStep:
        prob = _prob(cfg, where)
        restore = _pop(cfg, "restore", True)
        if not isinstance(restore, bool):
            raise ConfigError(f"{where}.restore must be true or false, got {restore!r}")
        step = cls(
            low_percentile=parse_dist(_pop(cfg, "low_percentile", 0.0),
                                      f"{where}.low_percentile"),
            high_percentile=parse_dist(_pop(cfg, "high_percentile", 100.0),
                                       f"{where}.high_percentile"),
            restore=restore, prob=prob,
        )
        _no_extra(cfg, where)
        return step

    def apply(self, x, ctx, gen):
        n = x.shape[0]
        lo = self.low_percentile.sample(n, gen).float()
        hi = self.high_percentile.sample(n, gen).float()
        return agc_8bit(x, low_percentile=lo, high_percentile=hi, restore=self.restore), ctx


@dataclass(frozen=True)
class ShuffleStep(Step):
    """Run ``steps`` in a random order per sample."""

    steps: tuple[Step, ...] = ()
    prob: float = 1.0
    size_preserving: bool = False

    def apply(self, x, ctx, gen):
        n, k = x.shape[0], len(self.steps)
        perms = torch.argsort(torch.rand(n, k, generator=gen, device=gen.device).cpu(), dim=1)
        groups = []
        for perm, idx in _group_by([tuple(p) for p in perms.tolist()]).items():
            groups.append((idx, x[idx.to(x.device)], ctx, [self.steps[j] for j in perm]))
        return _Split(groups)


@dataclass(frozen=True)
class ChoiceStep(Step):
    """Run one of ``branches`` per sample, chosen with ``weights``."""

    branches: tuple[tuple[Step, ...], ...] = ()
    weights: tuple[float, ...] = ()
    prob: float = 1.0
    size_preserving: bool = False

    def apply(self, x, ctx, gen):
        which = _categorical(self.weights, x.shape[0], gen)
        groups = []
        for (b,), idx in _group_by([(int(v),) for v in which.tolist()]).items():
            groups.append((idx, x[idx.to(x.device)], ctx, list(self.branches[b])))
        return _Split(groups)


@dataclass(frozen=True)
class ClampStep(Step):
    prob: float = 1.0

    @classmethod
    def from_config(cls, cfg: dict, where: str) -> ClampStep:
        prob = _prob(cfg, where)
        _no_extra(cfg, where)
        return cls(prob=prob)

    def apply(self, x, ctx, gen):
        return x.clamp(0.0, 1.0), ctx


_LEAF_STEPS: dict[str, type] = {
    "blur": BlurStep, "resize": ResizeStep, "noise": NoiseStep, "jpeg": JpegStep,
    "stripe": StripeStep, "nonuniformity": NonUniformityStep, "vignetting": VignettingStep,
    "dead_hot": DeadHotStep, "quantize": QuantizeStep, "agc": AgcStep, "clamp": ClampStep,
}
STEP_OPS: tuple[str, ...] = (*_LEAF_STEPS, "shuffle", "choice")


def parse_steps(items: Any, where: str, *, _depth: int = 0) -> tuple[Step, ...]:
    """Read a list of step mappings (``{op: blur, ...}``) into :class:`Step` objects."""
    if _depth > 16:
        raise ConfigError(f"{where}: steps nested too deeply")
    if items is None:
        return ()
    if not isinstance(items, (list, tuple)):
        raise ConfigError(f"{where} must be a list of steps, got {type(items).__name__}")
    steps: list[Step] = []
    for i, item in enumerate(items):
        w = f"{where}[{i}]"
        if not isinstance(item, Mapping) or "op" not in item:
            raise ConfigError(f"{w} must be a mapping with an 'op' key, got {item!r}")
        cfg = dict(item)
        op = cfg.pop("op")
        w = f"{w} ({op})"
        if op in _LEAF_STEPS:
            steps.append(_LEAF_STEPS[op].from_config(cfg, w))
        elif op == "shuffle":
            prob = _prob(cfg, w)
            sub = parse_steps(cfg.pop("steps", None), f"{w}.steps", _depth=_depth + 1)
            _no_extra(cfg, w)
            steps.append(ShuffleStep(steps=sub, prob=prob))
        elif op == "choice":
            prob = _prob(cfg, w)
            branches = cfg.pop("branches", None)
            if not isinstance(branches, (list, tuple)) or not branches:
                raise ConfigError(f"{w}.branches must be a non-empty list")
            subs, weights = [], []
            for j, br in enumerate(branches):
                if not isinstance(br, Mapping):
                    raise ConfigError(f"{w}.branches[{j}] must be a mapping {{weight, steps}}")
                br = dict(br)
                weights.append(_parse_number(br.pop("weight", 1.0), f"{w}.branches[{j}].weight"))
                subs.append(parse_steps(br.pop("steps", None), f"{w}.branches[{j}].steps",
                                        _depth=_depth + 1))
                _no_extra(br, f"{w}.branches[{j}]")
            _check_weights(weights, len(subs), f"{w}.branches")
            _no_extra(cfg, w)
            steps.append(ChoiceStep(branches=tuple(subs), weights=tuple(weights), prob=prob))
        else:
            raise ConfigError(f"{w}: unknown op {op!r} (expected one of {', '.join(STEP_OPS)})")
    return tuple(steps)


# --------------------------------------------------------------------------------------------
# presets


@dataclass(frozen=True)
class Preset:
    """A named degradation pipeline; ``config`` is the mapping it was read from (YAML data),
    kept so checkpoints and reports can record exactly what made their LR."""

    name: str
    steps: tuple[Step, ...]
    description: str = ""
    config: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_dict(cls, cfg: Mapping[str, Any], *, name: str | None = None,
                  _depth: int = 0) -> Preset:
        """Build from a mapping with ``steps: [...]`` or ``mix: [{preset, weight}, ...]``."""
        if not isinstance(cfg, Mapping):
            raise ConfigError(f"a preset must be a mapping, got {type(cfg).__name__}")
        data = dict(cfg)
        pname = str(data.pop("name", name or "custom"))
        desc = str(data.pop("description", "") or "")
        where = f"preset {pname!r}"
        # what `irsrgan calibrate` measured: provenance only, recorded with the config
        measured = data.pop("measured", None)
        if measured is not None and not isinstance(measured, Mapping):
            raise ConfigError(f"{where}.measured must be a mapping, got {measured!r}")
        if "mix" in data and "steps" in data:
            raise ConfigError(f"{where}: give either 'steps' or 'mix', not both")
        if "mix" in data:
            items = data.pop("mix")
            if not isinstance(items, (list, tuple)) or not items:
                raise ConfigError(f"{where}.mix must be a non-empty list of {{preset, weight}}")
            branches, weights = [], []
            for j, it in enumerate(items):
                if not isinstance(it, Mapping) or "preset" not in it:
                    raise ConfigError(f"{where}.mix[{j}] must be a mapping with 'preset'")
                it = dict(it)
                sub = it.pop("preset")
                weights.append(_parse_number(it.pop("weight", 1.0), f"{where}.mix[{j}].weight"))
                _no_extra(it, f"{where}.mix[{j}]")
                if _depth > 8:
                    raise ConfigError(f"{where}: presets mix each other too deeply")
                if isinstance(sub, Mapping):
                    branches.append(cls.from_dict(sub, _depth=_depth + 1).steps)
                else:
                    branches.append(get_preset(str(sub), _depth=_depth + 1).steps)
            _check_weights(weights, len(branches), f"{where}.mix")
            steps: tuple[Step, ...] = (ChoiceStep(branches=tuple(branches),
                                                  weights=tuple(weights)),)
        else:
            steps = parse_steps(data.pop("steps", None), f"{where}.steps")
        _no_extra(data, where)
        return cls(name=pname, steps=steps, description=desc, config=dict(cfg))

    def __call__(self, hr: torch.Tensor, scale: int, generator: torch.Generator) -> torch.Tensor:
        return degrade(hr, scale, self, generator)


def _load_yaml(text: str, source: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None


def _parse_inline_mix(spec: str, depth: int) -> Preset:
    """``mix:bicubic=0.4,thermal=0.6`` (names or YAML paths)."""
    body = spec[len("mix:"):]
    items = []
    for part in filter(None, (p.strip() for p in body.split(","))):
        name, sep, weight = part.rpartition("=")
        if not sep or not name:
            raise ConfigError(f"preset {spec!r}: expected mix:NAME=WEIGHT,NAME=WEIGHT")
        items.append({"preset": name, "weight": _parse_number(weight, f"preset {spec!r}")})
    if not items:
        raise ConfigError(f"preset {spec!r}: expected mix:NAME=WEIGHT,NAME=WEIGHT")
    return Preset.from_dict({"name": spec, "mix": items}, _depth=depth)


def get_preset(name_or_path: str | Path | Preset | Mapping, *, _depth: int = 0) -> Preset:
    """A preset by built-in name (:data:`PRESET_NAMES`), YAML file path, inline
    ``mix:NAME=W,NAME=W`` or mapping. Raises :class:`ConfigError` naming what was wrong."""
    if isinstance(name_or_path, Preset):
        return name_or_path
    if isinstance(name_or_path, Mapping):
        return Preset.from_dict(name_or_path, _depth=_depth)
    spec = str(name_or_path)
    if spec in PRESET_NAMES:
        text = (resources.files("irsrgan") / "presets" / f"{spec}.yaml").read_text("utf-8")
        return Preset.from_dict(_load_yaml(text, f"built-in preset {spec}"), name=spec,
                                _depth=_depth)
    if spec.startswith("mix:"):
        return _parse_inline_mix(spec, _depth)
    path = Path(spec)
    if path.suffix.lower() in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError(f"preset file {spec} does not exist")
        data = _load_yaml(path.read_text("utf-8"), spec)
        return Preset.from_dict(data, name=path.stem, _depth=_depth)
    raise ConfigError(
        f"unknown preset {spec!r}: expected one of {', '.join(PRESET_NAMES)}, a YAML file, "
        "or mix:NAME=WEIGHT,..."
    )


def degrade(
    hr: torch.Tensor, scale: int, preset: str | Path | Preset, generator: torch.Generator
) -> torch.Tensor:
    """Make LR from HR with a preset; each sample gets its own independent draws.

    Args:
        hr: ``(B, C, H, W)`` float in [0, 1]. scale: integer factor >= 1.
        preset: a :class:`Preset` or anything :func:`get_preset` accepts.
        generator: every random choice comes from it (same seed, same LR).

    Returns:
        float32 ``(B, C, H // scale, W // scale)`` (exactly; a pipeline that ends elsewhere
        gets a final antialiased bicubic resize).
    """
    _check_image(hr, "hr")
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 1:
        raise ConfigError(f"scale must be an integer >= 1, got {scale!r}")
    if not isinstance(generator, torch.Generator):
        raise ConfigError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    h, w = hr.shape[-2:]
    if h // scale < 1 or w // scale < 1:
        raise ImageError(f"hr of size {h}x{w} is smaller than the scale {scale}")
    p = get_preset(preset)
    ctx = _Ctx(hr_size=(int(h), int(w)), target=(h // scale, w // scale), scale=float(scale))
    x = hr.float()
    with torch.no_grad():
        return _run(list(p.steps), x, ctx, generator).contiguous()


__all__ = [
    "PRESET_NAMES", "Preset", "add_gaussian_noise", "add_poisson_noise", "agc_8bit",
    "dead_hot_pixels", "degrade", "downsample_bicubic", "filter2d", "gaussian_blur",
    "gaussian_kernel", "generalized_gaussian_kernel", "get_preset", "jpeg", "nonuniformity",
    "parse_dist", "parse_steps", "plateau_kernel", "quantize", "resize", "sinc_kernel",
    "smooth_field", "stripe_noise", "vignetting",
]
