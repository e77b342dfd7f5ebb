"""Metrics: PSNR/SSIM against scikit-image, closed forms, LPIPS against a hand computation with a
random backbone, LPIPS-I and its variant against hand computations, HF ratio, radiometric error.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from irsrgan import metrics
from irsrgan.backbones import to_imagenet_input
from irsrgan.errors import CheckpointError, ConfigError, ImageError, WeightsMissingError
from irsrgan.image import Image

# Tolerances, in one place.
TOL_PSNR_DB = 1e-3  # against scikit-image
TOL_SSIM = 1e-4  # against scikit-image
TOL_CLOSED_FORM_DB = 1e-6
TOL_HAND = 1e-9  # float64 hand computations (LPIPS-I, radiometric)
TOL_LPIPS_REL = 1e-4  # float32 backbone vs the numpy hand computation

SKI_SSIM = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False}


def _scene(h: int, w: int, seed: int, levels: int) -> np.ndarray:
    """A smooth random scene with edges, as integers in 0..levels."""
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.random((h, w)), (0, 0), 2.0)
    base = (base - base.min()) / (base.max() - base.min())
    base[h // 3 : h // 2, w // 4 : w // 2] += 0.3
    return np.clip(base / base.max() * levels, 0, levels).round()


def _pair(h: int, w: int, dtype, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    levels = np.iinfo(dtype).max
    hr = _scene(h, w, seed, levels)
    rng = np.random.default_rng(seed + 1)
    sr = np.clip(hr + rng.normal(0, 0.03 * levels, hr.shape).round(), 0, levels)
    return sr.astype(dtype), hr.astype(dtype)


def _t(a: np.ndarray, scale: float = 1.0) -> torch.Tensor:
    """(H, W) or (H, W, C) array -> (1, C, H, W) float32 tensor divided by ``scale``."""
    a = a.astype(np.float64) / scale
    a = a[None] if a.ndim == 2 else np.moveaxis(a, -1, 0)
    return torch.from_numpy(a.astype(np.float32))[None]


# --------------------------------------------------------------------------- PSNR / SSIM


@pytest.mark.parametrize(
    ("dtype", "h", "w", "crop"),
    [(np.uint8, 37, 53, 0), (np.uint8, 37, 53, 4), (np.uint16, 29, 41, 0), (np.uint16, 29, 41, 3)],
)
def test_psnr_ssim_match_scikit_image(dtype, h, w, crop):
    sr, hr = _pair(h, w, dtype)
    rng_max = float(np.iinfo(dtype).max)
    c = slice(crop, -crop) if crop else slice(None)
    ref_psnr = peak_signal_noise_ratio(hr[c, c], sr[c, c], data_range=rng_max)
    ref_ssim = structural_similarity(hr[c, c], sr[c, c], data_range=rng_max, **SKI_SSIM)
    # In the unit range with data_range 1 (how the CLI compares) ...
    sr_u, hr_u = _t(sr, rng_max), _t(hr, rng_max)
    assert metrics.psnr(sr_u, hr_u, crop_border=crop).item() == pytest.approx(
        ref_psnr, abs=TOL_PSNR_DB
    )
    assert metrics.ssim(sr_u, hr_u, crop_border=crop).item() == pytest.approx(
        ref_ssim, abs=TOL_SSIM
    )
    # ... and in native units with data_range of the bit depth.
    sr_n = torch.from_numpy(sr.astype(np.float64))[None, None]
    hr_n = torch.from_numpy(hr.astype(np.float64))[None, None]
    got = metrics.ssim(sr_n, hr_n, data_range=rng_max, crop_border=crop).item()
    assert got == pytest.approx(ref_ssim, abs=1e-10)
    got = metrics.psnr(sr_n, hr_n, data_range=rng_max, crop_border=crop).item()
    assert got == pytest.approx(ref_psnr, abs=1e-9)
    # The SSIM is far from trivial here (a test that could not fail would sit at 1.0).
    assert 0.3 < ref_ssim < 0.99


def test_ssim_multichannel_and_batch_match_scikit_image():
    rng = np.random.default_rng(3)
    hr = rng.random((2, 23, 31, 3))
    sr = np.clip(hr + rng.normal(0, 0.1, hr.shape), 0, 1)
    ours = metrics.ssim(
        torch.from_numpy(np.moveaxis(sr, -1, 1)), torch.from_numpy(np.moveaxis(hr, -1, 1))
    )
    for i in range(2):
        ref = structural_similarity(hr[i], sr[i], data_range=1.0, channel_axis=-1, **SKI_SSIM)
        assert ours[i].item() == pytest.approx(ref, abs=TOL_SSIM)


def test_psnr_constant_offset_closed_form():
    hr = torch.randint(0, 128, (3, 1, 17, 19), generator=torch.Generator().manual_seed(0)) / 256
    for d in (0.125, 0.25, 0.015625):
        value = metrics.psnr(hr + d, hr)
        expected = 20 * math.log10(1 / d)
        assert torch.allclose(value, torch.full((3,), expected, dtype=torch.float64),
                              atol=TOL_CLOSED_FORM_DB)
    # On an 8-bit data range in native units: offset 5 levels -> 20*log10(255/5).
    assert metrics.psnr(hr * 255 + 5, hr * 255, data_range=255).tolist() == pytest.approx(
        [20 * math.log10(51)] * 3, abs=TOL_CLOSED_FORM_DB
    )


def test_psnr_identical_is_inf_and_ssim_one():
    hr = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    sr = hr.clone()
    sr[1] += 0.5
    value = metrics.psnr(sr, hr)
    assert math.isinf(value[0].item()) and value[0] > 0
    assert value[1].item() == pytest.approx(20 * math.log10(2), abs=1e-5)
    assert metrics.ssim(hr, hr).tolist() == pytest.approx([1.0, 1.0], abs=1e-12)


def test_y_channel_on_gray_adds_1_32_db():
    sr, hr = _pair(24, 24, np.uint8)
    sr_u, hr_u = _t(sr, 255), _t(hr, 255)
    gain = (metrics.psnr(sr_u, hr_u, y_channel=True) - metrics.psnr(sr_u, hr_u)).item()
    assert gain == pytest.approx(20 * math.log10(255 / 219), abs=1e-4)
    assert gain == pytest.approx(1.32, abs=0.005)
    # RGB input: Y by the BT.601 weights.
    rgb = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
    assert metrics.rgb_to_y(rgb).item() == pytest.approx((16 + 65.481) / 255)


def test_shape_and_option_errors_name_what_came():
    x = torch.rand(3, 64, 64)
    with pytest.raises(ImageError, match=r"sr must be \(B, C, H, W\), got \(3, 64, 64\)"):
        metrics.psnr(x, x)
    with pytest.raises(ImageError, match=r"same shape, got \(1, 1, 8, 8\) and \(1, 1, 8, 9\)"):
        metrics.psnr(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 9))
    with pytest.raises(ImageError, match="crop_border 4 leaves nothing of a 8x8"):
        metrics.psnr(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8), crop_border=4)
    with pytest.raises(ConfigError, match="crop_border must be a non-negative"):
        metrics.ssim(torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16), crop_border=-1)
    with pytest.raises(ImageError, match="at least 11x11 after cropping, got 10x16"):
        metrics.ssim(torch.rand(1, 1, 14, 20), torch.rand(1, 1, 14, 20), crop_border=2)
    with pytest.raises(ConfigError, match="data_range must be a positive"):
        metrics.psnr(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8), data_range=0)


# --------------------------------------------------------------------------- Laplacian, LPIPS-I


def _hand_laplacian_var(img: np.ndarray) -> float:
    """Population variance of the 4-neighbour Laplacian with a reflect-101 border."""
    p = np.pad(img.astype(np.float64), 1, mode="reflect")  # numpy 'reflect' is reflect-101
    lap = p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:] - 4 * p[1:-1, 1:-1]
    return float(lap.var())


def test_laplacian_equals_opencv_default_border():
    img = np.random.default_rng(5).random((9, 13))
    ours = metrics.laplacian(torch.from_numpy(img)[None, None])[0, 0].numpy()
    np.testing.assert_allclose(ours, cv2.Laplacian(img, cv2.CV_64F), atol=1e-12)


class _StubDistance:
    """A distance returning fixed values and recording how it was called."""

    def __init__(self, values):
        self.values = torch.tensor(values, dtype=torch.float64)
        self.calls = []

    def __call__(self, a, b):
        self.calls.append((a, b))
        return self.values


def test_lpips_i_against_hand_computation():
    sr8, hr8 = _pair(21, 27, np.uint8, seed=7)
    stub = _StubDistance([0.25])
    sr, hr = _t(sr8, 255), _t(hr8, 255)
    value = metrics.lpips_i(sr, hr, stub).item()
    expected = math.log2(_hand_laplacian_var(sr8)) / 0.25
    assert value == pytest.approx(expected, rel=1e-6)  # float32 sr/255*255
    assert 10 < expected < 100
    # LPIPS_vgg(HR, SR): the distance is called with HR first.
    (a, b), = stub.calls
    assert torch.equal(a, hr) and torch.equal(b, sr)
    # Precomputed distances are accepted too; float64 input gives the hand value exactly.
    sr64 = torch.from_numpy(sr8.astype(np.float64) / 255)[None, None]
    exact = metrics.lpips_i(sr64, sr64, torch.tensor([0.25])).item()
    assert exact == pytest.approx(expected, abs=TOL_HAND)


def test_lpips_i_pixel_scale():
    sr = torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    d = torch.tensor([0.5])
    at_8bit = metrics.lpips_i(sr, sr, d) * 0.5
    at_16bit = metrics.lpips_i(sr, sr, d, pixel_scale=65535.0) * 0.5
    assert (at_16bit - at_8bit).item() == pytest.approx(2 * math.log2(257), abs=1e-9)


def test_lpips_i_undefined_cases_are_nan():
    g = torch.Generator().manual_seed(4)
    textured = torch.rand(1, 1, 16, 16, generator=g)
    flat = torch.full((1, 1, 16, 16), 0.5)
    # Var(Laplacian) in 8-bit units: 0.002 * 255 = 0.51 amplitude; Var well below 1.
    faint = 0.5 + 0.002 * (torch.rand(1, 1, 16, 16, generator=g) - 0.5)
    assert metrics.laplacian_variance(faint, pixel_scale=255).item() < 1
    sr = torch.cat([textured, flat, faint, textured])
    hr = torch.cat([textured, textured, textured, textured])
    value = metrics.lpips_i(sr, hr, torch.tensor([0.1, 0.1, 0.1, 0.0]))
    assert math.isfinite(value[0].item()) and value[0] > 0
    assert all(math.isnan(v) for v in value[1:].tolist())  # flat, Var <= 1, LPIPS = 0
    # A negative or infinite distance is not a distance: NaN, never a negative score.
    for bad in (-0.1, math.inf, math.nan):
        assert math.isnan(metrics.lpips_i(textured, textured, torch.tensor([bad])).item())
    with pytest.raises(ConfigError, match="one distance per image"):
        metrics.lpips_i(sr, hr, torch.tensor([0.1]))


def test_lpips_i_ref_against_hand_and_its_properties():
    hr8 = _scene(32, 32, 11, 255)
    hr = torch.from_numpy(hr8 / 255)[None, None]
    noise = torch.from_numpy(np.random.default_rng(12).normal(0, 8 / 255, hr8.shape))[None, None]
    blurred = torch.from_numpy(cv2.GaussianBlur(hr8, (0, 0), 1.5) / 255)[None, None]
    sr = torch.cat([hr + 0.1, hr + noise, blurred])  # same sharpness, noisier, blurrier
    d = torch.tensor([0.2, 0.2, 0.2], dtype=torch.float64)
    v_hr = _hand_laplacian_var(hr8)
    ref = metrics.lpips_i_ref(sr, hr.expand(3, -1, -1, -1), d)
    seed = metrics.lpips_i(sr, hr.expand(3, -1, -1, -1), d)
    for i in range(3):
        v_sr = _hand_laplacian_var(sr[i, 0].numpy() * 255)
        expected = math.log2(v_hr) * min(v_sr, v_hr) / max(v_sr, v_hr) / 0.2
        assert ref[i].item() == pytest.approx(expected, rel=1e-9)
    # Equal sharpness: equal to LPIPS-I.
    assert ref[0].item() == pytest.approx(seed[0].item(), rel=1e-9)
    # Noise raises LPIPS-I (the seed's flaw) and lowers the referenced variant.
    assert seed[1] > seed[0] and ref[1] < ref[0]
    # Blur lowers both.
    assert seed[2] < seed[0] and ref[2] < ref[0]
    # A flat HR gives no reference: NaN; a flat SR on a textured HR scores 0.
    flat = torch.full_like(hr, 0.5)
    assert math.isnan(metrics.lpips_i_ref(hr, flat, torch.tensor([0.2])).item())
    assert metrics.lpips_i_ref(flat, hr, torch.tensor([0.2])).item() == 0.0


def test_hf_energy_ratio():
    hr8 = _scene(40, 36, 21, 255)
    hr = torch.from_numpy(hr8 / 255)[None, None]
    assert metrics.hf_energy_ratio(hr, hr).item() == 1.0
    assert metrics.hf_energy_ratio(hr + 0.2, hr).item() == pytest.approx(1.0, abs=1e-9)
    blurred = torch.from_numpy(cv2.GaussianBlur(hr8, (0, 0), 1.0) / 255)[None, None]
    assert metrics.hf_energy_ratio(blurred, hr).item() < 0.5
    noise = torch.from_numpy(np.random.default_rng(0).normal(0, 0.02, hr8.shape))[None, None]
    assert metrics.hf_energy_ratio(hr + noise, hr).item() > 1.2
    assert math.isnan(metrics.hf_energy_ratio(hr, torch.full_like(hr, 0.3)).item())


# --------------------------------------------------------------------------- LPIPS


@pytest.fixture(scope="module")
def lin_files(tmp_path_factory):
    """v0.1-layout linear weights (keys ``linN.model.1.weight``, shape (1, C, 1, 1))."""
    root = tmp_path_factory.mktemp("lpips")
    g = torch.Generator().manual_seed(0)
    files = {}
    for net, chans in metrics.LPIPS_CHANNELS.items():
        state = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1, generator=g)
                 for i, c in enumerate(chans)}
        files[net] = root / f"{net}.pth"
        torch.save(state, files[net])
    return files


@pytest.fixture(scope="module")
def lpips_vgg(lin_files):
    torch.manual_seed(0)  # torchvision's random init
    return metrics.LPIPS("vgg", lin_weights=lin_files["vgg"], pretrained_backbone=False)


def _hand_lpips(model: metrics.LPIPS, a: torch.Tensor, b: torch.Tensor, lin) -> np.ndarray:
    """LPIPS by hand: walk torchvision's layers, take the ReLU outputs LPIPS names, numpy."""
    taps = {"vgg": (3, 8, 15, 22, 29), "alex": (1, 4, 7, 9, 11)}[model.net]

    def walk(x):
        x = to_imagenet_input(x)
        out = []
        with torch.no_grad():
            for idx, layer in enumerate(model.features):
                x = layer(x)
                if idx in taps:
                    assert isinstance(layer, torch.nn.ReLU)
                    out.append(x.double().numpy().copy())
                if idx == taps[-1]:
                    break
        return out

    total = np.zeros(a.shape[0])
    for fa, fb, w in zip(walk(a), walk(b), lin, strict=True):
        na = fa / (np.sqrt((fa**2).sum(1, keepdims=True)) + 1e-10)
        nb = fb / (np.sqrt((fb**2).sum(1, keepdims=True)) + 1e-10)
        total += np.einsum("bchw,c->bhw", (na - nb) ** 2, np.asarray(w, np.float64)).mean((1, 2))
    return total


