"""irsrgan.tiling in NumPy alone: padding as PyTorch pads, ramps that sum to one, tiled equals
untiled for a forward whose receptive field the overlap covers, channel handling."""

from __future__ import annotations

import numpy as np
import pytest

from irsrgan import tiling
from irsrgan.errors import ConfigError, ImageError


def box_forward(scale: int):
    """A 3x3 box mean (receptive radius 1) then nearest upsampling: a stand-in model whose
    output is known exactly."""
    def forward(x: np.ndarray) -> np.ndarray:
        p = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="edge")
        h, w = x.shape[-2:]
        mean = sum(p[..., dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)) / 9
        return mean.repeat(scale, axis=2).repeat(scale, axis=3).astype(np.float32)
    return forward


def test_pad_reflects_like_torch_and_replicates_when_too_small():
    x = np.arange(1, 7, dtype=np.float32).reshape(1, 1, 2, 3)
    got = tiling.pad(x, 1, 1)[0, 0]
    assert got.tolist() == [[5, 4, 5, 6, 5], [2, 1, 2, 3, 2], [5, 4, 5, 6, 5], [2, 1, 2, 3, 2]]
    # 2 rows cannot be reflected by 2: every side is replicated instead (torch's "replicate")
    assert tiling.pad(x, 2, 1)[0, 0, :, 0].tolist() == [1, 1, 1, 4, 4, 4]
    # the bottom and right are padded further up to the size multiple
    assert tiling.pad(np.zeros((1, 1, 5, 7), np.float32), 1, 4).shape == (1, 1, 8, 12)


def test_neighbouring_ramps_sum_to_one():
    tiles = tiling.axis_tiles(100, 108, 40, 4, 4, 1)
    assert len(tiles) == 4
    total = sum(t.weight for t in tiles)
    np.testing.assert_array_equal(total, np.ones(400, np.float32))
    # each ramp rises over overlap * scale = 16 HR pixels centred on its boundary, linearly
    # over pixel centres
    ramp = tiles[1].weight[tiles[1].weight > 0]
    np.testing.assert_array_equal(ramp[:17], (np.arange(17) + 0.5).clip(0, 16) / 16)
    assert ramp[16] == 1


@pytest.mark.parametrize("tile", [24, 40, 64])
def test_tiled_equals_untiled_and_the_exact_output(tile):
    x = np.random.default_rng(0).random((2, 1, 37, 53), dtype=np.float32)
    layout = tiling.Layout(scale=2, in_channels=1, out_channels=1)
    forward = box_forward(2)
    whole = tiling.upscale(x, forward, layout, tile=0, overlap=4)
    tiled = tiling.upscale(x, forward, layout, tile=tile, overlap=4, batch_size=3)
    assert tiled.shape == (2, 1, 74, 106)
    np.testing.assert_allclose(tiled, whole, atol=1e-6)
    # the interior equals the box mean computed directly (reflect padding at the borders)
    direct = forward(tiling.pad(x, 1, 1))[..., 2:-2, 2:-2]
    np.testing.assert_allclose(whole, direct, atol=1e-6)


def test_bands_cover_every_row_once_and_report_progress():
    x = np.random.default_rng(1).random((1, 1, 50, 30), dtype=np.float32)
    seen = []
    layout = tiling.Layout(scale=3, in_channels=1, out_channels=1)
    rows = list(tiling.bands(x, box_forward(3), layout, tile=24, overlap=2,
                             progress=lambda done, total: seen.append((done, total))))
    starts = [r for r, _ in rows]
    heights = [b.shape[2] for _, b in rows]
    assert starts[0] == 0 and sum(heights) == 150
    assert starts[1:] == list(np.cumsum(heights)[:-1])
    assert seen[-1][0] == seen[-1][1] == len(seen) and len(seen) == 3 * 2  # 3 x 2 tiles


def test_channel_handling():
    x = np.random.default_rng(2).random((1, 3, 20, 20), dtype=np.float32)
    gray = tiling.Layout(scale=2, in_channels=1, out_channels=1)
    colour = tiling.Layout(scale=2, in_channels=3, out_channels=3)
    per_channel = tiling.upscale(x, box_forward(2), gray, tile=0, overlap=2)
    assert per_channel.shape == (1, 3, 40, 40)
    np.testing.assert_allclose(
        per_channel[:, 1:2], tiling.upscale(x[:, 1:2], box_forward(2), gray, tile=0, overlap=2))
    replicated = tiling.upscale(x[:, :1], box_forward(2), colour, tile=0, overlap=2)
    np.testing.assert_allclose(replicated, per_channel[:, :1], atol=1e-6)
    with pytest.raises(ImageError, match="3-channel model on 2-channel input"):
        tiling.upscale(x[:, :2], box_forward(2), colour, tile=0, overlap=2)


def test_bad_tiles_and_overlaps_are_named():
    x = np.zeros((1, 1, 64, 64), np.float32)
    layout = tiling.Layout(scale=2, in_channels=1, out_channels=1)
    with pytest.raises(ConfigError, match="tile 20 too small for overlap 4: use at least 24"):
        tiling.upscale(x, box_forward(2), layout, tile=20, overlap=4)
    with pytest.raises(ConfigError, match="overlap must be <= 256"):
        tiling.check_overlap(257)
