"""The denoise strength's rules, without PyTorch: what a strength means, how ``auto`` turns the
detector's probability into one, which images get ``auto`` by default, and where the output is
level-anchored.

:mod:`irsrgan.denoise` (PyTorch weights) and :class:`~irsrgan.onnx_upscaler.OnnxUpscaler`
(an exported pair, no PyTorch) both follow them, so the two routes pick the same strength for
the same image.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from .errors import ConfigError

Strength = float | Literal["auto"]

#: strengths are rounded to this step, so a folder needs at most 1 / STEP + 1 models
STEP = 0.05
#: ``auto``: the strength ramps linearly in the detector's probability that the LR is
#: sensor-degraded, from 0 at AUTO_RAMP[0] to 1 at AUTO_RAMP[1]. Set a priori, centred on the
#: detector's own decision boundary (0.5: it is trained on balanced classes), because on
#: other cameras the two mistakes cost about the same (robust on a clean LR, faithful on a
#: degraded one: 1 to 2.5 dB each); a ramp fitted on the training frames, where the first
#: mistake costs only 0.06-0.2 dB, leans far to robust and does not carry over
#: (scripts/calibrate_denoise.py prints both; docs/RESULTS.md, section 9)
AUTO_RAMP = (0.25, 0.75)


def quantise(strength: float) -> float:
    """``strength`` rounded to :data:`STEP` (what is actually used)."""
    return round(round(float(strength) / STEP) * STEP, 6)


def parse_strength(value: str | float) -> Strength:
    """``"auto"`` or a number in [0, 1] (CLI and API text included)."""
    if isinstance(value, str):
        if value.strip().lower() == "auto":
            return "auto"
        try:
            value = float(value)
        except ValueError:
            raise ConfigError(f"denoise strength must be 'auto' or a number in [0, 1], "
                              f"got {value!r}") from None
    v = float(value)
    if not 0.0 <= v <= 1.0 or math.isnan(v):
        raise ConfigError(f"denoise strength must be 'auto' or a number in [0, 1], got {v}")
    return v


def auto_strength(p_degraded: float, ramp: tuple[float, float] = AUTO_RAMP) -> float:
    """Strength in [0, 1] for the probability that the LR is sensor-degraded: 0 up to
    ``ramp[0]``, 1 from ``ramp[1]``, linear between (monotone)."""
    lo, hi = ramp
    if p_degraded <= lo:
        return 0.0
    if p_degraded >= hi:
        return 1.0
    return (p_degraded - lo) / (hi - lo)


def judged_frame(lr_unit: np.ndarray) -> np.ndarray:
    """What ``auto`` judges of an LR in the model's unit range, ``(C, H, W)`` or ``(H, W)``:
    the channels' mean (thermal palettes carry the same noise in every channel), float64."""
    x = np.asarray(lr_unit, dtype=np.float64)
    return x.mean(axis=0) if x.ndim == 3 else x


def default_strength(requested: Strength | str | None, dtype: np.dtype) -> Strength:
    """The strength a request gets: what it asked for, else ``auto`` for 8-bit images and 0
    (the faithful model) for 16-bit and float ones, whose values are measurements."""
    if requested is not None:
        return parse_strength(requested)
    return "auto" if np.dtype(dtype) == np.uint8 else 0.0


def anchors(strength: float) -> bool:
    """Whether the pair's output at ``strength`` is level-anchored: at every strength that
    :func:`quantise` keeps above 0; the faithful end (0) is left exactly as it is. The one
    place this rule is written (the :class:`~irsrgan.denoise.DenoiseUpscaler`, an exported
    pair, clips and the web server's jobs all ask here)."""
    return quantise(strength) > 0


__all__ = ["AUTO_RAMP", "STEP", "Strength", "anchors", "auto_strength", "default_strength",
           "judged_frame", "parse_strength", "quantise"]
