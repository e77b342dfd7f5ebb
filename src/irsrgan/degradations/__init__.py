"""Seeded degradation operations and the presets that chain them into HR -> LR pipelines.

The package in four modules, each owning one thing:

- :mod:`.ops`: the operations, pure functions over ``(B, C, H, W)`` float tensors in [0, 1]
  (kernels, :func:`filter2d`, :func:`resize`, noise, JPEG, stripes, non-uniformity, dead/hot
  pixels, quantisation, 8-bit AGC), every random choice from an explicit
  :class:`torch.Generator`;
- :mod:`.distributions`: the per-sample parameter distributions a preset writes
  (:func:`parse_dist`);
- :mod:`.steps`: the pipeline steps (a frozen dataclass each, read from YAML by
  :func:`parse_steps`) and the engine that runs them per sample;
- :mod:`.presets`: named pipelines (:class:`Preset`, :func:`get_preset`, the built-in
  ``irsrgan/presets/*.yaml``) and :func:`degrade`, which makes the LR.

Everything is importable from ``irsrgan.degradations`` as before the split.

>>> import torch
>>> g = torch.Generator().manual_seed(0)
>>> hr = torch.rand(2, 1, 64, 64, generator=g)
>>> lr = degrade(hr, 4, "thermal", torch.Generator().manual_seed(1))
>>> tuple(lr.shape), lr.dtype
((2, 1, 16, 16), torch.float32)
"""

from .distributions import Choice, Const, Dist, LogUniform, Mixture, Uniform, parse_dist
from .ops import (
    KERNEL_KINDS,
    RESIZE_MODES,
    KernelKind,
    Param,
    ResizeMode,
    add_gaussian_noise,
    add_poisson_noise,
    agc_8bit,
    dead_hot_pixels,
    downsample_bicubic,
    filter2d,
    gaussian_blur,
    gaussian_kernel,
    generalized_gaussian_kernel,
    jpeg,
    nonuniformity,
    plateau_kernel,
    quantize,
    resize,
    sinc_kernel,
    smooth_field,
    stripe_noise,
    vignetting,
)
from .presets import PRESET_NAMES, Preset, degrade, get_preset
from .steps import (
    NOISE_KINDS,
    STEP_OPS,
    AgcStep,
    BlurStep,
    ChoiceStep,
    ClampStep,
    DeadHotStep,
    JpegStep,
    NoiseStep,
    NonUniformityStep,
    QuantizeStep,
    ResizeStep,
    ShuffleStep,
    Step,
    StripeStep,
    VignettingStep,
    parse_steps,
)

__all__ = [
    # the public functions (as before the split)
    "PRESET_NAMES", "Preset", "add_gaussian_noise", "add_poisson_noise", "agc_8bit",
    "dead_hot_pixels", "degrade", "downsample_bicubic", "filter2d", "gaussian_blur",
    "gaussian_kernel", "generalized_gaussian_kernel", "get_preset", "jpeg", "nonuniformity",
    "parse_dist", "parse_steps", "plateau_kernel", "quantize", "resize", "sinc_kernel",
    "smooth_field", "stripe_noise", "vignetting",
    # the building blocks presets are made of
    "KERNEL_KINDS", "NOISE_KINDS", "RESIZE_MODES", "STEP_OPS", "KernelKind", "Param",
    "ResizeMode", "Choice", "Const", "Dist", "LogUniform", "Mixture", "Uniform", "AgcStep",
    "BlurStep", "ChoiceStep", "ClampStep", "DeadHotStep", "JpegStep", "NoiseStep",
    "NonUniformityStep", "QuantizeStep", "ResizeStep", "ShuffleStep", "Step", "StripeStep",
    "VignettingStep",
]