def test_lpips_vgg_against_hand_computation(lpips_vgg, lin_files):
    g = torch.Generator().manual_seed(3)
    hr = torch.rand(2, 1, 32, 32, generator=g)
    sr = (hr + 0.1 * torch.randn(2, 1, 32, 32, generator=g)).clamp(0, 1)
    lin = [w.reshape(-1).numpy() for w in torch.load(lin_files["vgg"]).values()]
    with torch.no_grad():
        got = lpips_vgg(sr, hr).double().numpy()
    expected = _hand_lpips(lpips_vgg, sr, hr, lin)
    np.testing.assert_allclose(got, expected, rtol=TOL_LPIPS_REL)
    assert (expected > 0).all()
    with torch.no_grad():
        assert lpips_vgg(hr, hr).abs().max().item() == 0.0
        assert torch.allclose(lpips_vgg(hr, sr), lpips_vgg(sr, hr), rtol=1e-5)  # symmetric
        spatial = lpips_vgg(sr, hr, spatial=True)
    assert spatial.shape == (2, 1, 32, 32) and (spatial >= 0).all()


def test_lpips_alex_uncalibrated_is_channel_sum(lin_files):
    torch.manual_seed(1)
    model = metrics.LPIPS("alex", lin=False, pretrained_backbone=False)
    assert not model.calibrated
    g = torch.Generator().manual_seed(4)
    hr = torch.rand(1, 3, 40, 40, generator=g)
    sr = torch.rand(1, 3, 40, 40, generator=g)
    ones = [np.ones(c) for c in metrics.LPIPS_CHANNELS["alex"]]
    with torch.no_grad():
        got = model(sr, hr).double().numpy()
    np.testing.assert_allclose(got, _hand_lpips(model, sr, hr, ones), rtol=TOL_LPIPS_REL)
    with pytest.raises(ImageError, match="LPIPS-alex needs images of at least 31 px"):
        model(sr[..., :30, :30], hr[..., :30, :30])


