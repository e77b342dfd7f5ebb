"""What the page shows of a result besides the file: 8-bit preview images, the values for a
readout, and sharpness figures against bicubic.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ..display import to_display
from ..image import BT601_LUMA, Image, ValueMap, decode_image, from_tensor
from ..metrics import laplacian_variance
from ..radiometry import UNIT_SYMBOLS

METRIC_SIDE = 2048  # sharpness figures use at most the central METRIC_SIDE^2 output pixels


def value_unit(image: Image) -> str:
    """What the pixel values of an image are, for the page's readout."""
    if image.flir is not None:
        return UNIT_SYMBOLS.get(image.flir.units, image.flir.units)
    return "level" if image.dtype == np.uint8 else "value"


def flir_info(image: Image) -> dict[str, Any]:
    """The FLIR source of a raw-data image: sizes, units, camera."""
    source = image.flir
    camera = source.camera
    return {"raw_size": list(source.raw_size),
            "preview_size": list(source.preview_size) if source.preview_size else None,
            "units": source.units, "camera": camera.camera_model if camera else None}


def gray_values(data: bytes) -> tuple[np.ndarray, int, int]:
    """The values of an encoded result as float32 ``(H, W)`` (colour: BT.601 luma)."""
    img = decode_image(data, "result")
    chans = img.channels().astype(np.float32)
    gray = chans[0] if chans.shape[0] < 3 else (
        BT601_LUMA[0] * chans[0] + BT601_LUMA[1] * chans[1] + BT601_LUMA[2] * chans[2])
    return np.ascontiguousarray(gray, dtype="<f4"), img.width, img.height


def _gray(x: torch.Tensor) -> torch.Tensor:
    """``(1, C, H, W)`` -> ``(1, 1, H, W)``: BT.601 luma for colour, the first channel else."""
    if x.shape[1] >= 3:
        w = x.new_tensor(BT601_LUMA).view(1, 3, 1, 1)
        return (x[:, :3] * w).sum(1, keepdim=True)
    return x[:, :1]


def _central(x: torch.Tensor, side: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    y0, x0 = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return x[..., y0:y0 + side, x0:x0 + side]


def sharpness_figures(sr: torch.Tensor, bicubic: torch.Tensor) -> dict[str, Any]:
    """PSNR-free sharpness figures of a result against bicubic upscaling of the same input.

    Both are clamped to the unit range, made gray and cropped to the central
    ``METRIC_SIDE x METRIC_SIDE`` pixels. ``laplacian_variance_*`` is the population variance of
    the 4-neighbour Laplacian in 8-bit units (unit range x 255; for 16-bit and float input the
    unit range is the image's own min..max). ``hf_ratio`` is their ratio (result / bicubic):
    above 1 the result carries more high-frequency energy than bicubic (detail, or noise).

    Returns:
        a dict of floats (None where undefined, e.g. a flat image).
    """
    a = _gray(_central(sr, METRIC_SIDE)).clamp(0, 1)
    b = _gray(_central(bicubic, METRIC_SIDE)).clamp(0, 1)
    v_result = float(laplacian_variance(a, pixel_scale=255.0)[0])
    v_bicubic = float(laplacian_variance(b, pixel_scale=255.0)[0])
    # = metrics.hf_energy_ratio(a, b), from the variances already computed (scale-free)
    ratio = v_result / v_bicubic if v_bicubic > 0 else math.nan
    out: dict[str, Any] = {
        "laplacian_variance_bicubic": v_bicubic,
        "laplacian_variance_result": v_result,
        "hf_ratio": ratio,
        "measured_pixels": int(a.shape[-1] * a.shape[-2]),
    }
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in out.items()}


def preview_image(
    x: torch.Tensor, like: Image, vmap: ValueMap, window: tuple[float, float] | None
) -> Image:
    """An 8-bit image of ``x`` (``(1, C, H, W)``, unit range, shaped like ``like``) for display.

    With ``window`` None (8-bit input) the preview's pixels are those of the downloaded file;
    else unit values ``window[0]..window[1]`` are stretched linearly to 0..255 (the same
    window for the result and for bicubic, so they compare).
    """
    if window is None:
        px = from_tensor(x, like, vmap).channels()
    else:
        px = to_display(x[0].numpy(), window)
    if like.layout in ("gray", "gray-as-rgb") or px.shape[0] == 1:
        return Image(pixels=np.ascontiguousarray(px[0]), format="png", layout="gray")
    if like.layout == "gray-alpha":
        px = np.stack([px[0], px[0], px[0], px[1]])
    chans = np.ascontiguousarray(np.moveaxis(px, 0, -1))
    return Image(pixels=chans, format="png", layout="rgba" if chans.shape[2] == 4 else "rgb")
