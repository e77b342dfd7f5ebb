"""Image quality metrics: PSNR, SSIM, LPIPS, LPIPS-I and a referenced variant, high-frequency
energy ratio, radiometric error in native units, flicker of sequences (:class:`FlickerMeter`),
:func:`score` (PSNR/SSIM on the bit-depth scale: the one scorer of training's validation,
``irsrgan evaluate`` and ``irsrgan metrics``) and :func:`evaluate_pair`.

Every metric is a pure function over tensors ``(B, C, H, W)`` that returns one value per image,
shape ``(B,)``, computed in float64 (float32 on devices without float64). :class:`LPIPS` is the
only module: it holds the backbone and the learned linear weights.

Values are used as given: nothing is clamped. Clamp a network's output first, as writing it to
an image file would.

Conventions:

* **PSNR / SSIM** follow scikit-image (``peak_signal_noise_ratio``; ``structural_similarity``
  with ``gaussian_weights=True, sigma=1.5, use_sample_covariance=False``): 11x11 gaussian window
  (truncate 3.5), ``K1 = 0.01``, ``K2 = 0.03``, the SSIM map averaged over the region that the
  window covers fully (5 px in from each side), several channels averaged. ``crop_border``
  pixels are removed at each side first (papers use ``crop_border = scale``).
* The **Y channel** (BT.601, video range 16..235 of 255) exists only to compare with papers that
  report RGB results on Y. A gray image is treated as R = G = B, so Y is ``16/255 + 219/255 * x``
  and PSNR on gray data gains ``20 * log10(255 / 219) = 1.32 dB`` over the plain channel.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .backbones import load_backbone_features, to_imagenet_input
from .errors import CheckpointError, ConfigError, ImageError, WeightsMissingError
from .image import BT601_LUMA, Image, ValueMap, check_image_tensor, gray_unit

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# Constants (all in one place)
# ---------------------------------------------------------------------------------------------

#: SSIM gaussian window: sigma and truncation as scipy.ndimage / scikit-image use them; the
#: window radius is ``int(truncate * sigma + 0.5) = 5``, so the window is 11x11.
SSIM_SIGMA = 1.5
SSIM_TRUNCATE = 3.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03

#: BT.601 luma in "studio swing": ``Y = 16 + (65.481 R + 128.553 G + 24.966 B)`` for R, G, B in
#: [0, 1] and Y in 0..255 (the convention of SR papers and BasicSR), here divided by 255.
#: The weights are :data:`irsrgan.image.BT601_LUMA` times 219/255 (65.481 = 0.299 * 219).
BT601_Y_OFFSET = 16.0 / 255.0
BT601_Y_WEIGHTS = tuple(w * 219.0 / 255.0 for w in BT601_LUMA)

#: The 4-neighbour Laplacian of LPIPS-I.
LAPLACIAN_KERNEL = ((0.0, 1.0, 0.0), (1.0, -4.0, 1.0), (0.0, 1.0, 0.0))

#: LPIPS-I's Laplacian works on 8-bit values, as the seed's did: the unit range times 255.
LPIPS_I_PIXEL_SCALE = 255.0
#: LPIPS-I is defined only where ``log2(Var) > 0``, i.e. ``Var > 1``.
LPIPS_I_MIN_VARIANCE = 1.0

#: LPIPS (Zhang et al. 2018, v0.1): feature normalisation epsilon.
LPIPS_EPS = 1e-10
#: End indices (exclusive) in torchvision's ``features`` of the five LPIPS taps:
#: VGG16 relu1_2, relu2_2, relu3_3, relu4_3, relu5_3; AlexNet relu1 .. relu5.
LPIPS_TAPS = {"vgg": (4, 9, 16, 23, 30), "alex": (2, 5, 8, 10, 12)}
LPIPS_CHANNELS = {"vgg": (64, 128, 256, 512, 512), "alex": (64, 192, 384, 256, 256)}
LPIPS_BACKBONE = {"vgg": "vgg16", "alex": "alexnet"}
#: The smallest image side each backbone can reach its last tap with (1 px there).
LPIPS_MIN_SIZE = {"vgg": 16, "alex": 31}
LPIPS_VERSION = "v0.1"

LpipsNet = Literal["alex", "vgg"]
LpipsLike = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


# ---------------------------------------------------------------------------------------------
# Checks and small helpers
# ---------------------------------------------------------------------------------------------


def _check_pair(sr: torch.Tensor, hr: torch.Tensor) -> None:
    check_image_tensor(sr, "sr")
    check_image_tensor(hr, "hr")
    if sr.shape != hr.shape:
        raise ImageError(
            f"sr and hr must have the same shape, got {tuple(sr.shape)} and {tuple(hr.shape)}"
        )


def _check_data_range(data_range: float) -> float:
    if not (isinstance(data_range, (int, float)) and math.isfinite(data_range)) or data_range <= 0:
        raise ConfigError(f"data_range must be a positive finite number, got {data_range!r}")
    return float(data_range)


def _acc_dtype(x: torch.Tensor) -> torch.dtype:
    return torch.float32 if x.device.type == "mps" else torch.float64


def crop(x: torch.Tensor, border: int) -> torch.Tensor:
    """Remove ``border`` pixels at each side of ``(B, C, H, W)``.

    Raises:
        ConfigError: ``border`` is negative.
        ImageError: nothing would be left.
    """
    if not isinstance(border, int) or border < 0:
        raise ConfigError(f"crop_border must be a non-negative integer, got {border!r}")
    if border == 0:
        return x
    h, w = x.shape[-2:]
    if 2 * border >= h or 2 * border >= w:
        raise ImageError(f"crop_border {border} leaves nothing of a {h}x{w} image (H x W)")
    return x[..., border : h - border, border : w - border]


def rgb_to_y(x: torch.Tensor, *, data_range: float = 1.0) -> torch.Tensor:
    """BT.601 luma in studio swing (16..235 of 255), as SR papers compute it.

    ``(B, 3, H, W)`` RGB or ``(B, 1, H, W)`` gray (treated as R = G = B) -> ``(B, 1, H, W)``,
    in the same units as the input (``data_range`` is the value of white).
    """
    check_image_tensor(x, "image")
    c = x.shape[1]
    if c == 3:
        w = x.new_tensor(BT601_Y_WEIGHTS).view(1, 3, 1, 1)
        return BT601_Y_OFFSET * data_range + (x * w).sum(1, keepdim=True)
    if c == 1:
        return BT601_Y_OFFSET * data_range + sum(BT601_Y_WEIGHTS) * x
    raise ImageError(f"y_channel needs 1 (gray) or 3 (RGB) channels, got {c}")


def _prepare(
    sr: torch.Tensor, hr: torch.Tensor, crop_border: int, y_channel: bool, data_range: float
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """PSNR's and SSIM's arguments checked: the pair cropped, in the accumulation dtype (as
    BT.601 Y with ``y_channel``), and the data range as a float."""
    data_range = _check_data_range(data_range)
    _check_pair(sr, hr)
    dtype = _acc_dtype(sr)
    sr, hr = crop(sr, crop_border).to(dtype), crop(hr, crop_border).to(dtype)
    if y_channel:
        sr, hr = rgb_to_y(sr, data_range=data_range), rgb_to_y(hr, data_range=data_range)
    return sr, hr, data_range


# ---------------------------------------------------------------------------------------------
# PSNR, SSIM
# ---------------------------------------------------------------------------------------------


def psnr(sr: torch.Tensor, hr: torch.Tensor, *, data_range: float = 1.0, crop_border: int = 0,
         y_channel: bool = False) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB, one value per image.

    ``10 * log10(data_range**2 / MSE)`` with the MSE over all channels and pixels. Identical
    images (MSE = 0) give ``inf``, set explicitly.

    Args:
        sr, hr: ``(B, C, H, W)`` in the same units (the unit range by default).
        data_range: the value span of the bit depth in those units (1.0 for the unit range).
        crop_border: pixels removed at each side first.
        y_channel: compare BT.601 Y (papers' convention, see the module notes).

    Returns:
        ``(B,)`` float64.

    Example:
        >>> hr = torch.zeros(1, 1, 8, 8); psnr(hr + 0.1, hr)  # 20 dB
        tensor([20.0000], dtype=torch.float64)
    """
    sr, hr, data_range = _prepare(sr, hr, crop_border, y_channel, data_range)
    mse = (sr - hr).pow(2).flatten(1).mean(1)
    value = 10.0 * torch.log10(data_range**2 / mse.clamp_min(torch.finfo(mse.dtype).tiny))
    return torch.where(mse == 0, torch.full_like(mse, math.inf), value)