def test_imagenet_normalisation_is_lpips_scaling_layer():
    # LPIPS feeds (2x - 1 - shift) / scale to the backbone, with these published constants.
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
    x = torch.rand(1, 1, 5, 5, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(to_imagenet_input(x), (2 * x - 1 - shift) / scale)


def test_lpips_lin_weights_missing_and_malformed(tmp_path, monkeypatch):
    monkeypatch.setattr(metrics, "lpips_package_weights_path", lambda net: None)
    with pytest.raises(WeightsMissingError, match=r"'vgg' not found: looked in the lpips PyPI"):
        metrics.load_lpips_lin_weights("vgg")
    missing = tmp_path / "nowhere" / "vgg.pth"
    with pytest.raises(WeightsMissingError, match="looked in .*nowhere.*lin=False"):
        metrics.LPIPS("vgg", lin_weights=missing, pretrained_backbone=False)
    bad = tmp_path / "bad.pth"
    torch.save({f"lin{i}.model.1.weight": torch.ones(1, 3, 1, 1) for i in range(5)}, bad)
    with pytest.raises(CheckpointError, match=r"lin0.model.1.weight must hold 64 weights"):
        metrics.load_lpips_lin_weights("alex", bad)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read LPIPS weights"):
        metrics.load_lpips_lin_weights("alex", garbage)


def test_lpips_package_weights_found_without_import(tmp_path, monkeypatch):
    pkg = tmp_path / "lpips"
    (pkg / "weights" / "v0.1").mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    chans = metrics.LPIPS_CHANNELS["vgg"]
    torch.save({f"lin{i}.model.1.weight": torch.full((1, c, 1, 1), float(i))
                for i, c in enumerate(chans)}, pkg / "weights" / "v0.1" / "vgg.pth")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert metrics.lpips_package_weights_path("vgg") == pkg / "weights" / "v0.1" / "vgg.pth"
    weights = metrics.load_lpips_lin_weights("vgg")
    assert [tuple(w.shape) for w in weights] == [(c,) for c in chans]
    assert [w[0].item() for w in weights] == [0.0, 1.0, 2.0, 3.0, 4.0]


# --------------------------------------------------------------------------- radiometric, pair


def test_radiometric_error_of_known_offsets():
    hr = np.random.default_rng(0).integers(0, 16384, (20, 30)).astype(np.uint16)
    err = metrics.radiometric_error(hr + np.uint16(7), hr)
    assert (err.mae, err.rmse, err.bias, err.n_valid) == (7.0, 7.0, 7.0, 600)
    # Half +3, half -3 counts; HR values below 3 would wrap in uint16 arithmetic.
    hr[:, :15] = 1
    sr = hr.astype(np.int64)
    sr[:, :15] += 3
    sr[:, 15:] -= 3
    err = metrics.radiometric_error(sr.astype(np.uint16), hr)
    assert err.mae == pytest.approx(3.0, abs=TOL_HAND)
    assert err.rmse == pytest.approx(3.0, abs=TOL_HAND)
    assert err.bias == pytest.approx(0.0, abs=TOL_HAND)
    # Float temperatures with NaN marking invalid pixels; crop removes the border.
    t_hr = np.full((10, 10), 25.0)
    t_sr = t_hr + 0.5
    t_sr[0, 0] = t_hr[5, 5] = np.nan
    err = metrics.radiometric_error(t_sr, t_hr)
    assert (err.mae, err.rmse, err.n_valid) == (0.5, 0.5, 98)
    assert metrics.radiometric_error(t_sr, t_hr, crop_border=1).n_valid == 63
    with pytest.raises(ImageError, match=r"same shape, got \(10, 10\) and \(10, 9\)"):
        metrics.radiometric_error(t_sr, t_hr[:, :9])


def test_evaluate_pair_images_and_tensors():
    sr16, hr16 = _pair(30, 34, np.uint16, seed=9)
    out = metrics.evaluate_pair(Image(sr16), Image(hr16), crop_border=2)
    c = slice(2, -2)
    assert out["psnr"] == pytest.approx(
        peak_signal_noise_ratio(hr16[c, c], sr16[c, c], data_range=65535), abs=TOL_PSNR_DB
    )
    assert out["ssim"] == pytest.approx(
        structural_similarity(hr16[c, c], sr16[c, c], data_range=65535, **SKI_SSIM),
        abs=TOL_SSIM,
    )
    diff = sr16[c, c].astype(float) - hr16[c, c]
    assert out["mae"] == pytest.approx(np.abs(diff).mean(), abs=TOL_HAND)
    assert out["rmse"] == pytest.approx(np.sqrt((diff**2).mean()), abs=TOL_HAND)
    assert set(out) == {"psnr", "ssim", "hf_ratio", "mae", "rmse", "bias"}
    # Tensors in the unit range, with a stub distance: LPIPS keys, no radiometric keys.
    sr, hr = _t(sr16, 65535), _t(hr16, 65535)
    out = metrics.evaluate_pair(sr, hr, crop_border=2, lpips_fn=_StubDistance([0.125]))
    assert set(out) == {"psnr", "ssim", "hf_ratio", "lpips", "lpips_i", "lpips_i_ref"}
    assert out["lpips"] == 0.125
    expected = math.log2(_hand_laplacian_var(sr16[c, c].astype(float) / 65535 * 255)) / 0.125
    assert out["lpips_i"] == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ImageError, match="sizes differ: SR sr is 34x30, HR hr is 33x30"):
        metrics.evaluate_pair(Image(sr16), Image(hr16[:, :33]))


