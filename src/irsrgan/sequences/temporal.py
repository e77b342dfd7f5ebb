"""Temporal blend on static pixels: steadies an upscaled sequence where the input does not move.

A frame-by-frame upscaler sees each frame's sensor noise afresh and renders detail a little
differently every time, so on a still scene its output changes more from frame to frame than
bicubic upscaling of the same input (docs/RESULTS.md, section 8). Where the input is static,
the previous output carried forward by the input's own (bicubic-upscaled) change is as good a
guess of the current output as the model's; blending the two there removes the model's
frame-to-frame variation without touching moving pixels::

    w_t  = strength * clamp(1 - |G * (x_t - x_{t-1})| / (2 * threshold), 0, 1)   (LR, nearest to HR)
    p_t  = y'_{t-1} + bicubic(x_t - x_{t-1})
    y'_t = y_t + w_t * (p_t - y_t)

``x`` is the input and ``y`` the model's output in model space, ``G`` the gaussian and
``threshold`` the static threshold of :class:`irsrgan.metrics.FlickerMeter`. With
``strength = 1`` a fully static pixel changes exactly as bicubic does; ``0.5`` averages the
model's outputs over time (a recursive filter). ``p_t`` telescopes to ``y'_s +
bicubic(x_t - x_s)`` since the pixel became static, so nothing drifts.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from ..metrics import FLICKER_SIGMA, FLICKER_THRESHOLD, gaussian_blur


class TemporalBlend:
    """Stateful filter: ``__call__(lr, sr) -> sr'`` frame after frame (``(1, C, h, w)`` and
    ``(1, C, h * s, w * s)``, model space); the first frame passes unchanged."""

    def __init__(self, strength: float, *, sigma: float = FLICKER_SIGMA,
                 threshold: float = FLICKER_THRESHOLD) -> None:
        if not 0.0 <= strength <= 1.0:
            raise ConfigError(f"temporal blend strength (--temporal) must be in [0, 1], got "
                              f"{strength}")
        self.strength, self.sigma, self.threshold = strength, sigma, threshold
        self._prev: tuple[torch.Tensor, torch.Tensor] | None = None

    def __call__(self, lr: torch.Tensor, sr: torch.Tensor) -> torch.Tensor:
        lr, sr = lr.float(), sr.float()
        prev, self._prev = self._prev, None
        out = sr
        if prev is not None and self.strength > 0 and prev[0].shape == lr.shape:
            lr0, out0 = prev
            s = sr.shape[-1] // lr.shape[-1]
            dr = lr - lr0
            motion = gaussian_blur(dr.mean(1, keepdim=True).double(), self.sigma).abs().float()
            w = self.strength * (1 - motion / (2 * self.threshold)).clamp(0.0, 1.0)
            if s > 1:
                w = w.repeat_interleave(s, -2).repeat_interleave(s, -1)
                dr = F.interpolate(dr, scale_factor=s, mode="bicubic", align_corners=False)
            out = sr + w * (out0 + dr - sr)
        self._prev = (lr, out)
        return out
