"""The one display window of still and clip previews (irsrgan.display)."""

from __future__ import annotations

import numpy as np
import torch

from irsrgan.display import PREVIEW_PERCENTILES, display_window, to_display
from irsrgan.image import Image


def test_eight_bit_is_shown_as_stored():
    px = np.arange(256, dtype=np.uint8).reshape(16, 16)
    assert display_window(px) is None
    assert display_window(torch.rand(1, 1, 4, 4), Image(px)) is None  # decided by the file
    np.testing.assert_array_equal(to_display(px, None), px)


def test_percentiles_of_the_finite_values_in_any_units():
    counts = np.random.default_rng(0).integers(1000, 20000, (64, 64)).astype(np.uint16)
    low, high = np.percentile(counts, PREVIEW_PERCENTILES)
    assert display_window(counts) == (low, high)
    unit = torch.from_numpy((counts - 1000) / 19000.0).float()
    with_nan = unit.clone()
    with_nan[0, :5] = float("nan")
    a, b = display_window(unit, np.uint16)
    assert abs(a - (low - 1000) / 19000) < 1e-6 and abs(b - (high - 1000) / 19000) < 1e-6
    assert display_window(with_nan, np.uint16) == display_window(with_nan[torch.isfinite(
        with_nan)], np.uint16)


def test_flat_frames():
    flat = np.full((32, 32), 14000.0, np.float32)
    assert display_window(flat) == (13999.5, 14000.5)  # its value: mid-grey
    assert to_display(flat, display_window(flat)).tolist() == [[128] * 32] * 32
    spots = flat.copy()
    spots[0, :3] = (100.0, 20000.0, np.inf)  # <1 %: the percentiles are equal
    assert display_window(spots) == (100.0, 20000.0)  # then the finite min..max
    assert display_window(np.full((3, 3), np.nan, np.float32)) == (0.0, 1.0)


def test_stretch_saturates_and_zeroes_nan():
    values = np.array([[-1.0, 0.0, 0.5, 1.0, 2.0, np.nan, np.inf, -np.inf]], np.float32)
    assert to_display(values, (0.0, 1.0)).tolist() == [[0, 0, 128, 255, 255, 0, 255, 0]]
