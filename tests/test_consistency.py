"""--consistency: the area-downsampled output equals the input (within one unit)."""

from __future__ import annotations

import numpy as np
import pytest

from irsrgan.cli import main
from irsrgan.consistency import (
    anchor_levels,
    anchored_image,
    block_mean,
    consistent_image,
    lr_noise,
    project_block_mean,
)
from irsrgan.errors import ImageError
from irsrgan.image import Image, read_image

from .conftest import write_test_image


def _pair(dtype, scale=4, shape=(12, 16), seed=0):
    """An LR image and a plausible but inconsistent SR of it (noisy nearest upsampling)."""
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "ui" else None
    hi = float(info.max) if info else 40.0
    lr = rng.uniform(0, hi, shape)
    lr[:4, :4] = hi  # a saturated corner: clipping must not stop the correction elsewhere
    lr[4:8, :4] = 0
    sr = np.repeat(np.repeat(lr, scale, 0), scale, 1) + rng.normal(0, hi / 20, (shape[0] * scale,
                                                                            shape[1] * scale))
    if info:
        lr, sr = np.rint(lr), np.clip(np.rint(sr), info.min, info.max)
    return (Image(pixels=lr.astype(dtype), format="tiff"),
            Image(pixels=sr.astype(dtype), format="tiff"))


@pytest.mark.parametrize(("dtype", "tol"), [(np.uint8, 1.0), (np.uint16, 1.0),
                                            (np.float32, 1e-4)])
def test_block_means_equal_the_input(dtype, tol):
    lr, sr = _pair(dtype)
    before = np.abs(block_mean(sr.pixels.astype(np.float64), 4) - lr.pixels).max()
    out = consistent_image(sr, lr)
    after = np.abs(block_mean(out.pixels.astype(np.float64), 4) - lr.pixels).max()
    assert out.dtype == dtype and out.pixels.shape == sr.pixels.shape
    assert before > 3 * tol and after <= tol


def test_float_is_exact_in_one_step_and_nan_blocks_stay_nan():
    lr, sr = _pair(np.float32, scale=2)
    lr.pixels[5, 7] = np.nan
    sr.pixels[10:12, 14:16] = np.nan
    lr.pixels[0, 0] = np.inf
    sr.pixels[0:2, 0:2] = np.inf
    out = consistent_image(sr, lr)
    means = block_mean(out.pixels.astype(np.float64), 2)
    ok = np.isfinite(lr.pixels)
    assert np.abs(means[ok] - lr.pixels[ok]).max() < 1e-5
    assert np.isnan(out.pixels[10:12, 14:16]).all() and (out.pixels[0:2, 0:2] == np.inf).all()
    assert np.isfinite(out.pixels[2:10]).all()


def test_consistent_output_is_left_alone():
    lr = np.arange(12, dtype=np.float64).reshape(3, 4)
    sr = np.repeat(np.repeat(lr, 2, 0), 2, 1)
    assert np.array_equal(project_block_mean(sr, lr, 2), sr)


def test_mismatched_sizes_are_refused():
    lr, sr = _pair(np.uint16)
    with pytest.raises(ImageError, match="not an integer multiple"):
        consistent_image(Image(pixels=sr.pixels[:-1], format="tiff"), lr)


def test_upscale_default_on_for_16bit_off_for_8bit(tmp_path, capsys):
    rng = np.random.default_rng(3)
    src16 = write_test_image(tmp_path / "in" / "a.tif", rng.integers(1000, 60000, (8, 8))
                             .astype(np.uint16), "tiff")
    src8 = write_test_image(tmp_path / "in" / "b.png", rng.integers(0, 255, (8, 8))
                            .astype(np.uint8))
    from irsrgan.checkpoint import save_model
    from irsrgan.models import create_model

    model = create_model("compact", scale=2, num_features=8, num_convs=2)  # random: inconsistent
    weights = tmp_path / "m.safetensors"
    save_model(model, weights)
    outs = {}
    for flag in ([], ["--consistency"], ["--no-consistency"]):
        dst = tmp_path / ("o" + "".join(flag))
        assert main(["upscale", str(tmp_path / "in"), "-o", str(dst), "--model", str(weights),
                     "-q", *flag]) == 0
        outs[tuple(flag)] = {k: read_image(dst / k).pixels.astype(np.float64)
                             for k in ("a.tif", "b.png")}
    lr16 = read_image(src16).pixels.astype(np.float64)
    lr8 = read_image(src8).pixels.astype(np.float64)

    def err(px, lr):
        return np.abs(block_mean(px, 2) - lr).max()

    assert err(outs[()]["a.tif"], lr16) <= 1.0 < err(outs[("--no-consistency",)]["a.tif"], lr16)
    assert err(outs[("--consistency",)]["b.png"], lr8) <= 1.0 < err(outs[()]["b.png"], lr8)


