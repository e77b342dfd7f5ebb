"""The degradation operations: pure, seeded functions over image tensors.

Every operation takes ``(B, C, H, W)`` float tensors in [0, 1] (one channel or more, any bit
depth); nothing is quantised to 8 bits unless the operation says so (:func:`jpeg`,
:func:`quantize` with ``bits=8``, :func:`agc_8bit`). Every random choice is drawn from an
explicit :class:`torch.Generator`: the same seed gives the same output. Parameters that may
differ per sample accept a float or a ``(B,)`` tensor.

Blur kernels, :func:`filter2d`, :func:`resize`, gaussian/Poisson noise, JPEG, and the thermal
sensor's own effects (stripes, non-uniformity, vignetting, dead/hot pixels, ADC quantisation,
8-bit AGC export).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from ..errors import ConfigError
from ..image import check_image_tensor

ResizeMode = Literal["area", "bilinear", "bicubic", "bicubic_aa", "nearest"]
KernelKind = Literal[
    "iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso", "sinc"
]
RESIZE_MODES: tuple[str, ...] = ("area", "bilinear", "bicubic", "bicubic_aa", "nearest")
KERNEL_KINDS: tuple[str, ...] = (
    "iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso", "sinc"
)

Param = float | torch.Tensor


# --------------------------------------------------------------------------------------------
# helpers


def _check_image(x: torch.Tensor, name: str = "image") -> None:
    """The operations' input: a non-empty float ``(B, C, H, W)`` tensor (values in [0, 1])."""
    check_image_tensor(x, name, nonempty=True)


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


def _form_power(
    size: int, sigma_x: Param, sigma_y: Param | None, theta: Param, beta: Param,
    device: torch.device | str,
) -> torch.Tensor:
    """``(d^T Sigma^-1 d) ^ beta`` per sample, the shape of the generalized and plateau kernels."""
    q = _quadratic_form(size, sigma_x, sigma_y, theta, torch.device(device))
    bt = _b4(_per_sample(beta, q.shape[0], q.device, "beta"))[:, 0]
    return q.clamp_min(0).pow(bt)


def generalized_gaussian_kernel(
    size: int, sigma_x: Param, sigma_y: Param | None = None, theta: Param = 0.0,
    beta: Param = 1.0, device: torch.device | str = "cpu",
) -> torch.Tensor:
    """``exp(-0.5 * (d^T Sigma^-1 d) ^ beta)``: beta < 1 heavier tails, > 1 flatter top.

    Returns: ``(B, size, size)`` normalised.
    """
    return _normalise(torch.exp(-0.5 * _form_power(size, sigma_x, sigma_y, theta, beta, device)))


def plateau_kernel(
    size: int, sigma_x: Param, sigma_y: Param | None = None, theta: Param = 0.0,
    beta: Param = 1.0, device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Plateau-shaped kernel ``1 / (1 + (d^T Sigma^-1 d) ^ beta)`` (Real-ESRGAN).

    Returns: ``(B, size, size)`` normalised.
    """
    return _normalise(1.0 / (1.0 + _form_power(size, sigma_x, sigma_y, theta, beta, device)))


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


__all__ = [
    "KERNEL_KINDS", "RESIZE_MODES", "KernelKind", "Param", "ResizeMode", "add_gaussian_noise",
    "add_poisson_noise", "agc_8bit", "dead_hot_pixels", "downsample_bicubic", "filter2d",
    "gaussian_blur", "gaussian_kernel", "generalized_gaussian_kernel", "jpeg", "nonuniformity",
    "plateau_kernel", "quantize", "resize", "sinc_kernel", "smooth_field", "stripe_noise",
    "vignetting",
]
