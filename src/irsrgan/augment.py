"""HR-side augmentations for training: what a frame looks like on other cameras.

The training frames (HIT-UAV) come from one camera at one kind of distance, exported by one
AGC. Other thermal images differ before any sensor degradation: objects come at other sizes,
the exported contrast is a narrow slice of a 14/16-bit range, the tone curve differs, the
palette may be black-hot, some exports are histogram-equalised. These augmentations change the
HR crop itself (the LR is then made from it by the degradation preset), so the model learns to
upscale content of every size, contrast and polarity rather than one camera's look.

All are pure functions of a ``(C, H, W)`` float tensor in [0, 1] and an explicit
``torch.Generator``; :class:`HRAugment` draws them per item. With every probability 0 (the
default) nothing is drawn, so a dataset without augmentation consumes exactly the same random
numbers as before.

* **scale**: a crop ``f`` times larger than the patch is taken and downscaled by ``f``
  (antialiased bicubic), ``f`` log-uniform in ``[1, scale_max]``. Objects appear smaller and
  the source's own JPEG blocks and noise are averaged away, so the target is sharper and
  cleaner per pixel than the frame it came from.
* **gamma**: ``x ** g``, ``g`` log-uniform in ``gamma_range`` (another tone curve).
* **equalize**: rank-based histogram equalisation of the crop (equalised exports).
* **invert**: ``1 - x`` (black-hot palettes).
* **texture**: a faint regular texture added over a rectangle of the crop (a sinusoidal
  grating of period 8-32 HR px at any angle, or a brick wall's mortar lines), amplitude
  log-uniform in ``texture_amp`` of the range: the brickwork, cladding, panelling and
  grooves of ground-level scenes, which the aerial training frames rarely show and a
  denoising model otherwise learns to flatten as noise (docs/RESULTS.md section 9, "A sensor
  model not trained on"). Applied before ``contrast``, which scales it with the scene.
* **contrast**: ``lo + c * x`` with the width ``c`` log-uniform in ``[contrast_min, 1]`` and
  ``lo`` uniform in ``[0, 1 - c]``: the patch fills only part of the value range, as in a
  stretched 16-bit frame with hot spots elsewhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F

from .errors import ConfigError


def _uniform(gen: torch.Generator, lo: float = 0.0, hi: float = 1.0) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=gen))


def _log_uniform(gen: torch.Generator, lo: float, hi: float) -> float:
    return math.exp(_uniform(gen, math.log(lo), math.log(hi)))


def downscale(x: torch.Tensor, size: int) -> torch.Tensor:
    """``(C, H, W)`` -> ``(C, size, size)`` by antialiased bicubic, clamped to [0, 1]."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    y = F.interpolate(x[None], size=(size, size), mode="bicubic", antialias=True,
                      align_corners=False)
    return y[0].clamp_(0.0, 1.0)


#: texture periods (gratings) and brick heights, in HR pixels
TEXTURE_PERIOD = (8.0, 32.0)


def texture(h: int, w: int, gen: torch.Generator) -> torch.Tensor:
    """A zero-mean ``(h, w)`` texture of peak amplitude 1 over a random rectangle (30-100 %
    of each side; 0 outside): a sinusoidal grating (period log-uniform in
    :data:`TEXTURE_PERIOD`, any angle and phase) or, half the time, brickwork (courses of a
    height in that range, bricks 2-4 courses long, staggered by half a brick, mortar lines
    1-2 px wide)."""
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32),
                            torch.arange(w, dtype=torch.float32), indexing="ij")
    if _uniform(gen) < 0.5:
        period = _log_uniform(gen, *TEXTURE_PERIOD)
        angle, phase = _uniform(gen, 0.0, math.pi), _uniform(gen, 0.0, 2 * math.pi)
        t = torch.sin(2 * math.pi * (xx * math.cos(angle) + yy * math.sin(angle)) / period
                      + phase)
    else:
        course = _log_uniform(gen, *TEXTURE_PERIOD)
        brick = course * _uniform(gen, 2.0, 4.0)
        mortar = _uniform(gen, 1.0, 2.0)
        y0, x0 = _uniform(gen, 0.0, course), _uniform(gen, 0.0, brick)
        row = torch.floor((yy + y0) / course)
        shifted = xx + x0 + (row % 2) * brick / 2
        lines = (((yy + y0) % course) < mortar) | ((shifted % brick) < mortar)
        t = -lines.float()
    mask = torch.zeros(h, w)
    rh, rw = max(1, round(h * _uniform(gen, 0.3, 1.0))), max(1, round(w * _uniform(gen, 0.3, 1.0)))
    top, left = round(_uniform(gen, 0, h - rh)), round(_uniform(gen, 0, w - rw))
    mask[top:top + rh, left:left + rw] = 1.0
    t = (t - t[mask > 0].mean()) * mask
    return t / t.abs().max().clamp_min(1e-8)