def _gaussian_1d(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    radius = ssim_window_size() // 2
    x = torch.arange(-radius, radius + 1, device=device, dtype=dtype)
    g = torch.exp(-0.5 * (x / SSIM_SIGMA) ** 2)
    return g / g.sum()


def ssim_window_size() -> int:
    """Side of the SSIM window (11): images must be at least this large after cropping."""
    return 2 * int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5) + 1


def ssim(sr: torch.Tensor, hr: torch.Tensor, *, data_range: float = 1.0, crop_border: int = 0,
         y_channel: bool = False) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004) with scikit-image's gaussian convention.

    Equal to ``skimage.metrics.structural_similarity(hr, sr, gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=data_range)`` (``channel_axis`` for several
    channels: the mean over channels).

    The arguments are :func:`psnr`'s; the images must be at least 11x11 after cropping.
    Returns ``(B,)`` float64, 1.0 for identical images.
    """
    sr, hr, data_range = _prepare(sr, hr, crop_border, y_channel, data_range)
    b, c, h, w = sr.shape
    win = ssim_window_size()
    if h < win or w < win:
        raise ImageError(f"ssim needs images of at least {win}x{win} after cropping, got {h}x{w}")
    g = _gaussian_1d(sr.device, sr.dtype)
    x = sr.reshape(b * c, 1, h, w)
    y = hr.reshape(b * c, 1, h, w)
    stack = torch.cat([x, y, x * x, y * y, x * y], dim=1)
    stack = F.conv2d(stack, g.view(1, 1, -1, 1).expand(5, 1, -1, 1), groups=5)
    stack = F.conv2d(stack, g.view(1, 1, 1, -1).expand(5, 1, 1, -1), groups=5)
    ux, uy, uxx, uyy, uxy = stack.unbind(1)
    vx, vy, vxy = uxx - ux * ux, uyy - uy * uy, uxy - ux * uy
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.flatten(1).mean(1).view(b, c).mean(1)


# ---------------------------------------------------------------------------------------------
# The one scorer of training's validation, `irsrgan evaluate` and `irsrgan metrics`
# ---------------------------------------------------------------------------------------------


def to_bit_depth_scale(
    x: torch.Tensor, value_map: ValueMap, scale_map: ValueMap
) -> torch.Tensor:
    """Model space (the unit range of ``value_map``) -> the metrics' scale (the unit range of
    ``scale_map``, :func:`irsrgan.image.bit_depth_map`), float64 (float32 on MPS)."""
    x = x.to(_acc_dtype(x))
    if value_map == scale_map:
        return x
    a = value_map.scale / scale_map.scale
    b = (value_map.offset - scale_map.offset) / scale_map.scale
    return x * a + b


def score(
    sr: torch.Tensor,
    hr: torch.Tensor,
    *,
    crop_border: int = 0,
    value_map: ValueMap | None = None,
    scale_map: ValueMap | None = None,
) -> dict[str, torch.Tensor]:
    """PSNR and SSIM of an SR/HR pair on the scale of the bit depth: the one scorer that
    training's validation, :func:`irsrgan.evaluate.evaluate` and ``irsrgan metrics`` use, so
    their numbers agree by construction.

    Args:
        sr, hr: ``(B, C, H, W)``; in model space (the unit range of ``value_map``) when the
            maps are given, else already on the bit depth's scale (data range 1).
        crop_border: pixels removed at each side first (the convention: the scale).
        value_map, scale_map: the model-space map of the HR and its bit depth's map
            (:func:`irsrgan.image.bit_depth_map`); give both or neither.

    Returns:
        ``{"psnr": (B,), "ssim": (B,)}`` float64, data range 1 on the bit depth's scale.

    Example:
        >>> from irsrgan.image import ValueMap
        >>> hr = torch.zeros(1, 1, 16, 16); sr = hr + 100 / 65535
        >>> score(sr, hr)["psnr"]  # already on the 16-bit scale: 100 counts off
        tensor([56.3295], dtype=torch.float64)
        >>> stretch, full = ValueMap(1000.0, 1000.0), ValueMap(0.0, 65535.0)
        >>> score(hr + 0.1, hr, value_map=stretch, scale_map=full)["psnr"]  # the same 100
        tensor([56.3295], dtype=torch.float64)
    """
    if (value_map is None) != (scale_map is None):
        raise ConfigError("score: give value_map and scale_map together, or neither")
    if value_map is not None:
        sr = to_bit_depth_scale(sr, value_map, scale_map)
        hr = to_bit_depth_scale(hr, value_map, scale_map)
    return {"psnr": psnr(sr, hr, crop_border=crop_border),
            "ssim": ssim(sr, hr, crop_border=crop_border)}


# ---------------------------------------------------------------------------------------------
# Laplacian energy, LPIPS-I, the referenced variant, HF energy ratio
# ---------------------------------------------------------------------------------------------


def laplacian(x: torch.Tensor) -> torch.Tensor:
    """4-neighbour Laplacian ``[[0,1,0],[1,-4,1],[0,1,0]]`` per channel, same size as ``x``.

    Border: reflect-101 (``d c b | a b c d``: the edge pixel is not repeated), OpenCV's default,
    so this equals ``cv2.Laplacian(img, cv2.CV_64F)`` (``ksize=1``). Needs H, W >= 2.
    """
    check_image_tensor(x, "image")
    b, c, h, w = x.shape
    if h < 2 or w < 2:
        raise ImageError(f"the Laplacian needs images of at least 2x2, got {h}x{w}")
    k = x.new_tensor(LAPLACIAN_KERNEL).view(1, 1, 3, 3)
    padded = F.pad(x.reshape(b * c, 1, h, w), (1, 1, 1, 1), mode="reflect")
    return F.conv2d(padded, k).view(b, c, h, w)


def laplacian_variance(x: torch.Tensor, *, pixel_scale: float = 1.0) -> torch.Tensor:
    """Population variance of :func:`laplacian` over the whole image (all channels and pixels).

    Args:
        x: ``(B, C, H, W)``.
        pixel_scale: multiply the values first (255 gives 8-bit units, as LPIPS-I uses).

    Returns:
        ``(B,)`` float64, in ``pixel_scale`` units squared.
    """
    check_image_tensor(x, "image")
    lap = laplacian(x.to(_acc_dtype(x)) * pixel_scale)
    return lap.flatten(1).var(1, correction=0)


def _distances(lpips_fn: LpipsLike | torch.Tensor, hr: torch.Tensor, sr: torch.Tensor):
    if isinstance(lpips_fn, torch.Tensor):
        d = lpips_fn
    elif callable(lpips_fn):
        d = lpips_fn(hr, sr)
    else:
        raise ConfigError(
            f"lpips_fn must be a callable (hr, sr) -> (B,) or a (B,) tensor, got "
            f"{type(lpips_fn).__name__}"
        )
    d = torch.as_tensor(d).detach().to(device=sr.device, dtype=_acc_dtype(sr)).reshape(-1)
    if d.numel() != sr.shape[0]:
        raise ConfigError(
            f"lpips_fn must give one distance per image ({sr.shape[0]}), got {d.numel()}"
        )
    return d


def lpips_i(sr: torch.Tensor, hr: torch.Tensor, lpips_fn: LpipsLike | torch.Tensor, *,
            pixel_scale: float = LPIPS_I_PIXEL_SCALE) -> torch.Tensor:
    """The seed's LPIPS-I: ``log2(Var(Laplacian(SR))) / LPIPS_vgg(HR, SR)``, higher is "better".

    Exactly as the seed defined it: the 4-neighbour Laplacian ``[[0,1,0],[1,-4,1],[0,1,0]]`` of
    SR (reflect-101 border, see :func:`laplacian`), the population variance over the whole SR
    image, and LPIPS with the VGG16 backbone. The seed computed it on 8-bit images, so by
    default the Laplacian works on ``sr * 255`` and Var is in 8-bit units squared whatever the
    input's bit depth (``pixel_scale`` changes that; 65535 adds ``2*log2(257) = 16`` to the
    numerator). The seed's SR was also quantised to 8 bits, which adds about ``20/12 = 1.7`` to
    Var (uniform rounding noise through the kernel's gain 1+1+1+1+16); values read from 8-bit
    files include it, float network outputs do not: round them first to reproduce the seed.

    Properties (why it is reported, not optimised for): the numerator looks at SR alone, so it
    rewards any high-frequency energy, noise, ringing and JPEG blocking included; it grows only
    logarithmically while ``1/LPIPS`` grows without bound near SR = HR; its unit depends on the
    pixel scale. It is undefined, and returned as NaN (never inf or a negative value), where

    * ``Var <= 1`` (``log2(Var) <= 0``: a flat or almost flat SR; the ratio would be zero or
      negative, meaningless for a "higher is better" score), or
    * ``LPIPS <= 0`` or not finite (SR perceptually identical to HR: division by zero).

    Args:
        sr, hr: ``(B, C, H, W)`` in the unit range.
        lpips_fn: ``(hr, sr) -> (B,)`` distances (an :class:`LPIPS` with ``net="vgg"``), or the
            ``(B,)`` distances already computed.
        pixel_scale: the Laplacian's pixel scale (255: the seed's 8-bit units).

    Returns:
        ``(B,)`` float64, NaN where undefined.
    """
    _check_pair(sr, hr)
    var = laplacian_variance(sr, pixel_scale=pixel_scale)
    d = _distances(lpips_fn, hr, sr)
    value = torch.log2(var.clamp_min(LPIPS_I_MIN_VARIANCE)) / d.clamp_min(LPIPS_EPS)
    flat = ~(var > LPIPS_I_MIN_VARIANCE)
    zero = ~(d > 0) | ~torch.isfinite(d)
    for i in torch.nonzero(flat | zero).flatten().tolist():
        reason = "Var(Laplacian(SR)) <= 1" if flat[i] else "LPIPS(HR, SR) is 0 or not finite"
        logger.info("LPIPS-I undefined for image %d of the batch: %s", i, reason)
    return torch.where(flat | zero, torch.full_like(value, math.nan), value)


def lpips_i_ref(sr: torch.Tensor, hr: torch.Tensor, lpips_fn: LpipsLike | torch.Tensor, *,
                pixel_scale: float = LPIPS_I_PIXEL_SCALE) -> torch.Tensor:
    """A referenced LPIPS-I: the HR's own sharpness, discounted by the SR's sharpness mismatch.

    ``log2(Var_HR) * min(Var_SR, Var_HR) / max(Var_SR, Var_HR) / LPIPS(HR, SR)`` with
    ``Var = Var(Laplacian(.))`` as in :func:`lpips_i`.

    Why: LPIPS-I's numerator looks at SR alone, so adding noise raises it. Here the numerator is
    the HR's sharpness (a constant for a given test image, so methods are ranked by
    ``agreement / LPIPS``) times the agreement ``min(r, 1/r)`` of the Laplacian energy ratio
    ``r = Var_SR / Var_HR`` (:func:`hf_energy_ratio`): 1 when SR is exactly as sharp as HR,
    ``r`` for a blurrier SR, ``1/r`` for noise, ringing or over-sharpening, so blur and excess
    high frequencies by the same factor cost the same. It equals LPIPS-I whenever the SR's
    Laplacian energy matches the HR's, stays in LPIPS-I's units, and is never negative.

    Undefined (NaN) where ``Var_HR <= 1`` (a flat HR gives no sharpness reference) or the
    distance is 0 or not finite. A flat SR on a textured HR gives 0 (defined: the worst score).

    Returns:
        ``(B,)`` float64.
    """
    _check_pair(sr, hr)
    v_sr = laplacian_variance(sr, pixel_scale=pixel_scale)
    v_hr = laplacian_variance(hr, pixel_scale=pixel_scale)
    d = _distances(lpips_fn, hr, sr)
    agreement = torch.minimum(v_sr, v_hr) / torch.maximum(v_sr, v_hr).clamp_min(LPIPS_EPS)
    value = (
        torch.log2(v_hr.clamp_min(LPIPS_I_MIN_VARIANCE)) * agreement / d.clamp_min(LPIPS_EPS)
    )
    undefined = ~(v_hr > LPIPS_I_MIN_VARIANCE) | ~(d > 0) | ~torch.isfinite(d)
    return torch.where(undefined, torch.full_like(value, math.nan), value)


def hf_energy_ratio(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """High-frequency energy of SR relative to HR: ``Var(Laplacian(SR)) / Var(Laplacian(HR))``.

    Needs no pretrained weights. 1.0: as sharp as HR; below 1: blurrier; above 1: more
    high-frequency energy than HR (noise, ringing, over-sharpening, hallucinated texture).
    Scale-free (the pixel scale cancels), insensitive to a brightness offset.

    Returns:
        ``(B,)`` float64; NaN where HR has no high-frequency energy (a flat HR).
    """
    _check_pair(sr, hr)
    v_sr, v_hr = laplacian_variance(sr), laplacian_variance(hr)
    ratio = v_sr / v_hr.clamp_min(torch.finfo(v_hr.dtype).tiny)
    return torch.where(v_hr > 0, ratio, torch.full_like(ratio, math.nan))


def stripe_residual(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """Column-stripe artefacts of SR against HR: the RMS over columns of the column means of
    ``SR - HR``, after removing the overall mean (in the tensors' units).

    Zero when SR's error has no column structure; a model that leaves (or adds) fixed-pattern
    column stripes scores high. Row stripes are the same on the transposed images.

    Returns:
        ``(B,)`` float64, the mean over channels.
    """
    _check_pair(sr, hr)
    diff = (sr.double() - hr.double()).mean(dim=-2)  # (B, C, W): column means
    diff = diff - diff.mean(dim=-1, keepdim=True)
    return diff.square().mean(dim=-1).sqrt().mean(dim=1)


def local_gradient(x: torch.Tensor, window: int) -> torch.Tensor:
    """Mean absolute gradient ``|dx| + |dy|`` over a ``window`` x ``window`` box around each
    pixel (same size as ``x``, float64)."""
    x = check_image_tensor(x, "x").double()
    dx = (x[..., :, 1:] - x[..., :, :-1]).abs()
    dy = (x[..., 1:, :] - x[..., :-1, :]).abs()
    g = F.pad(dx, (0, 1, 0, 0), mode="replicate") + F.pad(dy, (0, 0, 0, 1), mode="replicate")
    pad = window // 2
    g = F.pad(g, (pad, window - 1 - pad, pad, window - 1 - pad), mode="replicate")
    return F.avg_pool2d(g, window, stride=1)


def faceting(sr: torch.Tensor, reference: torch.Tensor, *, window: int = 4,
             flat_ratio: float = 0.25) -> torch.Tensor:
    """No-reference "flat facets" figure: the share of the reference's structured pixels
    where SR is flat.

    ``reference`` is the bicubic upscale of the same LR (smooth but faithful: it keeps every
    gentle gradient of the input). A pixel is *structured* where the reference's local
    gradient (:func:`local_gradient`, ``window`` px box) is at least half its median over the
    image, and *faceted* where SR's local gradient there is below ``flat_ratio`` times the
    reference's: a gradient the input has, flattened into a plateau (the "painterly",
    shattered-glass look). 0 = none; bicubic itself scores 0. Sharpening edges does not
    count (it raises SR's gradient); denoising flat noise does not count (no structure).

    Returns:
        ``(B,)`` float64 in [0, 1], the mean over channels.
    """
    _check_pair(sr, reference)
    g_sr, g_ref = local_gradient(sr, window), local_gradient(reference, window)
    floor = 0.5 * g_ref.flatten(-2).median(dim=-1).values[..., None, None]
    structured = (g_ref >= floor) & (g_ref > 0)
    flat = structured & (g_sr < flat_ratio * g_ref)
    share = flat.double().sum(dim=(-2, -1)) / structured.double().sum(dim=(-2, -1)).clamp_min(1)
    return share.mean(dim=1)


def overshoot(sr: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
    """How far SR's maximum passes the LR's, as a share of the LR's range (0 when it does
    not): hot spots that an upscaler invents above what the sensor read.

    Returns:
        ``(B,)`` float64, the largest over channels.
    """
    sr, lr = check_image_tensor(sr, "sr").double(), check_image_tensor(lr, "lr").double()
    hi, lo = lr.amax(dim=(-2, -1)), lr.amin(dim=(-2, -1))
    over = (sr.amax(dim=(-2, -1)) - hi).clamp_min(0) / (hi - lo).clamp_min(1e-12)
    return over.amax(dim=1)


# ---------------------------------------------------------------------------------------------
# LPIPS
# ---------------------------------------------------------------------------------------------


def lpips_package_weights_path(net: LpipsNet) -> Path | None:
    """The v0.1 linear-layer weights inside an installed ``lpips`` package, without importing it.

    Returns ``None`` when the package is not installed.
    """
    try:
        spec = importlib.util.find_spec("lpips")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    return root / "weights" / LPIPS_VERSION / f"{net}.pth"


def load_lpips_lin_weights(
    net: LpipsNet, path: str | os.PathLike | None = None
) -> list[torch.Tensor]:
    """The learned 1x1 ``lin`` weights of LPIPS v0.1 (Zhang et al.) for ``net``.

    They are not part of torchvision. Looked for in ``path`` when given, else in the installed
    ``lpips`` PyPI package (``lpips/weights/v0.1/{net}.pth``, read with ``weights_only=True``;
    the package itself is never imported nor required).

    Returns:
        Five tensors of shape ``(C_l,)``, one per tap.

    Raises:
        WeightsMissingError: neither place has the file (the message names where it looked).
        CheckpointError: the file is not such a state dict.
    """
    if net not in LPIPS_CHANNELS:
        raise ConfigError(f"LPIPS net must be 'alex' or 'vgg', got {net!r}")
    if path is not None:
        candidate = Path(path)
        looked = [str(candidate)]
    else:
        candidate = lpips_package_weights_path(net)
        looked = [
            str(candidate) if candidate is not None
            else "the lpips PyPI package (not installed)"
        ]
    if candidate is None or not candidate.is_file():
        raise WeightsMissingError(
            f"LPIPS {LPIPS_VERSION} linear-layer weights for {net!r} not found: looked in "
            f"{', '.join(looked)}; they are not part of torchvision.",
            f"Pass the {net}.pth file of the LPIPS {LPIPS_VERSION} release (lin_weights=PATH), "
            "install the optional 'lpips' package (which ships it), or use lin=False "
            "(uncalibrated equal weights, not LPIPS)."
        )
    try:
        state = torch.load(candidate, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises many types on foreign files
        raise CheckpointError(f"{candidate}: cannot read LPIPS weights: {exc}") from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(f"{candidate}: expected a state dict, got {type(state).__name__}")
    weights = []
    for i, channels in enumerate(LPIPS_CHANNELS[net]):
        key = next((k for k in (f"lin{i}.model.1.weight", f"lin{i}.weight") if k in state), None)
        if key is None:
            raise CheckpointError(
                f"{candidate}: missing key lin{i}.model.1.weight (LPIPS {LPIPS_VERSION} {net})"
            )
        w = state[key]
        if not isinstance(w, torch.Tensor) or w.numel() != channels:
            got = tuple(w.shape) if isinstance(w, torch.Tensor) else type(w).__name__
            raise CheckpointError(
                f"{candidate}: {key} must hold {channels} weights (1, {channels}, 1, 1) for "
                f"LPIPS-{net}, got {got}"
            )
        weights.append(w.detach().float().reshape(channels))
    return weights


def lpips_from_features(
    feats_a: Sequence[torch.Tensor],
    feats_b: Sequence[torch.Tensor],
    lin_weights: Sequence[torch.Tensor],
    *,
    out_size: tuple[int, int] | None = None,
) -> torch.Tensor:
    """LPIPS from backbone taps: per tap, unit-normalise features over channels, square the
    difference, weight channels by ``lin_weights``, average over space; sum over taps.

    Args:
        feats_a, feats_b: the taps of the two images, each ``(B, C_l, H_l, W_l)``.
        lin_weights: ``(C_l,)`` per tap (all ones: the uncalibrated ``lin=False`` variant).
        out_size: give ``(H, W)`` for the spatial map: each tap's map upsampled bilinearly
            (``align_corners=False``) to that size, summed.

    Returns:
        ``(B,)``, or ``(B, 1, H, W)`` with ``out_size``.
    """
    total = None
    for fa, fb, w in zip(feats_a, feats_b, lin_weights, strict=True):
        na = fa / (fa.pow(2).sum(1, keepdim=True).sqrt() + LPIPS_EPS)
        nb = fb / (fb.pow(2).sum(1, keepdim=True).sqrt() + LPIPS_EPS)
        layer = ((na - nb).pow(2) * w.to(fa).view(1, -1, 1, 1)).sum(1, keepdim=True)
        if out_size is None:
            layer = layer.mean((1, 2, 3))
        else:
            layer = F.interpolate(layer, size=out_size, mode="bilinear", align_corners=False)
        total = layer if total is None else total + layer
    return total


class LPIPS(nn.Module):
    """Learned Perceptual Image Patch Similarity (Zhang et al. 2018, v0.1), lower is closer.

    The image (one channel repeated to three) is ImageNet-normalised, which is exactly LPIPS's
    scaling layer (its shift/scale on [-1, 1] input are the ImageNet mean/std on [0, 1]), fed to
    torchvision's VGG16 or AlexNet ``features``, and compared at five ReLU taps.

    Args:
        net: ``"vgg"`` (VGG16, the one LPIPS-I uses) or ``"alex"`` (AlexNet, LPIPS's default).
        lin: ``True``: the learned v0.1 linear weights (see :func:`load_lpips_lin_weights`);
            ``False``: equal weights (sum over channels), an uncalibrated distance that is
            **not LPIPS** and whose numbers must not be reported as such.
        backbone_weights: ImageNet weights file of the backbone; default torchvision's cache.
        lin_weights: the v0.1 ``{net}.pth`` linear-weights file; default the ``lpips`` package.
        pretrained_backbone: ``False`` gives a random backbone (tests only).

    Raises:
        WeightsMissingError: backbone or linear weights are not available offline.

    Shape:
        ``forward(sr, hr)``: ``(B, 1 or 3, H, W)`` each -> ``(B,)``; with ``spatial=True``
        ``(B, 1, H, W)`` (whose mean is close to, not equal to, the scalar).
    """

    def __init__(
        self,
        net: LpipsNet = "vgg",
        *,
        lin: bool = True,
        backbone_weights: str | os.PathLike | None = None,
        lin_weights: str | os.PathLike | None = None,
        pretrained_backbone: bool = True,
    ) -> None:
        super().__init__()
        if net not in LPIPS_TAPS:
            raise ConfigError(f"LPIPS net must be 'alex' or 'vgg', got {net!r}")
        self.net = net
        self.calibrated = bool(lin)
        missing: list[WeightsMissingError] = []  # both missing files at once, not one by one
        weights = [torch.ones(c) for c in LPIPS_CHANNELS[net]]
        if lin:
            try:
                weights = load_lpips_lin_weights(net, lin_weights)
            except WeightsMissingError as exc:
                missing.append(exc)
        try:
            self.features = load_backbone_features(
                LPIPS_BACKBONE[net], backbone_weights, pretrained=pretrained_backbone
            )
        except WeightsMissingError as exc:
            missing.append(exc)
        if missing:
            raise WeightsMissingError(" Also: ".join(e.what for e in missing),
                                      " ".join(e.advice for e in missing))
        for i, w in enumerate(weights):
            self.register_buffer(f"lin{i}", w)

    @property
    def lin_weights(self) -> list[torch.Tensor]:
        return [getattr(self, f"lin{i}") for i in range(len(LPIPS_TAPS[self.net]))]

    def taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The five ReLU outputs of ``x`` (``(B, 1 or 3, H, W)`` in [0, 1])."""
        taps = LPIPS_TAPS[self.net]
        h = to_imagenet_input(x)
        out = []
        for idx, layer in enumerate(self.features):
            if idx >= taps[-1]:
                break
            h = layer(h)
            if idx + 1 in taps:
                out.append(h)
        return out

    def forward(
        self, sr: torch.Tensor, hr: torch.Tensor, *, spatial: bool = False
    ) -> torch.Tensor:
        _check_pair(sr, hr)
        b, c, h, w = sr.shape
        if c not in (1, 3):
            raise ImageError(f"LPIPS needs 1 or 3 channels, got {c}")
        if min(h, w) < LPIPS_MIN_SIZE[self.net]:
            raise ImageError(
                f"LPIPS-{self.net} needs images of at least {LPIPS_MIN_SIZE[self.net]} px a side, "
                f"got {h}x{w}"
            )
        dtype = self.lin0.dtype
        feats = self.taps(torch.cat([sr, hr]).to(dtype))
        fa = [f[:b] for f in feats]
        fb = [f[b:] for f in feats]
        return lpips_from_features(
            fa, fb, self.lin_weights, out_size=(h, w) if spatial else None
        )


def build_lpips(
    net: LpipsNet = "vgg",
    *,
    lin_weights: str | os.PathLike | None = None,
    backbone_weights: str | os.PathLike | None = None,
    notes: list[str] | None = None,
    advice: str | None = None,
) -> LPIPS | None:
    """The calibrated :class:`LPIPS` module, built in this one place for ``irsrgan metrics``
    and ``irsrgan evaluate``, in eval mode.

    Explicit weight files that are missing are an error. Without them, when the default
    weights are not available offline, ``notes`` given: returns ``None`` and appends one line
    (what is missing, and ``advice`` on how to supply it, in the caller's words: a command
    names its options); ``notes`` not given: raises.

    Raises:
        WeightsMissingError: a weight file is not available (see above).
    """
    try:
        return LPIPS(net, lin_weights=lin_weights, backbone_weights=backbone_weights).eval()
    except WeightsMissingError as exc:
        if notes is None or lin_weights is not None or backbone_weights is not None:
            if advice is not None:
                raise WeightsMissingError(exc.what, advice) from None
            raise
        left_out = "LPIPS, LPIPS-I and LPIPS-I-ref" if net == "vgg" else "LPIPS"
        notes.append(f"{left_out} left out: {exc.what} {exc.advice if advice is None else advice}"
                     .strip())
        return None


# ---------------------------------------------------------------------------------------------
# Radiometric error
# ---------------------------------------------------------------------------------------------


class RadiometricError(NamedTuple):
    """Errors in the data's native units (raw counts, kelvin, degrees Celsius...)."""

    mae: float
    rmse: float
    bias: float  # mean of SR - HR: a brightening or darkening of the whole image
    n_valid: int  # pixels compared (non-finite values in either image are left out)


def radiometric_error(
    sr_native: np.ndarray, hr_native: np.ndarray, *, crop_border: int = 0
) -> RadiometricError:
    """MAE, RMSE and bias of SR against HR in the input's native units.

    Computed in float64 after casting (never on the integer arrays, whose subtraction wraps
    around: the seed's PSNR bug). Non-finite values (NaN marks invalid pixels in some
    radiometric files) are left out in both images.

    Args:
        sr_native, hr_native: arrays of the same shape, ``(H, W)`` or ``(H, W, C)`` as stored.
        crop_border: pixels removed at each side of the first two axes.
    """
    for name, a in (("sr_native", sr_native), ("hr_native", hr_native)):
        if not isinstance(a, np.ndarray) or a.ndim not in (2, 3):
            got = a.shape if isinstance(a, np.ndarray) else type(a).__name__
            raise ImageError(f"{name} must be a numpy array (H, W) or (H, W, C), got {got}")
        if a.dtype.kind not in "uif":
            raise ImageError(f"{name} must hold numbers, got dtype {a.dtype}")
    if sr_native.shape != hr_native.shape:
        raise ImageError(
            f"sr_native and hr_native must have the same shape, got {sr_native.shape} and "
            f"{hr_native.shape}"
        )
    if not isinstance(crop_border, int) or crop_border < 0:
        raise ConfigError(f"crop_border must be a non-negative integer, got {crop_border!r}")
    if crop_border:
        h, w = sr_native.shape[:2]
        if 2 * crop_border >= h or 2 * crop_border >= w:
            raise ImageError(f"crop_border {crop_border} leaves nothing of a {h}x{w} image")
        sl = (slice(crop_border, h - crop_border), slice(crop_border, w - crop_border))
        sr_native, hr_native = sr_native[sl], hr_native[sl]
    diff = sr_native.astype(np.float64) - hr_native.astype(np.float64)
    diff = diff[np.isfinite(diff)]
    if diff.size == 0:
        return RadiometricError(math.nan, math.nan, math.nan, 0)
    return RadiometricError(
        mae=float(np.abs(diff).mean()),
        rmse=float(np.sqrt(np.mean(diff * diff))),
        bias=float(diff.mean()),
        n_valid=int(diff.size),
    )


# ---------------------------------------------------------------------------------------------
# One pair, every metric
# ---------------------------------------------------------------------------------------------


def _name(img: object, fallback: str) -> str:
    path = getattr(img, "path", None)
    return str(path) if path is not None else fallback


def _as_tensor(x: np.ndarray | torch.Tensor, name: str) -> torch.Tensor:
    t = torch.as_tensor(np.ascontiguousarray(x)) if isinstance(x, np.ndarray) else x
    if not isinstance(t, torch.Tensor):
        raise ImageError(f"{name} must be an Image, a numpy array or a tensor, got {type(x)}")
    if t.ndim == 2:
        t = t[None, None]
    elif t.ndim == 3:
        t = t[None]
    if t.ndim != 4 or t.shape[0] != 1:
        raise ImageError(f"{name} must be (H, W), (C, H, W) or (1, C, H, W), got {tuple(t.shape)}")
    return t.float()


def unit_pair(sr_img: Image, hr_img: Image) -> tuple[np.ndarray, np.ndarray]:
    """Two images as gray ``(H, W)`` float32 arrays on one scale, with data range 1.0.

    Integer dtypes: :func:`irsrgan.image.gray_unit` (the full range of the bit depth: 255 for
    uint8, 65535 for uint16). Float images (temperatures, radiance) have no bit depth: both are
    mapped by the HR's min..max, so the data range is the HR's dynamic range.

    Raises:
        ImageError: sizes differ (both files named), or a float image has non-finite pixels.
    """
    if (sr_img.height, sr_img.width) != (hr_img.height, hr_img.width):
        raise ImageError(
            f"sizes differ: SR {_name(sr_img, 'sr')} is {sr_img.width}x{sr_img.height}, "
            f"HR {_name(hr_img, 'hr')} is {hr_img.width}x{hr_img.height} (W x H)"
        )
    sr, hr = gray_unit(sr_img), gray_unit(hr_img)
    if hr_img.dtype.kind == "f" or sr_img.dtype.kind == "f":
        for img, arr, role in ((sr_img, sr, "SR"), (hr_img, hr, "HR")):
            bad = int((~np.isfinite(arr)).sum())
            if bad:
                raise ImageError(
                    f"{role} {_name(img, role.lower())} has {bad} non-finite pixels; "
                    "PSNR/SSIM need finite values (the radiometric error leaves them out)"
                )
    if hr_img.dtype.kind == "f":
        lo, hi = float(hr.min()), float(hr.max())
        span = hi - lo if hi > lo else 1.0
        hr = ((hr.astype(np.float64) - lo) / span).astype(np.float32)
        if sr_img.dtype.kind == "f":
            sr = ((sr.astype(np.float64) - lo) / span).astype(np.float32)
    return sr, hr


def evaluate_pair(
    sr_img: Image | np.ndarray | torch.Tensor,
    hr_img: Image | np.ndarray | torch.Tensor,
    *,
    crop_border: int = 0,
    lpips_fn: LpipsLike | None = None,
    pixel_scale: float = LPIPS_I_PIXEL_SCALE,
) -> dict[str, float]:
    """Every metric of one SR/HR pair (`irsrgan metrics`); PSNR and SSIM come from :func:`score`.

    Images (:class:`irsrgan.image.Image`) are compared in gray on the scale of their bit depth
    (:func:`unit_pair`); arrays and tensors (``(H, W)``, ``(C, H, W)`` or ``(1, C, H, W)``) are
    taken to be in the unit range already. ``crop_border`` pixels go at each side first.

    Returns:
        ``psnr`` (dB), ``ssim``, ``hf_ratio``; with ``lpips_fn``: ``lpips`` and, unless it is
        an :class:`LPIPS` with a backbone other than VGG (LPIPS-I is defined on VGG),
        ``lpips_i`` and ``lpips_i_ref``; for two Images of the same non-8-bit dtype: ``mae``,
        ``rmse`` and ``bias`` in native units. Undefined values are NaN, identical images give
        PSNR inf.
    """
    if isinstance(sr_img, Image) and isinstance(hr_img, Image):
        sr_arr, hr_arr = unit_pair(sr_img, hr_img)
        sr, hr = _as_tensor(sr_arr, "sr_img"), _as_tensor(hr_arr, "hr_img")
    else:
        sr = _as_tensor(gray_unit(sr_img) if isinstance(sr_img, Image) else sr_img, "sr_img")
        hr = _as_tensor(gray_unit(hr_img) if isinstance(hr_img, Image) else hr_img, "hr_img")
        if sr.shape != hr.shape:
            raise ImageError(
                f"sr_img and hr_img must have the same shape, got {tuple(sr.shape)} and "
                f"{tuple(hr.shape)}"
            )
    sr, hr = crop(sr, crop_border), crop(hr, crop_border)
    scores = score(sr, hr)
    out = {
        "psnr": float(scores["psnr"][0]),
        "ssim": float(scores["ssim"][0]),
        "hf_ratio": float(hf_energy_ratio(sr, hr)[0]),
    }
    if lpips_fn is not None:
        if isinstance(lpips_fn, nn.Module):
            device = next(iter(lpips_fn.buffers()), torch.empty(0)).device
            sr, hr = sr.to(device), hr.to(device)
        with torch.no_grad():
            d = _distances(lpips_fn, hr, sr)
        out["lpips"] = float(d[0])
        if getattr(lpips_fn, "net", "vgg") == "vgg":
            out["lpips_i"] = float(lpips_i(sr, hr, d, pixel_scale=pixel_scale)[0])
            out["lpips_i_ref"] = float(lpips_i_ref(sr, hr, d, pixel_scale=pixel_scale)[0])
    if (
        isinstance(sr_img, Image)
        and isinstance(hr_img, Image)
        and sr_img.dtype == hr_img.dtype
        and sr_img.dtype != np.uint8
    ):
        rad = radiometric_error(
            sr_img.channels().transpose(1, 2, 0),
            hr_img.channels().transpose(1, 2, 0),
            crop_border=crop_border,
        )
        out.update(mae=rad.mae, rmse=rad.rmse, bias=rad.bias)
    return out


# ---------------------------------------------------------------------------------------------
# Flicker (temporal consistency of a sequence)
# ---------------------------------------------------------------------------------------------

#: Flicker: the frame difference of the reference is blurred with this gaussian (sigma in
#: reference pixels, window radius ``int(3.5 * sigma + 0.5)``) before deciding what is static,
#: so that sensor noise alone does not mark a pixel as moving.
FLICKER_SIGMA = 1.5
#: A reference pixel is static where its blurred change between two frames is at most this
#: (unit range: 2.55 grey levels of 8 bits).
FLICKER_THRESHOLD = 0.01


class Flicker(NamedTuple):
    """Temporal change on static pixels (unit range, RMS over pixels, channels and frame
    pairs) of a sequence and of its reference, and their ratio."""

    flicker: float
    reference: float  # the same for the reference (bicubic upscale of LR, or HR itself)
    ratio: float  # flicker / reference: 1 = as steady as the reference; NaN if reference = 0
    static_fraction: float  # share of pixels that were static, over all frame pairs
    pairs: int  # frame pairs measured


class FlickerMeter:
    """Flicker of a sequence, accumulated frame by frame (memory: one frame pair).

    For frames ``t - 1, t`` of the sequence ``y`` and of its reference ``r`` (the LR input, or
    the HR ground truth when it has ``y``'s size):

    * *static* pixels: ``|G * (r_t - r_{t-1})| <= threshold`` (``G``: gaussian of
      :data:`FLICKER_SIGMA` reference pixels, mean over channels), nearest-upscaled to
      ``y``'s grid;
    * the reference's change: ``b_t - b_{t-1}`` with ``b`` the bicubic upscale of ``r``
      (``align_corners=False``, unclamped; ``r`` itself when it has ``y``'s size);
    * ``flicker = RMS(y_t - y_{t-1})`` and ``reference = RMS(b_t - b_{t-1})`` over the static
      pixels of every pair, and ``ratio = flicker / reference``.

    So on pixels where the input does not move, ``ratio`` compares how much the output changes
    from frame to frame with how much bicubic upscaling of the same input changes: bicubic
    scores exactly 1, an upscaler that amplifies frame-to-frame noise or renders texture
    differently in every frame scores above 1, one that steadies it below 1. Moving pixels
    are left out (a warping error after optical flow would be needed there).

    Shape:
        ``update(y, r)``: ``(C, H, W)`` or ``(1, C, H, W)``, ``r`` ``(C, H / s, W / s)`` for an
        integer ``s >= 1``, both in the unit range.
    """

    def __init__(self, *, sigma: float = FLICKER_SIGMA,
                 threshold: float = FLICKER_THRESHOLD) -> None:
        if not sigma > 0 or not threshold >= 0:
            raise ConfigError(f"flicker needs sigma > 0 and threshold >= 0, got {sigma}, "
                              f"{threshold}")
        self.sigma, self.threshold = float(sigma), float(threshold)
        self._prev: tuple[torch.Tensor, torch.Tensor] | None = None
        self._sum_y = self._sum_b = 0.0
        self._static = self._total = 0
        self.pairs = 0

    def update(self, y: torch.Tensor, r: torch.Tensor) -> None:
        y = _frame(y, "y").double()
        r = _frame(r, "r").double()
        if y.shape[1] != r.shape[1]:
            raise ImageError(f"y and r must have the same channels, got {y.shape[1]} and "
                             f"{r.shape[1]}")
        (h, w), (rh, rw) = y.shape[-2:], r.shape[-2:]
        s = h // rh
        if s < 1 or (rh * s, rw * s) != (h, w):
            raise ImageError(f"the reference must be the sequence's size divided by an "
                             f"integer, got {rw}x{rh} for {w}x{h} (W x H)")
        if self._prev is not None:
            y0, r0 = self._prev
            if y0.shape != y.shape or r0.shape != r.shape:
                raise ImageError(f"frames change size: {tuple(y0.shape)} then {tuple(y.shape)}")
            dr = r - r0
            motion = gaussian_blur(dr.mean(1, keepdim=True), self.sigma).abs()
            static = (motion <= self.threshold).to(y.dtype)
            if s > 1:
                static = static.repeat_interleave(s, -2).repeat_interleave(s, -1)
                db = F.interpolate(dr, scale_factor=s, mode="bicubic", align_corners=False)
            else:
                db = dr
            self._sum_y += float(((y - y0).pow(2) * static).sum())
            self._sum_b += float((db.pow(2) * static).sum())
            self._static += int(static.sum()) * y.shape[1]
            self._total += static.numel() * y.shape[1]
            self.pairs += 1
        self._prev = (y, r)

    def result(self) -> Flicker:
        if self._static == 0:
            return Flicker(math.nan, math.nan, math.nan, 0.0, self.pairs)
        fl = math.sqrt(self._sum_y / self._static)
        ref = math.sqrt(self._sum_b / self._static)
        ratio = fl / ref if ref > 0 else math.nan
        return Flicker(fl, ref, ratio, self._static / self._total, self.pairs)


def flicker(
    y: torch.Tensor, r: torch.Tensor, *, sigma: float = FLICKER_SIGMA,
    threshold: float = FLICKER_THRESHOLD,
) -> Flicker:
    """Flicker of the sequence ``y`` ``(T, C, H, W)`` against its reference ``r``
    ``(T, C, H / s, W / s)`` (see :class:`FlickerMeter`).

    Example:
        >>> r = torch.rand(1, 1, 8, 8).expand(4, -1, -1, -1)  # a static scene
        >>> y = F.interpolate(r, scale_factor=2, mode="bicubic")
        >>> flicker(y + 0.01 * torch.randn(4, 1, 16, 16), r).flicker > flicker(y, r).flicker
        True
    """
    if y.ndim != 4 or r.ndim != 4 or y.shape[0] != r.shape[0]:
        raise ImageError(f"y and r must be (T, C, H, W) with the same T, got "
                         f"{tuple(y.shape)} and {tuple(r.shape)}")
    meter = FlickerMeter(sigma=sigma, threshold=threshold)
    for t in range(y.shape[0]):
        meter.update(y[t], r[t])
    return meter.result()


def _frame(x: torch.Tensor, name: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor) and x.ndim == 3:
        x = x[None]
    x = check_image_tensor(x, name)
    if x.shape[0] != 1:
        raise ImageError(f"{name} must be one frame (C, H, W) or (1, C, H, W), got "
                         f"{tuple(x.shape)}")
    return x


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable gaussian (radius ``int(3.5 * sigma + 0.5)``), reflect border."""
    radius = int(SSIM_TRUNCATE * sigma + 0.5)
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    g = torch.exp(-0.5 * (t / sigma) ** 2)
    g = g / g.sum()
    h, w = x.shape[-2:]
    mode = "reflect" if radius < min(h, w) else "replicate"
    x = F.pad(x, (radius, radius, radius, radius), mode=mode)
    x = F.conv2d(x, g.view(1, 1, -1, 1))
    return F.conv2d(x, g.view(1, 1, 1, -1))