def _smooth_scene(h=64, w=80, seed=0):
    """A smooth HR scene in [0.2, 0.8] (LR 16x20 at x4)."""
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    return 0.5 + 0.2 * np.sin(5 * xx + 1) * np.cos(4 * yy)


def test_level_anchoring_moves_a_shifted_region_back():
    hr = _smooth_scene()
    lr = block_mean(hr, 4)
    sr = hr.copy()
    sr[16:48, 20:60] += 0.05  # a region drawn 0.05 too warm (8x10 LR px)
    out = anchor_levels(sr, lr, 4, noise=0.002)
    inner = (slice(24, 40), slice(28, 52))  # the region, away from its edges
    assert np.abs(sr - hr)[inner].mean() == pytest.approx(0.05)
    assert np.abs(out - hr)[inner].mean() < 0.005  # nine tenths of the shift undone
    assert np.abs(out - hr)[:8, :8].max() < 1e-3  # far from it: left alone


def test_level_anchoring_does_not_put_the_noise_back():
    """A perfect denoiser's output (the clean scene) is left nearly as it is: the residual is
    the LR's noise, which the gaussian shrinks and the threshold then removes; without the
    threshold (noise=0) the same smoothed noise would go back in."""
    rng = np.random.default_rng(1)
    hr = _smooth_scene(256, 320)
    lr = block_mean(hr, 4) + rng.normal(0, 0.01, (64, 80))
    sigma = lr_noise(lr)
    assert sigma == pytest.approx(0.01, rel=0.2)
    kept = np.sqrt(np.mean((anchor_levels(hr, lr, 4, sigma) - hr) ** 2))
    unthresholded = np.sqrt(np.mean((anchor_levels(hr, lr, 4, 0.0) - hr) ** 2))
    assert unthresholded > 0.002  # about 0.01 / (2 sqrt(pi)) of smoothed noise
    assert kept < unthresholded / 8


def test_level_anchoring_without_smoothing_thresholds_the_pixel_residual():
    """``sigma=0`` thresholds the residual at ``threshold`` x the pixel noise itself: a
    uniform 0.03 level error passes a 0.02 threshold by 0.01 and is stopped by a 0.04 one;
    with the default gaussian (which leaves 0.28 of the noise) it passes a 0.0056 one."""
    hr = _smooth_scene()
    lr = block_mean(hr, 4)
    sr = hr - 0.03
    out = anchor_levels(sr, lr, 4, 0.01, sigma=0.0, threshold=2.0)
    assert np.abs(out - (sr + 0.01)).max() < 1e-9
    assert np.abs(anchor_levels(sr, lr, 4, 0.01, sigma=0.0, threshold=4.0) - sr).max() == 0
    tau = 2.0 * 0.01 / (2 * np.sqrt(np.pi))
    shipped = anchor_levels(sr, lr, 4, 0.01)
    assert np.abs(shipped - (sr + 0.03 - tau)).max() < 1e-6


def test_level_anchoring_keeps_integer_range_and_refuses_other_sizes():
    lr, sr = _pair(np.uint8)
    out = anchored_image(sr, lr)
    assert out.dtype == np.uint8 and out.pixels.shape == sr.pixels.shape
    with pytest.raises(ImageError, match="not x4"):
        anchor_levels(np.zeros((40, 40)), np.zeros((12, 12)), 4, 0.0)
