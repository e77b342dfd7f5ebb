"""Noise estimation and the denoise strength between a faithful and a robust model."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from irsrgan.checkpoint import save_model
from irsrgan.cli import main
from irsrgan.consistency import anchored_image
from irsrgan.denoise import (
    AUTO_RAMP,
    DenoiseUpscaler,
    anchored_tensor,
    auto_strength,
    estimate_strength,
    parse_strength,
    quantise,
    robust_partner,
)
from irsrgan.errors import CheckpointError, ConfigError
from irsrgan.estimate import blockiness, estimate_noise, pixel_noise, stripe_sigma
from irsrgan.image import Image, read_image
from irsrgan.inference import Upscaler
from irsrgan.interpolate import interpolate_models
from irsrgan.models import create_model

from .conftest import write_test_image

pytestmark = pytest.mark.usefixtures("one_thread")


def _scene(h: int = 96, w: int = 128) -> np.ndarray:
    """A smooth thermal-like scene in [0.2, 0.8] (little structure at the pixel scale)."""
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    return 0.5 + 0.25 * np.sin(3 * xx) * np.cos(2 * yy)


def _pair(seed: int = 0):
    torch.manual_seed(seed)
    a = create_model("compact", scale=2, num_features=8, num_convs=2)
    b = create_model("compact", scale=2, num_features=8, num_convs=2)
    return a.eval(), b.eval()


def test_pixel_noise_recovers_an_injected_sigma():
    rng = np.random.default_rng(0)
    for sigma in (0.002, 0.01, 0.03):
        x = _scene(192, 256) + rng.normal(0, sigma, (192, 256))
        assert pixel_noise(x) == pytest.approx(sigma, rel=0.15)


def test_stripe_sigma_recovers_injected_column_stripes():
    rng = np.random.default_rng(1)
    x = _scene(192, 256) + rng.normal(0, 0.002, (192, 256))
    x += rng.normal(0, 0.008, (1, 256))  # constant down each column
    level = estimate_noise(x)
    assert level.column == pytest.approx(0.008, rel=0.2)
    assert level.row < 0.002
    assert stripe_sigma(x.T, level.pixel) < 0.002


def test_blockiness_sees_jpeg_grid():
    rng = np.random.default_rng(3)
    x = cv2.GaussianBlur(rng.random((128, 160)), (0, 0), 3)
    u8 = ((x - x.min()) / np.ptp(x) * 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", u8, [cv2.IMWRITE_JPEG_QUALITY, 60])
    jpg = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE) / 255.0
    assert blockiness(u8 / 255.0) < 0.15 < blockiness(jpg)
    assert blockiness(jpg[3:, 5:]) > 0.15  # another grid phase (a crop) is found too


def test_auto_strength_ramp_endpoints_and_monotone():
    lo, hi = AUTO_RAMP
    assert 0.0 <= lo < hi <= 1.0
    assert auto_strength(lo / 2) == 0.0
    assert auto_strength((1 + hi) / 2) == 1.0
    assert auto_strength((lo + hi) / 2) == pytest.approx(0.5)  # linear between
    values = [auto_strength(p) for p in np.linspace(0, 1, 41)]
    assert values == sorted(values)


def _clean_resample(h: int = 96, w: int = 128, seed: int = 4) -> np.ndarray:
    """A textured scene as a clean x4 resample (antialiased bicubic) of a sharper one."""
    rng = np.random.default_rng(seed)
    hr = cv2.GaussianBlur(rng.random((4 * h, 4 * w)), (0, 0), 3)
    hr = 0.3 + 0.4 * (hr - hr.min()) / np.ptp(hr) + 0.15 * _scene(4 * h, 4 * w)
    lr = torch.nn.functional.interpolate(torch.from_numpy(hr)[None, None], size=(h, w),
                                         mode="bicubic", antialias=True)
    return lr[0, 0].numpy()


def test_estimated_strength_is_monotone_in_injected_noise():
    """White noise at the LR's own pixels is a sensor's: the more of it, the more of the
    robust model (the bundled detector and the fitted ramp together)."""
    rng = np.random.default_rng(2)
    base = _clean_resample()
    strengths = [estimate_strength(base + rng.normal(0, s, base.shape))[0]
                 for s in (0.0, 0.001, 0.002, 0.004, 0.008, 0.016, 0.03)]
    assert strengths == sorted(strengths)
    assert strengths[0] < 0.2 and strengths[-1] > 0.8


@pytest.mark.parametrize("text, expected", [("auto", "auto"), ("AUTO", "auto"), ("0", 0.0),
                                            ("0.35", 0.35), (1, 1.0)])
def test_parse_strength(text, expected):
    assert parse_strength(text) == expected


@pytest.mark.parametrize("text", ["-0.1", "1.5", "strong", "nan"])
def test_parse_strength_refuses(text):
    with pytest.raises(ConfigError, match="denoise strength"):
        parse_strength(text)


def test_endpoints_equal_the_two_models_and_middle_interpolates():
    """Without anchoring the pair is exactly the two models and their interpolation; with it
    (the default) strength 0 is still the faithful model, and above 0 the model's output with
    its levels anchored to the LR."""
    faithful, robust = _pair()
    rng = np.random.default_rng(0)
    lr = torch.from_numpy(_scene(24, 32) + rng.normal(0, 0.002, (24, 32))).float()[None, None]
    image = Image(pixels=(lr[0, 0].numpy() * 255).round().astype(np.uint8), format="png",
                  layout="gray")
    for strength, model in ((0.0, faithful), (1.0, robust),
                            (0.3, interpolate_models(faithful, robust, 0.3))):
        plain = Upscaler(model, tile=0)
        pair = DenoiseUpscaler(faithful, robust, strength, tile=0, anchor=False)
        assert np.array_equal(pair.upscale_image(image).pixels,
                              plain.upscale_image(image).pixels), strength
        assert pair.last_strength == strength
        anchored = DenoiseUpscaler(faithful, robust, strength, tile=0)
        got = anchored.upscale(lr)
        want = plain.upscale(lr) if strength == 0 else anchored_tensor(plain.upscale(lr), lr)
        assert torch.equal(got, want), strength
        assert strength == 0 or not torch.equal(got, plain.upscale(lr))
    two = torch.cat([lr, lr.flip(-1)])  # a batch is anchored image by image
    assert torch.equal(anchored_tensor(plain.upscale(two), two)[1:],
                       anchored_tensor(plain.upscale(two[1:]), two[1:]))


def test_auto_uses_more_of_the_robust_model_on_noisier_input():
    faithful, robust = _pair()
    pair = DenoiseUpscaler(faithful, robust, "auto", tile=0)
    rng = np.random.default_rng(3)
    used = []
    for sigma in (0.0, 0.03):
        px = np.clip(_clean_resample() + rng.normal(0, sigma, (96, 128)), 0, 1)
        pair.upscale_image(Image(pixels=(px * 65535).astype(np.uint16), format="png",
                                 layout="gray"))
        used.append(pair.last_strength)
        assert pair.last_noise is not None
    assert used[0] < used[1] and used[0] <= 0.2 and used[1] >= 0.8
    assert len(pair._upscalers) == 2  # one model per rounded strength, cached


def test_quantise_rounds_to_the_step():
    assert quantise(0.33) == 0.35 and quantise(0.0) == 0.0 and quantise(0.999) == 1.0


def test_pair_of_different_architectures_is_refused():
    a = create_model("compact", scale=2, num_features=8, num_convs=2)
    b = create_model("compact", scale=2, num_features=8, num_convs=3)
    with pytest.raises(CheckpointError, match="different architectures"):
        DenoiseUpscaler(a, b, 0.5)


def test_partner_from_metadata_and_cli(tmp_path):
    faithful, robust = _pair(1)
    save_model(robust, tmp_path / "rob.safetensors")
    save_model(faithful, tmp_path / "fai.safetensors",
               provenance={"denoise_partner": "rob.safetensors"})
    save_model(faithful, tmp_path / "alone.safetensors")
    assert robust_partner(tmp_path / "fai.safetensors") == str(tmp_path / "rob.safetensors")
    assert robust_partner(tmp_path / "alone.safetensors") is None

    rng = np.random.default_rng(4)
    px = (np.clip(_scene(40, 48) + rng.normal(0, 0.03, (40, 48)), 0, 1) * 255).astype(np.uint8)
    src = write_test_image(tmp_path / "in" / "a.png", px)
    out = tmp_path / "out"
    # default: auto for an 8-bit input, the noisy frame goes to the robust end (anchored)
    assert main(["upscale", str(src), "-o", str(out), "--model",
                 str(tmp_path / "fai.safetensors"), "-q", "--tile", "0"]) == 0
    plain = Upscaler(robust, tile=0).upscale_image(read_image(src))
    want = anchored_image(plain, read_image(src)).pixels
    assert np.array_equal(read_image(out / "a.png").pixels, want)
    assert not np.array_equal(want, plain.pixels)
    # --no-anchor: the robust model's output as it is
    assert main(["upscale", str(src), "-o", str(out), "--model",
                 str(tmp_path / "fai.safetensors"), "-q", "--tile", "0", "--no-anchor",
                 "--overwrite"]) == 0
    assert np.array_equal(read_image(out / "a.png").pixels, plain.pixels)
    # a fixed strength; and a model without a partner refuses --denoise
    assert main(["upscale", str(src), "-o", str(out), "--model",
                 str(tmp_path / "fai.safetensors"), "--denoise", "0", "--overwrite", "-q",
                 "--tile", "0"]) == 0
    want = Upscaler(faithful, tile=0).upscale_image(read_image(src)).pixels
    assert np.array_equal(read_image(out / "a.png").pixels, want)
    assert main(["upscale", str(src), "-o", str(out), "--model",
                 str(tmp_path / "alone.safetensors"), "--denoise", "auto", "-q"]) == 2
    assert main(["upscale", str(src), "-o", str(out), "--model",
                 str(tmp_path / "fai.safetensors"), "--denoise", "2", "-q"]) == 2


def test_16bit_input_defaults_to_the_faithful_model(tmp_path):
    faithful, robust = _pair(2)
    save_model(robust, tmp_path / "rob.safetensors")
    save_model(faithful, tmp_path / "fai.safetensors",
               provenance={"denoise_partner": "rob.safetensors"})
    rng = np.random.default_rng(5)
    px = (np.clip(_scene(40, 48) + rng.normal(0, 0.03, (40, 48)), 0, 1) * 60000).astype(
        np.uint16)
    src = write_test_image(tmp_path / "in" / "a.png", px)
    assert main(["upscale", str(src), "-o", str(tmp_path / "out"), "--model",
                 str(tmp_path / "fai.safetensors"), "-q", "--tile", "0",
                 "--no-consistency"]) == 0  # the model's output itself, to compare
    want = Upscaler(faithful, tile=0).upscale_image(read_image(src)).pixels
    assert np.array_equal(read_image(tmp_path / "out" / "a.png").pixels, want)


def test_clips_at_a_fixed_strength_are_anchored_as_stills_are(tmp_path):
    """A clip through the pair at --denoise S > 0 gets each frame level-anchored to its own
    input frame (as a still at S does); S = 0 and --no-anchor give the model's output as is."""
    import tifffile

    faithful, robust = _pair(3)
    save_model(robust, tmp_path / "rob.safetensors")
    save_model(faithful, tmp_path / "fai.safetensors",
               provenance={"denoise_partner": "rob.safetensors"})
    rng = np.random.default_rng(6)
    stack = np.stack([(np.clip(_scene(24, 32) + rng.normal(0, 0.03, (24, 32)), 0, 1) * 255)
                      .astype(np.uint8) for _ in range(3)])
    tifffile.imwrite(tmp_path / "in.tif", stack, photometric="minisblack")

    def run(*extra: str) -> np.ndarray:
        out = tmp_path / f"out{len(list(tmp_path.glob('out*')))}"
        assert main(["upscale", str(tmp_path / "in.tif"), "-o", str(out), "--model",
                     str(tmp_path / "fai.safetensors"), "-q", "--tile", "0", "--backend",
                     "torch", "--temporal", "0", *extra]) == 0
        return tifffile.imread(out / "in.tif")

    frames = [Image(p, "png", "gray") for p in stack]
    pair = DenoiseUpscaler(faithful, robust, 1.0, tile=0)
    want = np.stack([pair.upscale_image(f).pixels for f in frames])  # stills at 1, anchored
    plain = np.stack([Upscaler(robust, tile=0).upscale_image(f).pixels for f in frames])
    assert not np.array_equal(want, plain)
    np.testing.assert_array_equal(run("--denoise", "1"), want)
    np.testing.assert_array_equal(run("--denoise", "1", "--no-anchor"), plain)
    faithful_frames = np.stack([Upscaler(faithful, tile=0).upscale_image(f).pixels
                                for f in frames])
    np.testing.assert_array_equal(run("--denoise", "0"), faithful_frames)
    # auto, in any spelling: a clip keeps the faithful model as it is (it used to crash on
    # "AUTO", which the pair's parser accepts)
    np.testing.assert_array_equal(run("--denoise", "AUTO"), faithful_frames)
