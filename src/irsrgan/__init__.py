"""irsrgan: super-resolution for infrared (thermal) images.

The public API, all of it importable from here (the README has an example):

* images: :class:`Image`, :func:`read_image`, :func:`write_image`, :func:`to_tensor` and its
  exact inverse :func:`from_tensor`, :class:`ValueMap`, :func:`bit_depth_map`;
* models: :func:`load_model` (bundled names, our files, foreign checkpoints),
  :func:`save_model`, :func:`create_model`, :func:`interpolate_models`, :func:`model_info`
  (a weights file's facts, :class:`ModelInfo`), :class:`Generator` (the contract every model
  keeps; subclass it to run your own network through the :class:`Upscaler`);
* inference: :class:`Upscaler`;
* degradations: :func:`degrade`, :func:`get_preset`;
* metrics: :func:`score` (PSNR/SSIM on the bit-depth scale, as validation, ``evaluate`` and
  ``metrics`` score), :func:`psnr`, :func:`ssim`, :class:`LPIPS`, :func:`build_lpips`,
  :func:`lpips_i`, :func:`hf_energy_ratio`, :func:`radiometric_error`,
  :func:`evaluate_pair`;
* errors: :class:`IrsrganError` and its subclasses, raised for every user mistake.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:  # what static tools see; at run time, __getattr__ imports on demand
    from .checkpoint import ModelInfo, load_model, model_info, save_model
    from .degradations import degrade, get_preset
    from .errors import (
        CheckpointError,
        ConfigError,
        ImageError,
        ImageTooLargeError,
        IrsrganError,
        ModelInputError,
        WeightsMissingError,
    )
    from .image import (
        Image,
        ValueMap,
        bit_depth_map,
        from_tensor,
        read_image,
        to_tensor,
        write_image,
    )
    from .inference import Upscaler
    from .interpolate import interpolate_models
    from .metrics import (
        LPIPS,
        build_lpips,
        evaluate_pair,
        hf_energy_ratio,
        lpips_i,
        psnr,
        radiometric_error,
        score,
        ssim,
    )
    from .models import Generator, create_model

#: public name -> the submodule that defines it; imported on first use (PEP 562), so that
#: ``import irsrgan`` and the torch-free modules (:mod:`irsrgan.onnx_upscaler`) do not load
#: PyTorch
_WHERE = {
    "ModelInfo": "checkpoint",
    "load_model": "checkpoint",
    "model_info": "checkpoint",
    "save_model": "checkpoint",
    "degrade": "degradations",
    "get_preset": "degradations",
    "CheckpointError": "errors",
    "ConfigError": "errors",
    "ImageError": "errors",
    "ImageTooLargeError": "errors",
    "IrsrganError": "errors",
    "ModelInputError": "errors",
    "WeightsMissingError": "errors",
    "Image": "image",
    "ValueMap": "image",
    "bit_depth_map": "image",
    "from_tensor": "image",
    "read_image": "image",
    "to_tensor": "image",
    "write_image": "image",
    "Upscaler": "inference",
    "interpolate_models": "interpolate",
    "LPIPS": "metrics",
    "build_lpips": "metrics",
    "evaluate_pair": "metrics",
    "hf_energy_ratio": "metrics",
    "lpips_i": "metrics",
    "psnr": "metrics",
    "radiometric_error": "metrics",
    "score": "metrics",
    "ssim": "metrics",
    "Generator": "models",
    "create_model": "models",
}

__all__ = [
    "LPIPS", "CheckpointError", "ConfigError", "Generator", "Image", "ImageError",
    "ImageTooLargeError", "IrsrganError", "ModelInfo", "ModelInputError", "Upscaler",
    "ValueMap", "WeightsMissingError", "__version__",
    "bit_depth_map", "build_lpips", "create_model", "degrade", "evaluate_pair", "from_tensor",
    "get_preset", "hf_energy_ratio", "interpolate_models", "load_model", "lpips_i",
    "model_info", "psnr",
    "radiometric_error", "read_image", "save_model", "score", "ssim", "to_tensor",
    "write_image",
]


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
