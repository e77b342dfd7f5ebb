"""Denoise strength: one knob between a faithful and a robust model of the same network.

Strength 0 is the *faithful* model (trained mostly on clean LR: it keeps every faint detail of
the input, noise included), 1 the *robust* model (trained mostly on sensor-degraded LR: it
removes noise and stripes, and with them some faint detail). In between, the two models'
weights are interpolated (network interpolation, as Real-ESRGAN's "denoise strength"); both
are fine-tuned from one parent, so the path between them is smooth.

``"auto"`` picks the strength per image from the LR itself, in the unit range the model sees:
the degradation detector's probability that the LR is a sensor's frame rather than a clean
resample (:func:`irsrgan.detector.degraded_probability`) through :func:`auto_strength`, a ramp
around the detector's decision boundary (:data:`AUTO_RAMP`; ``scripts/calibrate_denoise.py``
measures it, docs/RESULTS.md, section 9).
The LR's pixel noise and stripe level (:func:`irsrgan.estimate.estimate_noise`) are measured
beside it, for the report.

At every strength above 0 the output's coarse levels are anchored to the LR
(:func:`irsrgan.consistency.anchor_levels`: the part of ``LR - downsample(output)`` that the
LR's noise cannot explain is put back), which undoes the level shifts and overshoot a
denoising model makes on cameras it was not trained on (docs/RESULTS.md, section 9);
``anchor=False`` turns it off.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from .checkpoint import read_metadata, resolve_model_path
from .consistency import anchor_levels, anchored_rows, lr_noise
from .detector import degraded_probability
from .errors import ImageError
from .estimate import NoiseLevel, estimate_noise
from .image import Image, RangeMode, from_tensor, to_tensor
from .inference import Upscaler
from .interpolate import check_interpolable, interpolate_models
from .models import Generator
from .streaming import ImageRows
from .strength import (  # noqa: F401 (re-exported: the rules live without PyTorch)
    AUTO_RAMP,
    STEP,
    Strength,
    anchors,
    auto_strength,
    default_strength,
    judged_frame,
    parse_strength,
    quantise,
)


def estimate_strength(lr_unit: np.ndarray, scale: int = 4) -> tuple[float, NoiseLevel]:
    """Auto strength for an LR in the model's unit range, ``(C, H, W)`` or ``(H, W)``, and its
    measured noise: :func:`~irsrgan.strength.judged_frame` judged by the detector for a pair
    of this ``scale``."""
    x = judged_frame(lr_unit)
    return auto_strength(degraded_probability(x, scale=scale)), estimate_noise(x)


def strength_for(image: Image, strength: Strength, range_mode: RangeMode = "auto",
                 scale: int = 4) -> tuple[float, NoiseLevel | None]:
    """The number ``strength`` means for ``image`` (``auto``: measured on the image as the
    model will see it), rounded to :data:`STEP`, and the noise measured (None if fixed)."""
    if strength != "auto":
        return quantise(parse_strength(strength)), None
    lr, _ = to_tensor(image, range_mode)
    value, level = estimate_strength(lr[0].numpy(), scale)
    return quantise(value), level


def robust_partner(source: str | os.PathLike) -> str | None:
    """The robust end that a faithful model's file names (provenance ``denoise_partner``: a
    bundled name, or a path relative to the model file), or None."""
    path = resolve_model_path(source)
    try:
        partner = read_metadata(path).get("provenance", {}).get("denoise_partner")
    except Exception:  # not one of our safetensors files: no partner recorded
        return None
    if not partner:
        return None
    sibling = path.parent / partner
    return str(sibling) if sibling.is_file() else str(partner)


def model_at(faithful: Generator, robust: Generator, strength: float) -> Generator:
    """The pair's model at ``strength`` (rounded by :func:`quantise`): either end itself, or
    their interpolation."""
    key = quantise(strength)
    if key == 0.0:
        return faithful
    if key == 1.0:
        return robust
    return interpolate_models(faithful, robust, key)


class DenoiseUpscaler:
    """Upscale with a strength between ``faithful`` (0) and ``robust`` (1), fixed or ``auto``.

    Args:
        faithful, robust: generators of the same architecture and hyperparameters.
        strength: a number in [0, 1] or ``"auto"`` (per image, from the LR's noise).
        anchor: at strengths above 0, anchor the output's coarse levels to the LR
            (:func:`irsrgan.consistency.anchor_levels`); ``False``: the interpolated model's
            output as it is.
        upscaler_kwargs: passed to each :class:`~irsrgan.inference.Upscaler` (device, tile,
            backend, ...).

    ``last_strength`` and ``last_noise`` tell what the most recent image used.
    """

    def __init__(self, faithful: Generator, robust: Generator, strength: Strength = "auto",
                 *, anchor: bool = True, **upscaler_kwargs) -> None:
        self.strength = parse_strength(strength)
        self.anchor = anchor
        check_interpolable(faithful, robust)
        self.faithful, self.robust = faithful, robust
        self.scale = faithful.scale
        self._kwargs = upscaler_kwargs
        self._upscalers: dict[float, Upscaler] = {}
        self.last_strength: float | None = None
        self.last_noise: NoiseLevel | None = None

    def upscaler_for(self, strength: float) -> Upscaler:
        """The (cached) Upscaler of the model at ``strength``, rounded to :data:`STEP`."""
        key = quantise(strength)
        up = self._upscalers.get(key)
        if up is None:
            model = model_at(self.faithful, self.robust, key)
            up = self._upscalers[key] = Upscaler(model, **self._kwargs)
        return up

    @property
    def device(self):
        return self.upscaler_for(0.0).device

    @property
    def backend(self) -> str:
        return self.upscaler_for(0.0).backend

    def upscale(self, lr: torch.Tensor, progress=None, *,
                strength: Strength | None = None) -> torch.Tensor:
        """Like :meth:`Upscaler.upscale` (``(1, C, H, W)`` in the unit range), at the strength
        of this LR (``strength`` overrides the pair's for this call)."""
        strength = self.strength if strength is None else parse_strength(strength)
        self.last_noise = None
        if strength == "auto":
            if lr.ndim != 4 or lr.shape[0] != 1:
                raise ImageError(f"lr must be (1, C, H, W) for auto strength, got "
                                 f"{tuple(lr.shape)}")
            strength, self.last_noise = estimate_strength(lr[0].float().cpu().numpy(),
                                                          self.scale)
        self.last_strength = quantise(strength)
        sr = self.upscaler_for(strength).upscale(lr, progress)
        return anchored_tensor(sr, lr) if self.anchor and anchors(self.last_strength) else sr

    def upscale_image(self, image: Image, *, range_mode: RangeMode = "auto",
                      progress=None, strength: Strength | None = None) -> Image:
        """Like :meth:`Upscaler.upscale_image`, at this image's strength (``strength``
        overrides the pair's for this call)."""
        lr, vmap = to_tensor(image, range_mode)
        return from_tensor(self.upscale(lr, progress, strength=strength), image, vmap)

    def upscale_image_rows(self, image: Image, *, range_mode: RangeMode = "auto",
                           strength: Strength | None = None) -> ImageRows:
        """Like :meth:`upscale_image`, as bands of rows
        (:meth:`Upscaler.upscale_image_rows`); the strength is decided here, from the LR."""
        strength = self.strength if strength is None else parse_strength(strength)
        self.last_noise = None
        if strength == "auto":
            lr, _ = to_tensor(image, range_mode)
            strength, self.last_noise = estimate_strength(lr[0].numpy(), self.scale)
        self.last_strength = quantise(strength)
        rows = self.upscaler_for(strength).upscale_image_rows(image, range_mode=range_mode)
        return (anchored_rows(rows, image) if self.anchor and anchors(self.last_strength)
                else rows)


def anchored_tensor(sr: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
    """:func:`~irsrgan.consistency.anchor_levels` for ``(N, C, sH, sW)`` and ``(N, C, H, W)``
    tensors in the unit range, image by image (the noise measured on each LR); same dtype and
    device as ``sr``."""
    scale = sr.shape[-1] // lr.shape[-1]
    out = []
    for x, y in zip(sr.detach().double().cpu(), lr.detach().double().cpu(), strict=True):
        x, y = x.permute(1, 2, 0).numpy(), y.permute(1, 2, 0).numpy()
        out.append(torch.from_numpy(anchor_levels(x, y, scale, lr_noise(y))).permute(2, 0, 1))
    return torch.stack(out).to(sr.device, sr.dtype)


__all__ = ["AUTO_RAMP", "DenoiseUpscaler", "Strength", "anchored_tensor", "anchors",
           "auto_strength", "default_strength", "estimate_strength", "model_at", "parse_strength",
           "quantise", "robust_partner", "strength_for"]
