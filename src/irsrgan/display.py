"""How values are shown on an 8-bit screen: the display window and the stretch onto it.

An 8-bit image is shown as stored. A 16-bit or float image (raw counts, temperatures, or their
unit-range model values) is stretched linearly between the 0.5 and 99.5 percentiles of its
finite values, so a few hot or dead pixels do not flatten the rest. The web page's still
previews (:mod:`irsrgan.server.previews`) and clip previews (:mod:`irsrgan.sequences.preview`)
both use this one window.

>>> import numpy as np
>>> display_window(np.zeros((4, 4), np.uint8)) is None
True
>>> display_window(np.arange(1000, dtype=np.uint16))
(4.995, 994.005)
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: the percentiles a 16-bit or float image is stretched between
PREVIEW_PERCENTILES = (0.5, 99.5)
#: the most values the percentiles are computed from (a strided subsample beyond)
WINDOW_SAMPLES = 250_000


def display_window(values: Any, dtype: Any = None) -> tuple[float, float] | None:
    """The values shown as black and white, or None to show the data as stored.

    Args:
        values: the values to show (an array, or a CPU tensor), in any units.
        dtype: what decides 8-bit: the stored data's dtype, or anything with a ``.dtype`` (an
            :class:`~irsrgan.image.Image`); default ``values``' own.

    Returns:
        None for 8-bit data; else the 0.5 and 99.5 percentiles of the finite values (of a
        strided subsample of at most :data:`WINDOW_SAMPLES`); where those are equal, the finite
        minimum and maximum; a flat image: its value +- 0.5; no finite value: ``(0, 1)``.
    """
    values = np.asarray(values).ravel()
    if dtype is None:
        dtype = values.dtype
    elif not isinstance(dtype, (np.dtype, type, str)):  # an Image
        dtype = dtype.dtype
    if np.dtype(dtype) == np.uint8:
        return None
    if values.size > WINDOW_SAMPLES:  # percentiles of a strided subsample suffice for display
        values = values[:: values.size // WINDOW_SAMPLES + 1]
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 1.0
    low, high = (float(v) for v in np.percentile(values, PREVIEW_PERCENTILES))
    if high <= low:
        low, high = float(values.min()), float(values.max())
    if high <= low:
        low, high = low - 0.5, low + 0.5
    return low, high


def to_display(values: np.ndarray, window: tuple[float, float] | None) -> np.ndarray:
    """``values`` as uint8 for display: stretched linearly from ``window`` onto 0..255 (NaN:
    0), or with ``window`` None (8-bit data) as stored."""
    if window is None:
        return np.ascontiguousarray(np.clip(np.rint(values), 0, 255).astype(np.uint8))
    low, high = window
    unit = np.array(values, dtype=np.float32)  # a copy, worked on in place
    unit -= low
    unit *= 255.0 / (high - low)
    np.nan_to_num(unit, copy=False, nan=0.0, posinf=255.0, neginf=0.0)
    np.clip(unit, 0.0, 255.0, out=unit)
    np.rint(unit, out=unit)
    return unit.astype(np.uint8)


__all__ = ["PREVIEW_PERCENTILES", "display_window", "to_display"]
