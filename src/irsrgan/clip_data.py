"""Datasets of synthetic clips (:mod:`irsrgan.clips`) for a multi-frame model.

An item is a window of ``frames`` LR frames aligned onto its middle frame
(:func:`irsrgan.align.align_window`), ``(frames, h, w)``, and the middle frame's HR
``(1, H, W)``: exactly what :class:`irsrgan.models.MultiFrameNet` reads and is scored on.
Training crops come from :class:`~irsrgan.data.HRCropDataset` (same images, augmentation and
seeding); validation from :class:`~irsrgan.data.ValidationDataset` (same windows, LR seeded by
file name), with the middle frame's own LR as ``lr_ref`` for the bicubic baseline.
"""

from __future__ import annotations

import os

import torch

from .align import align_window
from .clips import MotionConfig, degrade_clip, make_clip, margin_for, random_motion, warp_window
from .data import (
    HRCropDataset,
    ValidationDataset,
    _check_int,
    file_generator,
    item_generator,
)
from .errors import ConfigError


def _check_frames(frames: object) -> int:
    frames = _check_int(frames, "frames", 1)
    if frames % 2 == 0:
        raise ConfigError(f"frames must be odd (a window centred on its frame), got {frames}")
    return frames


def aligned_window(lr: torch.Tensor, ref: int, align: str) -> torch.Tensor:
    """``(T, 1, h, w)`` LR frames -> ``(T, h, w)`` aligned onto frame ``ref``."""
    return torch.from_numpy(align_window(lr[:, 0].numpy(), ref, align))


class _ClipOptions:
    """What both clip datasets add to their still-image base: the window and the motion."""

    channels: int

    def _clip_options(self, frames: object, motion: MotionConfig | dict | None,
                      align: str) -> None:
        if self.channels != 1:
            raise ConfigError("clips are single-channel (model.in_channels: 1)")
        self.clip_frames = _check_frames(frames)
        self.motion = motion if isinstance(motion, MotionConfig) else \
            MotionConfig.from_config(motion)
        self.align = align


class ClipCropDataset(_ClipOptions, HRCropDataset):
    """:class:`~irsrgan.data.HRCropDataset`'s crops made into clips of ``frames`` frames
    (``self.clip_frames``; ``self.frames`` stays the decoded images; ``motion``:
    :class:`~irsrgan.clips.MotionConfig` or its mapping; ``align``: ``dis`` or ``none``).
    Other arguments as there; single-channel only."""

    def __init__(self, root: str | os.PathLike, *, frames: int = 5,
                 motion: MotionConfig | dict | None = None, align: str = "dis",
                 flow_context: int = 0, **kwargs) -> None:
        super().__init__(root, **kwargs)
        self._clip_options(frames, motion, align)
        #: LR pixels of clip around the crop on each side that the flow sees (and the item
        #: does not): DIS is poor near a frame's border, and a 32x32 crop is mostly border
        self.flow_context = _check_int(flow_context, "flow_context", 0)

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        frame = self._frame(index % len(self.paths))
        gen = item_generator(self.seed, self.epoch, index)
        ref, s, c = self.clip_frames // 2, self.scale, self.flow_context
        side = self.patch_size + 2 * c * s  # the crop and the flow's context, HR pixels
        motion = random_motion(self.clip_frames, ref, gen, self.motion)
        pad = margin_for(motion, s, side)
        region = self.hr_crop(frame, side + 2 * pad, gen)  # the window and its motion margin
        hr = warp_window(region, (pad, pad, side, side), motion, s)
        lr = aligned_window(degrade_clip(hr, s, self.preset, gen), ref, self.align)
        hr = hr[ref]
        if c:
            lr, hr = lr[:, c:-c, c:-c], hr[:, c * s:-c * s, c * s:-c * s]
        return {"lr": lr.contiguous(), "hr": hr.contiguous(), "name": frame.name}


class ClipValidationDataset(_ClipOptions, ValidationDataset):
    """:class:`~irsrgan.data.ValidationDataset`'s windows as clips (seeded by file name):
    ``lr`` the aligned window, ``hr`` its middle frame, ``lr_ref`` the middle frame's LR."""

    def __init__(self, root: str | os.PathLike, *, frames: int = 5,
                 motion: MotionConfig | dict | None = None, align: str = "dis",
                 **kwargs) -> None:
        super().__init__(root, **kwargs)
        self._clip_options(frames, motion, align)
        self._items: dict[int, dict] = {}

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        item = self._items.get(index)
        if item is None:
            frame = self.frames[index]
            clip = make_clip(frame.unit(), self._window(*frame.size), frames=self.clip_frames,
                             scale=self.scale, preset=self.preset,
                             gen=file_generator(self.seed, frame.name), motion=self.motion)
            item = {"lr": aligned_window(clip.lr, clip.ref, self.align),
                    "hr": clip.hr[clip.ref].contiguous(), "lr_ref": clip.lr[clip.ref],
                    "name": frame.name}
            self._items[index] = item
        return {k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in item.items()}
