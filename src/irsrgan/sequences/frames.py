"""What a sequence is made of: :class:`Frame` and :class:`SequenceInfo`, and frame selection."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import numpy as np

from ..errors import ConfigError
from ..image import Image

SequenceKind = Literal["video", "folder", "tiff", "flir-seq", "flir-csq"]


@dataclass
class Frame:
    """One frame: its pixels and where it sits in the sequence.

    ``index`` is the frame's position in the source (0-based, before any selection); ``pts`` its
    presentation time in units of the sequence's ``time_base`` (None where the source has no
    clock: folders, TIFF stacks); ``name`` its file name in a frame folder.
    """

    index: int
    image: Image
    pts: int | None = None
    name: str = ""


@dataclass(frozen=True)
class SequenceInfo:
    """What a reader knows before decoding every frame."""

    path: Path
    kind: SequenceKind
    frames: int | None  # count, None when the container does not say
    width: int
    height: int
    dtype: np.dtype
    layout: str  # an image Layout: gray, rgb, ...
    time_base: Fraction | None = None
    rate: Fraction | None = None  # frames per second
    codec: str | None = None
    dropped: tuple[str, ...] = ()  # other streams (audio, subtitles, data) that are not kept
    duration: float | None = None  # seconds, where the container says

    def estimated_frames(self) -> int | None:
        """``frames``, or the duration times the rate where the container does not count."""
        if self.frames is not None:
            return self.frames
        if self.duration and self.rate:
            return max(1, round(self.duration * self.rate))
        return None


@dataclass(frozen=True)
class Selection:
    """``--start``, ``--end`` (exclusive) and ``--every``: source frames kept, 0-based."""

    start: int = 0
    end: int | None = None
    every: int = 1

    def __post_init__(self) -> None:
        if self.start < 0:
            raise ConfigError(f"start (--start) must be >= 0, got {self.start}")
        if self.end is not None and self.end <= self.start:
            raise ConfigError(f"end (--end) must be after start {self.start}, got {self.end}")
        if self.every < 1:
            raise ConfigError(f"every (--every) must be >= 1, got {self.every}")

    def keeps(self, index: int) -> bool:
        return (index >= self.start and (self.end is None or index < self.end)
                and (index - self.start) % self.every == 0)

    def done(self, index: int) -> bool:
        """True once ``index`` is past the selection (reading can stop)."""
        return self.end is not None and index >= self.end

    def count(self, total: int | None) -> int | None:
        """Selected frames out of ``total`` source frames."""
        if total is None:
            return None
        stop = total if self.end is None else min(total, self.end)
        return max(0, -(-(stop - self.start) // self.every))

    def apply(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        for frame in frames:
            if self.done(frame.index):
                return
            if self.keeps(frame.index):
                yield frame


def natural_key(name: str) -> tuple:
    """Sort key that orders ``frame_2`` before ``frame_10``."""
    return tuple(int(part) if part.isdigit() else part.lower()
                 for part in re.split(r"(\d+)", name))
