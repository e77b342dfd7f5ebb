"""--consistency: the area-downsampled output equals the input (within one unit)."""

from __future__ import annotations

import numpy as np
import pytest

from irsrgan.cli import main
from irsrgan.consistency import block_mean, consistent_image, project_block_mean
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
