"""Synthetic thermal clips from still frames: camera motion, then a sensor with a fixed pattern.

A multi-frame model learns from clips whose ground truth is known. A still HR frame becomes a
clip of ``T`` frames in three steps:

1. **Motion** (:func:`random_motion`): a smooth camera trajectory about a reference frame
   (the window's centre), in LR pixels: a constant drift of up to ``max_speed`` px per frame,
   a small shake, a slow turn and zoom. With ``still_prob`` the camera does not move at all
   (every frame shows the same scene: a tripod, or a clip of one repeated frame).
2. **Warp** (:func:`warp_window`): each frame's HR is the source image seen through that
   frame's affine map, cut from a margin around the window so that no border is invented.
3. **Sensor** (:func:`degrade_clip`): the degradation preset, applied frame by frame, with
   every random draw taken from one *clip* generator (the same optics, the same stripes,
   non-uniformity and dead pixels at the same sensor pixels, the same export, the same noise
   level) except the temporal noise realisation, which comes from a generator per frame. The
   fixed pattern stays on the sensor while the scene moves under it, as in a real
   microbolometer; the noise changes every frame.

Everything is seeded by the ``torch.Generator`` passed in (same seed, same clip).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace

import cv2
import numpy as np
import torch

from .degradations import (
    ChoiceStep,
    NoiseStep,
    Preset,
    ShuffleStep,
    Step,
    StripeStep,
    degrade,
    get_preset,
)
from .errors import ConfigError, ImageError


@dataclass(frozen=True)
class MotionConfig:
    """How :func:`random_motion` moves the camera (LR pixels and degrees, per frame)."""

    still_prob: float = 0.15
    max_speed: float = 1.5
    shake: float = 0.25
    max_turn: float = 0.3
    max_zoom: float = 0.004

    @classmethod
    def from_config(cls, cfg: dict | None) -> MotionConfig:
        cfg = dict(cfg or {})
        known = {f: getattr(cls, f) for f in cls.__dataclass_fields__}
        unknown = set(cfg) - set(known)
        if unknown:
            raise ConfigError(f"data.motion: unknown key(s) {', '.join(sorted(unknown))}; "
                              f"known: {', '.join(known)}")
        out = {}
        for key, value in cfg.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ConfigError(f"data.motion.{key} must be a number >= 0, got {value!r}")
            out[key] = float(value)
        if out.get("still_prob", 0.0) > 1:
            raise ConfigError(f"data.motion.still_prob must be in [0, 1], got "
                              f"{out['still_prob']}")
        return cls(**out)


def _uniform(gen: torch.Generator, lo: float, hi: float, n: int = 1) -> np.ndarray:
    return lo + (hi - lo) * torch.rand(n, generator=gen, dtype=torch.float64).numpy()


def random_motion(frames: int, ref: int, gen: torch.Generator,
                  motion: MotionConfig = MotionConfig()) -> np.ndarray:
    """``(frames, 4)``: per frame ``(dx, dy, angle_deg, log_zoom)`` of the camera relative to
    frame ``ref`` (exactly zero there), dx/dy in LR pixels.

    Always draws the same amount of random numbers, so what follows in ``gen`` does not
    depend on whether the clip came out still."""
    if frames < 1 or not 0 <= ref < frames:
        raise ConfigError(f"a clip needs frames >= 1 and 0 <= ref < frames, got {frames}, {ref}")
    still = float(torch.rand((), generator=gen, dtype=torch.float64)) < motion.still_prob
    speed = motion.max_speed * math.sqrt(float(_uniform(gen, 0, 1)[0]))
    heading = float(_uniform(gen, 0, 2 * math.pi)[0])
    turn = float(_uniform(gen, -motion.max_turn, motion.max_turn)[0])
    zoom = float(_uniform(gen, -motion.max_zoom, motion.max_zoom)[0])
    shake = motion.shake * torch.randn(frames, 2, generator=gen, dtype=torch.float64).numpy()
    if still:
        return np.zeros((frames, 4))
    t = np.arange(frames, dtype=np.float64) - ref
    shake = shake - shake[ref]
    out = np.empty((frames, 4))
    out[:, 0] = speed * math.cos(heading) * t + shake[:, 0]
    out[:, 1] = speed * math.sin(heading) * t + shake[:, 1]
    out[:, 2] = turn * t
    out[:, 3] = zoom * t
    return out


def _matrix(m: np.ndarray, scale: int, cx: float, cy: float) -> np.ndarray:
    """The 2x3 map from output (frame) HR pixels to source HR pixels for motion ``m``."""
    dx, dy, angle, log_zoom = m
    a = math.radians(angle)
    z = math.exp(log_zoom)
    c, s = z * math.cos(a), z * math.sin(a)
    # source = R * (out - centre) + centre + shift
    return np.array([[c, -s, cx - c * cx + s * cy + dx * scale],
                     [s, c, cy - s * cx - c * cy + dy * scale]], dtype=np.float64)


def margin_for(motion: np.ndarray, scale: int, size: int) -> int:
    """HR pixels around a ``size`` window that the motion can reach (rounded up, + 4)."""
    shift = np.abs(motion[:, :2]).max(initial=0.0) * scale
    turn = size * (np.abs(np.radians(motion[:, 2])).max(initial=0.0)
                   + np.abs(np.expm1(motion[:, 3])).max(initial=0.0))
    return int(math.ceil(shift + turn)) + 4


def warp_window(source: torch.Tensor, window: tuple[int, int, int, int], motion: np.ndarray,
                scale: int) -> torch.Tensor:
    """``(T, C, h, w)``: the ``window`` ``(y0, x0, h, w)`` of ``source`` ``(C, H, W)`` (float,
    [0, 1]) as seen in each frame of ``motion`` (bicubic, reflected past the image's edge).
    Frame ``t`` with zero motion equals the window exactly."""
    if source.ndim != 3:
        raise ImageError(f"source must be (C, H, W), got {tuple(source.shape)}")
    y0, x0, h, w = window
    c, hh, ww = source.shape
    if y0 < 0 or x0 < 0 or y0 + h > hh or x0 + w > ww or h < 1 or w < 1:
        raise ImageError(f"window {window} is outside the {hh}x{ww} source")
    pad = margin_for(motion, scale, max(h, w))
    # the window plus its margin, reflected where the margin passes the image's edge
    ys = np.clip(np.arange(y0 - pad, y0 + h + pad), -(hh - 1), 2 * (hh - 1))
    xs = np.clip(np.arange(x0 - pad, x0 + w + pad), -(ww - 1), 2 * (ww - 1))
    ys = np.where(ys < 0, -ys, np.where(ys >= hh, 2 * (hh - 1) - ys, ys))
    xs = np.where(xs < 0, -xs, np.where(xs >= ww, 2 * (ww - 1) - xs, xs))
    region = source.numpy()[:, ys][:, :, xs].astype(np.float32)  # (C, h+2p, w+2p)
    cy, cx = pad + (h - 1) / 2, pad + (w - 1) / 2
    out = np.empty((len(motion), c, h, w), np.float32)
    for t, m in enumerate(motion):
        if not np.any(m):
            out[t] = region[:, pad:pad + h, pad:pad + w]
            continue
        mat = _matrix(m, scale, cx, cy)
        mat[:, 2] += mat[:, :2] @ np.array([pad, pad], np.float64)  # origin: window corner
        for ch in range(c):
            out[t, ch] = cv2.warpAffine(
                region[ch], mat, (w, h), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_REFLECT_101)
    return torch.from_numpy(out).clamp_(0.0, 1.0)


# --------------------------------------------------------------------------- the sensor
@dataclass(frozen=True)
class _FrameNoiseStep(NoiseStep):
    """A :class:`NoiseStep` whose parameters come from the pipeline's (clip) generator and
    whose realisation comes from ``frame_gen``."""

    frame_gen: torch.Generator | None = field(default=None, compare=False)

    def apply(self, x, ctx, gen):
        return self.add(x, self.draw(x.shape[0], gen), self.frame_gen), ctx


@dataclass(frozen=True)
class _NoStripeStep(StripeStep):
    """Draws what a :class:`StripeStep` draws and adds nothing: the same clip without its
    stripes (to measure how much of them an upscaler leaves)."""

    def apply(self, x, ctx, gen):
        super().apply(x, ctx, gen)
        return x, ctx


def _as(cls: type[Step], step: Step, **extra) -> Step:
    """``step``'s settings in the subclass ``cls`` (plus ``extra`` fields)."""
    return cls(**{f.name: getattr(step, f.name) for f in fields(step)}, **extra)


def _per_frame(steps: tuple[Step, ...], frame_gen: torch.Generator,
               stripes: bool = True) -> tuple[Step, ...]:
    out: list[Step] = []
    for step in steps:
        if isinstance(step, NoiseStep):
            step = _as(_FrameNoiseStep, step, frame_gen=frame_gen)
        elif isinstance(step, StripeStep) and not stripes:
            step = _as(_NoStripeStep, step)
        elif isinstance(step, ChoiceStep):
            step = replace(step, branches=tuple(_per_frame(b, frame_gen, stripes)
                                                for b in step.branches))
        elif isinstance(step, ShuffleStep):
            step = replace(step, steps=_per_frame(step.steps, frame_gen, stripes))
        out.append(step)
    return tuple(out)


def _seed(gen: torch.Generator) -> int:
    return int(torch.randint(0, 2**62, (), generator=gen))


def degrade_clip(hr: torch.Tensor, scale: int, preset: str | Preset,
                 gen: torch.Generator, *, stripes: bool = True) -> torch.Tensor:
    """``(T, C, H, W)`` HR frames -> ``(T, C, H // scale, W // scale)`` LR through one camera:
    every draw of ``preset`` is the clip's (the same in every frame) except the noise
    realisation, drawn per frame. Consumes two numbers of ``gen``. ``stripes=False``: the
    same clip with the column/row stripes left out (every other draw unchanged)."""
    if hr.ndim != 4:
        raise ImageError(f"a clip must be (T, C, H, W), got {tuple(hr.shape)}")
    p = get_preset(preset)
    clip_seed, noise_seed = _seed(gen), _seed(gen)
    out = []
    for t in range(hr.shape[0]):
        frame_gen = torch.Generator().manual_seed(noise_seed + 7919 * t)
        camera = replace(p, steps=_per_frame(p.steps, frame_gen, stripes))
        out.append(degrade(hr[t:t + 1], scale, camera, torch.Generator().manual_seed(clip_seed)))
    return torch.cat(out)


@dataclass(frozen=True)
class Clip:
    """A synthetic clip: ``lr`` ``(T, C, h, w)``, ``hr`` ``(T, C, H, W)``, ``motion``
    ``(T, 4)`` (see :func:`random_motion`), the reference frame index ``ref`` and, when asked
    for, ``stripes`` ``(T, C, h, w)``: what the sensor's column/row stripes added to ``lr``."""

    lr: torch.Tensor
    hr: torch.Tensor
    motion: np.ndarray
    ref: int
    stripes: torch.Tensor | None = None


def make_clip(source: torch.Tensor, window: tuple[int, int, int, int], *, frames: int,
              scale: int, preset: str | Preset, gen: torch.Generator, ref: int | None = None,
              motion: MotionConfig = MotionConfig(), with_stripes: bool = False) -> Clip:
    """A clip of ``frames`` frames of ``window`` of ``source`` (``(C, H, W)`` in [0, 1]):
    motion, warp and sensor as the module explains; ``ref`` defaults to the middle frame.
    ``with_stripes``: also degrade the clip without its stripes, and keep the difference."""
    ref = frames // 2 if ref is None else ref
    m = random_motion(frames, ref, gen, motion)
    hr = warp_window(source, window, m, scale)
    state = gen.get_state()
    lr = degrade_clip(hr, scale, preset, gen)
    stripes = None
    if with_stripes:
        again = torch.Generator()
        again.set_state(state)
        stripes = lr - degrade_clip(hr, scale, preset, again, stripes=False)
    return Clip(lr=lr, hr=hr, motion=m, ref=ref, stripes=stripes)


__all__ = ["Clip", "MotionConfig", "degrade_clip", "make_clip", "margin_for", "random_motion",
           "warp_window"]
