"""Limits on a sequence's length: checked from what the container says, then while reading.

A server (or any caller that takes clips from others) must not decode a 10-hour clip to find
out that it is too long. :meth:`ClipLimits.check` refuses a sequence from its header (frame
count, duration) before any frame past the first is decoded; :meth:`ClipLimits.guard` wraps
the reader's frames and stops at the first frame past the limit, for containers that do not
say how long they are (or say it wrongly): at most one frame past the limit is ever decoded.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..errors import ConfigError, SequenceTooLongError
from .frames import Frame, SequenceInfo


@dataclass(frozen=True)
class ClipLimits:
    """The most frames and seconds a sequence may hold (None: no limit)."""

    max_frames: int | None = None
    max_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.max_frames is not None and (not isinstance(self.max_frames, int)
                                            or self.max_frames < 1):
            raise ConfigError(f"max_frames must be an integer >= 1, got {self.max_frames!r}")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise ConfigError(f"max_seconds must be > 0, got {self.max_seconds!r}")

    def check(self, info: SequenceInfo) -> None:
        """Refuse a sequence whose header says it is too long.

        Raises:
            SequenceTooLongError: naming the file, its length and the limit.
        """
        frames = info.estimated_frames()
        if self.max_frames is not None and frames is not None and frames > self.max_frames:
            how = "" if info.frames is not None else " (its duration times its frame rate)"
            raise SequenceTooLongError(
                f"{info.path.name}: {frames} frames{how}; the limit is {self.max_frames} frames",
                "frames")
        seconds = info.duration
        if seconds is None and info.frames is not None and info.rate:
            seconds = float(info.frames / info.rate)
        if self.max_seconds is not None and seconds is not None and seconds > self.max_seconds:
            raise SequenceTooLongError(
                f"{info.path.name}: {seconds:.3g} s long; the limit is {self.max_seconds:g} s",
                "seconds")

    def guard(self, frames: Iterator[Frame], info: SequenceInfo) -> Iterator[Frame]:
        """``frames``, stopped with an error at the first frame past a limit (that frame is the
        only one decoded past it)."""
        pts0 = None
        for frame in frames:
            if self.max_frames is not None and frame.index >= self.max_frames:
                raise SequenceTooLongError(
                    f"{info.path.name}: more than {self.max_frames} frames (the container did "
                    f"not say how many); the limit is {self.max_frames} frames", "frames")
            if self.max_seconds is not None and frame.pts is not None and info.time_base:
                pts0 = frame.pts if pts0 is None else pts0
                at = float((frame.pts - pts0) * info.time_base)
                if at >= self.max_seconds:
                    raise SequenceTooLongError(
                        f"{info.path.name}: a frame at {at:.3g} s; the limit is "
                        f"{self.max_seconds:g} s", "seconds")
            yield frame
