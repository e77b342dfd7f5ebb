"""The flicker metric: hand-computed values on synthetic clips."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from irsrgan.errors import ImageError
from irsrgan.metrics import FlickerMeter, flicker


def bicubic(x, s=2):
    return F.interpolate(x, scale_factor=s, mode="bicubic", align_corners=False)


@pytest.fixture
def scene():
    g = torch.Generator().manual_seed(0)
    lr = F.avg_pool2d(torch.rand(1, 1, 128, 128, generator=g), 2)  # smooth-ish 64x64
    return lr.expand(8, -1, -1, -1).clone(), g


def test_static_scene_with_per_frame_noise_flickers_by_sigma_sqrt2(scene):
    lr, g = scene
    clean = bicubic(lr)
    steady = flicker(clean, lr)
    assert steady.flicker == 0.0 and steady.static_fraction == 1.0 and steady.pairs == 7
    assert math.isnan(steady.ratio)  # the reference does not change: no ratio
    sigma = 0.02
    noisy = clean + sigma * torch.randn(clean.shape, generator=g)
    # iid noise: E (n_t - n_{t-1})^2 = 2 sigma^2 on every pixel
    assert flicker(noisy, lr).flicker == pytest.approx(sigma * math.sqrt(2), rel=0.01)


def test_bicubic_is_the_reference_and_nearest_flickers_more(scene):
    lr, g = scene
    noisy_lr = lr + 0.01 * torch.randn(lr.shape, generator=g)
    ref = flicker(bicubic(noisy_lr), noisy_lr)
    assert ref.ratio == pytest.approx(1.0, abs=1e-6) and ref.static_fraction > 0.99
    near = flicker(F.interpolate(noisy_lr, scale_factor=2, mode="nearest"), noisy_lr)
    # nearest copies each LR change 4 times; bicubic averages neighbours (its gain on white
    # noise is the sum of its squared weights, below 1)
    assert 1.1 < near.ratio < 2.0
    assert near.reference == pytest.approx(ref.reference)


def test_moving_pixels_are_left_out(scene):
    lr, g = scene
    lr = lr.clone()
    for t in range(8):  # a hot square moving by more than its size every frame
        lr[t, :, 20:28, 8 * t:8 * t + 6] = 1.0
    sr = bicubic(lr)
    moving = torch.zeros_like(sr, dtype=torch.bool)
    for t in range(8):  # noise on the square wherever it is: it moves in every pair
        moving[t, :, 40:56, 16 * t:16 * t + 12] = True
    garbage = torch.where(moving, torch.rand(sr.shape, generator=g), sr)
    result = flicker(garbage, lr)
    # the noise sat on moving pixels only: what is left is bicubic's own faint tail
    assert result.flicker < 2e-5 and result.ratio == pytest.approx(1.0, abs=1e-5)
    assert 0.8 < result.static_fraction < 0.97


def test_meter_checks_shapes():
    meter = FlickerMeter()
    with pytest.raises(ImageError, match="divided by an integer"):
        meter.update(torch.zeros(1, 10, 10), torch.zeros(1, 4, 4))
    meter.update(torch.zeros(1, 8, 8), torch.zeros(1, 4, 4))
    with pytest.raises(ImageError, match="change size"):
        meter.update(torch.zeros(1, 16, 16), torch.zeros(1, 8, 8))


def test_temporal_blend_on_static_pixels_by_hand():
    from irsrgan.sequences.temporal import TemporalBlend

    g = torch.Generator().manual_seed(1)
    lr = torch.rand(1, 1, 16, 16, generator=g)
    moved = lr.clone()
    moved[..., :8, :8] += 0.5  # the top-left quarter changes a lot in frame 2
    ys = [torch.rand(1, 1, 32, 32, generator=g) for _ in range(3)]
    blend = TemporalBlend(0.5)
    out = [blend(x, y) for x, y in zip([lr, lr, moved], ys, strict=True)]
    assert torch.equal(out[0], ys[0])  # the first frame passes
    # frame 1: the input is exactly static (w = 0.5 everywhere): the mean of y_1 and out_0
    torch.testing.assert_close(out[1], 0.5 * ys[1] + 0.5 * ys[0])
    # frame 2: far from the change, still static; inside it, moving: y_2 untouched
    far = (slice(None), slice(None), slice(28, 32), slice(28, 32))
    torch.testing.assert_close(out[2][far], (0.5 * ys[2] + 0.5 * out[1])[far])
    assert torch.equal(out[2][..., 4:12, 4:12], ys[2][..., 4:12, 4:12])
    full = TemporalBlend(1.0)
    steady = [full(lr, y) for y in ys]
    assert flicker(torch.cat(steady), lr.expand(3, -1, -1, -1)).flicker == 0.0