def test_evaluate_pair_float_uses_hr_dynamic_range():
    hr = _scene(24, 24, 2, 255) / 10 + 20.0  # degrees, 20..45.5
    sr = hr + 0.255
    out = metrics.evaluate_pair(Image(sr.astype(np.float32)), Image(hr.astype(np.float32)))
    span = hr.max() - hr.min()
    assert out["psnr"] == pytest.approx(20 * math.log10(span / 0.255), abs=1e-3)
    assert out["mae"] == pytest.approx(0.255, abs=1e-5)


@pytest.mark.parametrize("net", ["vgg", "alex"])
def test_lpips_matches_reference_package_when_installed(net):
    """Against Zhang et al.'s ``lpips`` package (optional: skipped where it is not installed),
    both with the same random backbone and the package's real v0.1 linear weights."""
    lpips = pytest.importorskip("lpips", reason="optional 'lpips' package not installed")
    torch.manual_seed(0)
    ref = lpips.LPIPS(net=net, pretrained=True, pnet_rand=True, verbose=False).eval()
    ours = metrics.LPIPS(net, pretrained_backbone=False)  # lin weights found in the package
    state = {}
    for i in range(1, 6):
        for name, module in getattr(ref.net, f"slice{i}").named_children():
            state.update({f"{name}.{k}": v for k, v in module.state_dict().items()})
    ours.features.load_state_dict(state)
    g = torch.Generator().manual_seed(1)
    hr = torch.rand(2, 1, 48, 40, generator=g)
    sr = (hr + 0.1 * torch.randn(2, 1, 48, 40, generator=g)).clamp(0, 1)
    with torch.no_grad():
        expected = ref(sr, hr, normalize=True).flatten()
        got = ours(sr, hr)
    torch.testing.assert_close(got, expected, rtol=TOL_LPIPS_REL, atol=0)


def test_stripe_residual_sees_column_stripes_only():
    from irsrgan.metrics import stripe_residual

    hr = torch.rand(1, 1, 32, 40, generator=torch.Generator().manual_seed(0))
    stripes = torch.zeros(1, 1, 1, 40)
    stripes[..., ::2] = 0.01
    stripes[..., 1::2] = -0.01
    assert float(stripe_residual(hr + stripes, hr)[0]) == pytest.approx(0.01, rel=1e-5)
    assert float(stripe_residual(hr + 0.05, hr)[0]) == pytest.approx(0.0, abs=1e-7)
    rows = stripes.transpose(-1, -2)[..., :32, :]
    assert float(stripe_residual(hr + rows, hr)[0]) == pytest.approx(0.0, abs=1e-7)