def equalize(x: torch.Tensor) -> torch.Tensor:
    """Rank-based histogram equalisation per channel: each value -> its rank / (N - 1)."""
    c, h, w = x.shape
    flat = x.reshape(c, -1)
    n = flat.shape[1]
    if n < 2:
        return x.clone()
    order = flat.argsort(dim=1, stable=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(n).expand(c, n))
    return (ranks.to(x.dtype) / (n - 1)).reshape(c, h, w)


#: the augmentation settings given as ``[lo, hi]``
RANGES = ("gamma_range", "texture_amp")


@dataclass(frozen=True)
class HRAugment:
    """Probabilities and ranges of the HR augmentations (all off by default)."""

    scale_prob: float = 0.0
    scale_max: float = 1.0
    gamma_prob: float = 0.0
    gamma_range: tuple[float, float] = (0.5, 2.0)
    equalize_prob: float = 0.0
    invert_prob: float = 0.0
    contrast_prob: float = 0.0
    contrast_min: float = 1.0
    texture_prob: float = 0.0
    texture_amp: tuple[float, float] = (0.003, 0.03)

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name.endswith("_prob"):
                v = getattr(self, f.name)
                if not 0.0 <= v <= 1.0:
                    raise ConfigError(f"augment.{f.name} must be in [0, 1], got {v!r}")
        if self.scale_max < 1.0:
            raise ConfigError(f"augment.scale_max must be >= 1, got {self.scale_max!r}")
        lo, hi = self.gamma_range
        if not 0.0 < lo <= hi:
            raise ConfigError(f"augment.gamma_range must be 0 < lo <= hi, got {self.gamma_range}")
        lo, hi = self.texture_amp
        if not 0.0 < lo <= hi <= 1.0:
            raise ConfigError(f"augment.texture_amp must be 0 < lo <= hi <= 1, got "
                              f"{self.texture_amp}")
        if not 0.0 < self.contrast_min <= 1.0:
            raise ConfigError(f"augment.contrast_min must be in (0, 1], got {self.contrast_min}")

    @classmethod
    def from_config(cls, cfg: dict[str, Any] | None) -> HRAugment:
        """Build from a config mapping (unknown keys are an error naming them)."""
        if not cfg:
            return cls()
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ConfigError(f"augment: unknown key(s) {', '.join(unknown)}; known: "
                              + ", ".join(sorted(known)))
        kwargs = dict(cfg)
        for key in RANGES:
            if key in kwargs:
                g = kwargs[key]
                if not isinstance(g, (list, tuple)) or len(g) != 2:
                    raise ConfigError(f"augment.{key} must be [lo, hi], got {g!r}")
                kwargs[key] = (float(g[0]), float(g[1]))
        for k, v in kwargs.items():
            if k not in RANGES:
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    raise ConfigError(f"augment.{k} must be a number, got {v!r}")
                kwargs[k] = float(v)
        return cls(**kwargs)

    @property
    def active(self) -> bool:
        return any(getattr(self, f.name) > 0 for f in fields(self) if f.name.endswith("_prob"))

    def crop_factor(self, gen: torch.Generator, h: int, w: int, patch: int) -> float:
        """The downscale factor for this item (1 when scale augmentation is off or no room)."""
        if self.scale_prob <= 0 or _uniform(gen) >= self.scale_prob:
            return 1.0
        room = min(self.scale_max, h / patch, w / patch)
        return _log_uniform(gen, 1.0, room) if room > 1.0 else 1.0

    def photometric(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Tone curve, equalisation, polarity and contrast, each with its probability."""
        if self.gamma_prob > 0 and _uniform(gen) < self.gamma_prob:
            x = x.clamp(0.0, 1.0) ** _log_uniform(gen, *self.gamma_range)
        if self.equalize_prob > 0 and _uniform(gen) < self.equalize_prob:
            x = equalize(x)
        if self.invert_prob > 0 and _uniform(gen) < self.invert_prob:
            x = 1.0 - x
        if self.texture_prob > 0 and _uniform(gen) < self.texture_prob:
            amp = _log_uniform(gen, *self.texture_amp)
            x = (x + amp * texture(x.shape[-2], x.shape[-1], gen)).clamp(0.0, 1.0)
        if self.contrast_prob > 0 and _uniform(gen) < self.contrast_prob:
            c = _log_uniform(gen, self.contrast_min, 1.0)
            x = _uniform(gen, 0.0, 1.0 - c) + c * x
        return x


__all__ = ["HRAugment", "downscale", "equalize", "texture"]
