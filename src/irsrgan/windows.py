"""Sliding windows over a sequence, for a multi-frame model (:mod:`irsrgan.models.multiframe`).

Frame ``t``'s output reads the window ``t - r .. t + r`` (``r = frames // 2``), each neighbour
aligned onto frame ``t`` (:func:`irsrgan.align.align_window`). At the ends of a clip the
missing neighbours are the first / last frame repeated (which the model treats as a still
camera). Frames are read ``r`` ahead of the output and at most ``2 r + 1`` are held, so memory
does not depend on the clip's length.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import TypeVar

import numpy as np
import torch

from .align import align_window
from .errors import ConfigError

T = TypeVar("T")


def sliding_windows(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Centred windows of odd ``size`` over ``items``, one per item, ends repeated:
    ``[a, b, c]`` with size 3 gives ``[a, a, b], [a, b, c], [b, c, c]``. Reads ``size // 2``
    items ahead of the window it yields."""
    if size < 1 or size % 2 == 0:
        raise ConfigError(f"window size must be odd and >= 1, got {size}")
    r = size // 2
    it = iter(items)
    ahead = list(islice(it, r + 1))  # the centre and up to r items after it
    if not ahead:
        return
    past = [ahead[0]] * r
    while ahead:
        centre, future = ahead[0], ahead[1:]
        future = future + [future[-1] if future else centre] * (r - len(future))
        yield past + [centre] + future
        if r:
            past = past[1:] + [centre]
        ahead.pop(0)
        nxt = next(it, _END)
        if nxt is not _END:
            ahead.append(nxt)


_END = object()


def aligned_stack(window: list[np.ndarray], align: str) -> torch.Tensor:
    """``(C, N, h, w)``: a window of ``(C, h, w)`` unit frames, each channel aligned onto the
    middle frame (a model of ``N`` input channels upscales the ``C`` channels as a batch)."""
    ref = len(window) // 2
    frames = np.stack(window, 1).astype(np.float32, copy=False)  # (C, N, h, w)
    return torch.from_numpy(np.stack([align_window(ch, ref, align) for ch in frames]))


def upscale_windows(units: Iterable[np.ndarray], frames: int, align: str,
                    upscale: Callable[[torch.Tensor], torch.Tensor]
                    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``(lr, sr)`` per frame: the frame ``(1, C, h, w)`` and ``upscale``'s output for its
    aligned window, ``(1, C, h * s, w * s)``."""
    for window in sliding_windows(units, frames):
        stack = aligned_stack(window, align)  # (C, N, h, w)
        sr = upscale(stack)  # (C, 1, H, W)
        yield torch.from_numpy(window[frames // 2])[None], sr.reshape(1, -1, *sr.shape[-2:])


__all__ = ["aligned_stack", "sliding_windows", "upscale_windows"]
