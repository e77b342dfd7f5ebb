"""Degradation ops and presets: determinism, seed sensitivity, shapes, statistics, errors."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from irsrgan import degradations as D
from irsrgan.errors import ConfigError, ImageError

# tolerances kept in one place
NOISE_REL = 0.10  # noise std within 10% of its sigma
MEAN_ABS = 1e-3  # blur keeps the mean of a 64x64 random image (reflect borders)


pytestmark = pytest.mark.usefixtures("one_thread")


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def texture(b: int = 2, c: int = 1, h: int = 32, w: int = 32, seed: int = 0) -> torch.Tensor:
    """A smooth-ish random image in [0.1, 0.9] (no clipping at the ends)."""
    x = torch.rand(b, c, h // 4 + 1, w // 4 + 1, generator=gen(seed))
    x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=True)
    return 0.1 + 0.8 * x


# --------------------------------------------------------------------------------------------
# random ops: same seed same output, other seed other output, shape and dtype kept

RANDOM_OPS = {
    "gaussian_noise": lambda x, g: D.add_gaussian_noise(x, 0.05, g),
    "poisson_noise": lambda x, g: D.add_poisson_noise(x, 1.0, g),
    "stripe_noise": lambda x, g: D.stripe_noise(x, g, column_sigma=0.02, row_sigma=0.01),
    "nonuniformity": lambda x, g: D.nonuniformity(x, g, gain_sigma=0.05, offset_sigma=0.01,
                                                  lowfreq_sigma=0.02),
    "dead_hot_pixels": lambda x, g: D.dead_hot_pixels(x, 0.05, g),
    "smooth_field": lambda x, g: D.smooth_field(x.shape[0], tuple(x.shape[-2:]), g),
}


@pytest.mark.parametrize("name", sorted(RANDOM_OPS))
def test_random_op_is_seeded(name):
    op = RANDOM_OPS[name]
    x = texture(2, 1, 24, 20)
    a, b, c = op(x, gen(1)), op(x, gen(1)), op(x, gen(2))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert a.dtype == torch.float32
    assert a.shape == (2, 1, 24, 20)


DETERMINISTIC_OPS = {
    "gaussian_blur": lambda x: D.gaussian_blur(x, 1.2),
    "filter2d": lambda x: D.filter2d(x, D.plateau_kernel(7, 1.0, 2.0, 0.5, beta=1.5)[0]),
    "resize": lambda x: D.resize(x, (10, 9), "bicubic"),
    "jpeg": lambda x: D.jpeg(x, 50),
    "quantize": lambda x: D.quantize(x, 6),
    "vignetting": lambda x: D.vignetting(x, 0.2),
    "agc_8bit": lambda x: D.agc_8bit(x, low_percentile=1, high_percentile=99),
}


@pytest.mark.parametrize("name", sorted(DETERMINISTIC_OPS))
def test_deterministic_op_repeats_and_keeps_dtype(name):
    x = texture(2, 1, 24, 20)
    a, b = DETERMINISTIC_OPS[name](x), DETERMINISTIC_OPS[name](x)
    assert torch.equal(a, b)
    assert a.dtype == torch.float32
    assert a.shape[:2] == (2, 1)
    assert not torch.equal(a[..., :9, :9], x[..., :9, :9])  # it did something


@pytest.mark.parametrize("name", sorted(RANDOM_OPS) + sorted(DETERMINISTIC_OPS))
def test_ops_take_several_channels(name):
    x = texture(2, 3, 16, 16)
    op = RANDOM_OPS.get(name)
    y = op(x, gen(0)) if op else DETERMINISTIC_OPS[name](x)
    if name != "smooth_field":
        assert y.shape[:2] == (2, 3)


# --------------------------------------------------------------------------------------------
# statistics


def test_gaussian_noise_std_and_zero_mean():
    x = torch.full((2, 1, 128, 128), 0.5)
    for sigma in (0.01, 0.05):
        n = D.add_gaussian_noise(x, sigma, gen(3)) - x
        assert abs(n.std().item() - sigma) < NOISE_REL * sigma
        # zero mean: 4 standard errors (the seed's noise had mean +0.01)
        assert abs(n.mean().item()) < 4 * sigma / math.sqrt(n.numel())


def test_gaussian_noise_per_sample_sigma():
    x = torch.full((2, 1, 128, 128), 0.5)
    n = D.add_gaussian_noise(x, torch.tensor([0.0, 0.03]), gen(0)) - x
    assert n[0].abs().max().item() == 0.0
    assert abs(n[1].std().item() - 0.03) < NOISE_REL * 0.03


def test_poisson_noise_std_follows_level():
    for level in (0.2, 0.6):
        x = torch.full((1, 1, 128, 128), level)
        n = D.add_poisson_noise(x, 1.0, gen(1), peak=255.0) - x
        expected = math.sqrt(level / 255.0)
        assert abs(n.std().item() - expected) < NOISE_REL * expected
        assert abs(n.mean().item()) < 4 * expected / 128


def test_gaussian_kernel_golden_value():
    k = D.gaussian_kernel(3, 0.7)[0]
    w = np.exp(-np.arange(-1, 2) ** 2 / (2 * 0.7**2))
    w = w / w.sum()
    np.testing.assert_allclose(k.numpy(), np.outer(w, w), atol=1e-6)
    assert abs(k[1, 1].item() - 0.33772) < 1e-4  # hand value: (1 / (1 + 2 e^(-1/0.98)))^2


def test_anisotropic_kernel_second_moments():
    xx = torch.arange(41.0) - 20
    for theta, (vx, vy) in ((0.0, (9.0, 1.0)), (math.pi / 2, (1.0, 9.0))):
        k = D.gaussian_kernel(41, 3.0, 1.0, theta)[0]
        assert abs((k * xx[None] ** 2).sum().item() - vx) < 0.02 * vx
        assert abs((k * xx[:, None] ** 2).sum().item() - vy) < 0.02 * vy


def test_generalized_and_plateau_kernel_shapes():
    g_heavy = D.generalized_gaussian_kernel(21, 2.0, beta=0.5)[0]
    g_flat = D.generalized_gaussian_kernel(21, 2.0, beta=4.0)[0]
    # beta < 1 has heavier tails, beta > 1 a flatter top
    assert g_heavy[10, 0] > g_flat[10, 0]
    assert (g_flat[10, 10] / g_flat[10, 11]) < (g_heavy[10, 10] / g_heavy[10, 11])
    p = D.plateau_kernel(21, 2.0, beta=1.0)[0]
    assert abs(p[10, 10].item() / p[10, 12].item() - 2.0) < 1e-4  # 1/(1+0) over 1/(1+1)


def test_sinc_kernel_is_a_lowpass():
    k = D.sinc_kernel(21, math.pi / 3)
    cols = torch.arange(64.0)
    checker = (0.5 + 0.4 * torch.cos(math.pi * cols)).expand(64, 64)[None, None]
    slow = (0.5 + 0.4 * torch.cos(2 * math.pi * cols / 32)).expand(64, 64)[None, None]
    amp = lambda y: (y[0, 0, 32, 16:48] - 0.5).abs().max().item()  # noqa: E731
    assert amp(D.filter2d(checker, k)) < 0.1 * 0.4  # pi rad/px: stopped
    assert amp(D.filter2d(slow, k)) > 0.8 * 0.4  # pi/16 rad/px: passed
    assert abs(k.sum().item() - 1.0) < 1e-5


@pytest.mark.parametrize("kind", D.KERNEL_KINDS)
def test_blur_keeps_the_mean(kind):
    step = D.BlurStep(kinds={kind: 1.0}, sigma=D.Uniform(0.5, 3.0),
                      kernel_size=D.Choice((7.0, 13.0, 21.0), (1.0, 1.0, 1.0)),
                      beta_gaussian=D.Uniform(0.5, 4), beta_plateau=D.Uniform(1, 2))
    k = step.kernels(4, 1.0, gen(0), torch.device("cpu"))
    torch.testing.assert_close(k.sum(dim=(-2, -1)), torch.ones(4))
    x = torch.rand(4, 1, 64, 64, generator=gen(1))
    y = D.filter2d(x, k)
    assert (y.mean(dim=(1, 2, 3)) - x.mean(dim=(1, 2, 3))).abs().max().item() < MEAN_ABS
    flat = torch.full((4, 1, 32, 32), 0.3)
    torch.testing.assert_close(D.filter2d(flat, k), flat)


def test_stripe_noise_is_constant_along_columns():
    x = torch.full((2, 1, 16, 4096), 0.5)
    d = D.stripe_noise(x, gen(0), column_sigma=0.02) - x
    assert d.std(dim=2).max().item() < 1e-6  # constant down each column
    assert abs(d[:, 0, 0].std().item() - 0.02) < NOISE_REL * 0.02
    r = D.stripe_noise(x.transpose(-1, -2), gen(0), row_sigma=0.02) - x.transpose(-1, -2)
    assert r.std(dim=3).max().item() < 1e-6  # row stripes constant along each row
    assert abs(r[:, 0, :, 0].std().item() - 0.02) < NOISE_REL * 0.02


@pytest.mark.parametrize("bits", [1, 4, 8, 14])
def test_quantize_gives_2_to_the_n_levels(bits):
    ramp = torch.linspace(0, 1, 1 << 16).view(1, 1, 256, 256)
    q = D.quantize(ramp, bits)
    assert torch.unique(q).numel() == 2**bits
    assert (q - ramp).abs().max().item() <= 0.5 / (2**bits - 1) + 1e-7


def test_quantize_default_is_14_bits():
    ramp = torch.linspace(0, 1, 1 << 16).view(1, 1, 256, 256)
    assert torch.unique(D.quantize(ramp)).numel() == 2**14


def test_dead_hot_pixel_fraction():
    x = torch.full((1, 1, 256, 256), 0.5)
    y = D.dead_hot_pixels(x, 0.01, gen(0), hot_ratio=0.25)
    hit = y != 0.5
    n, p = x.numel(), 0.01
    assert abs(hit.sum().item() - n * p) < 5 * math.sqrt(n * p * (1 - p))
    assert set(torch.unique(y[hit]).tolist()) == {0.0, 1.0}
    hot = (y == 1).sum().item() / hit.sum().item()
    assert abs(hot - 0.25) < 0.06


def test_nonuniformity_gain_and_smooth_field():
    x = torch.full((1, 1, 128, 128), 0.5)
    g = D.nonuniformity(x, gen(0), gain_sigma=0.04) / 0.5 - 1
    assert abs(g.std().item() - 0.04) < NOISE_REL * 0.04
    f = D.nonuniformity(x, gen(0), lowfreq_sigma=0.02) - 0.5
    assert abs(f.std().item() - 0.02) < NOISE_REL * 0.02
    # smooth: neighbouring pixels differ far less than the field's std
    assert (f[..., 1:] - f[..., :-1]).abs().max().item() < 0.2 * 0.02  # white: ~1.4x


def test_vignetting_values():
    x = torch.full((1, 1, 33, 33), 0.5)
    m = D.vignetting(x, 0.2)
    assert abs(m[0, 0, 16, 16].item() - 0.5) < 1e-7  # centre untouched
    assert abs(m[0, 0, 0, 0].item() - 0.5 * 0.8) < 1e-6  # corner: r = 1
    a = D.vignetting(x, 0.1, mode="additive")
    assert abs(a.mean().item() - 0.5) < 1e-6
    assert a[0, 0, 0, 0] < a[0, 0, 16, 16]


def test_agc_8bit_export():
    x = 0.3 + 0.2 * torch.rand(1, 1, 64, 64, generator=gen(0))  # a 0.3..0.5 "14-bit" scene
    disp = D.agc_8bit(x, restore=False)
    assert disp.min().item() == 0.0 and disp.max().item() == 1.0
    assert torch.unique(disp).numel() <= 256
    back = D.agc_8bit(x)
    span = (x.max() - x.min()).item()
    assert (back - x).abs().max().item() <= span / 510 + 1e-6
    clipped = D.agc_8bit(x, low_percentile=5, high_percentile=95)
    assert clipped.min().item() > x.min().item() and clipped.max().item() < x.max().item()


def test_jpeg_is_8_bit_and_quality_orders_error():
    x = texture(1, 1, 64, 64)
    hi, lo = D.jpeg(x, 95), D.jpeg(x, 10)
    assert torch.equal(hi * 255, (hi * 255).round())
    err_hi = (hi - x).pow(2).mean().sqrt().item()
    err_lo = (lo - x).pow(2).mean().sqrt().item()
    assert err_hi < 0.01 < err_lo


def test_jpeg_per_sample_quality():
    x = texture(2, 1, 64, 64).expand(2, 1, 64, 64).contiguous()
    x[1] = x[0]
    y = D.jpeg(x, torch.tensor([95.0, 10.0]))
    assert torch.equal(y[0], D.jpeg(x[:1], 95)[0])
    assert not torch.equal(y[0], y[1])


def test_resize_modes_and_clean_downsample_matches_pil():
    from PIL import Image as PILImage

    x = texture(1, 1, 64, 48)
    for mode in D.RESIZE_MODES:
        assert D.resize(x, (16, 12), mode).shape == (1, 1, 16, 12)
    area = D.resize(x, (16, 12), "area")
    assert abs(area.mean().item() - x.mean().item()) < 1e-6
    ours = D.downsample_bicubic(x, 4)[0, 0].numpy()
    pil = np.asarray(PILImage.fromarray(x[0, 0].numpy(), mode="F").resize(
        (12, 16), PILImage.Resampling.BICUBIC))
    np.testing.assert_allclose(ours, pil, atol=2e-3)


def test_ops_reject_bad_input():
    with pytest.raises(ImageError, match=r"\(B, C, H, W\), got \(1, 8, 8\)"):
        D.add_gaussian_noise(torch.zeros(1, 8, 8), 0.1, gen())
    with pytest.raises(ImageError, match="float"):
        D.quantize(torch.zeros(1, 1, 4, 4, dtype=torch.uint8))
    with pytest.raises(ConfigError, match="odd"):
        D.gaussian_kernel(4, 1.0)
    with pytest.raises(ConfigError, match="bits"):
        D.quantize(torch.zeros(1, 1, 4, 4), 0)
    with pytest.raises(ConfigError, match="percentiles"):
        D.agc_8bit(torch.zeros(1, 1, 4, 4), low_percentile=50, high_percentile=40)


def test_nothing_is_8_bit_unless_asked():
    x = texture(1, 1, 64, 64)
    p = D.get_preset({"steps": [
        {"op": "blur", "sigma": 1.0}, {"op": "resize"}, {"op": "noise", "sigma": 0.002},
        {"op": "stripe", "column_sigma": 0.002},
    ]})
    lr = D.degrade(x, 2, p, gen(0))
    assert not torch.equal(lr * 255, (lr * 255).round())
    assert torch.unique(lr).numel() > 900


# --------------------------------------------------------------------------------------------
# presets


def test_the_preset_names_are_the_bundled_preset_files():
    """PRESET_NAMES lives in the PyTorch-free bundled.py (the command line's choices): it must
    name exactly the YAML files the package ships."""
    from importlib import resources

    files = sorted(p.name[:-5] for p in (resources.files("irsrgan") / "presets").iterdir()
                   if p.name.endswith(".yaml"))
    assert sorted(D.PRESET_NAMES) == files


@pytest.mark.parametrize("name", D.PRESET_NAMES)
@pytest.mark.parametrize("scale,size", [(2, (32, 30)), (3, (31, 32)), (4, (67, 61))])
def test_preset_shape_dtype_range(name, scale, size):
    hr = texture(3, 1, *size)
    lr = D.degrade(hr, scale, name, gen(0))
    assert lr.shape == (3, 1, size[0] // scale, size[1] // scale)
    assert lr.dtype == torch.float32
    assert lr.min().item() >= 0.0 and lr.max().item() <= 1.0


@pytest.mark.parametrize("name", D.PRESET_NAMES)
def test_preset_is_seeded(name):
    hr = texture(8, 1, 48, 48)
    a, b, c = (D.degrade(hr, 4, name, gen(s)) for s in (7, 7, 8))
    assert torch.equal(a, b)
    if name == "bicubic":
        assert torch.equal(a, c)  # nothing random
        torch.testing.assert_close(a, D.downsample_bicubic(hr, 4))
    else:
        assert not torch.equal(a, c)


@pytest.mark.parametrize("name", ["realesrgan", "thermal", "irsrgan"])
def test_preset_three_channels(name):
    lr = D.degrade(texture(4, 3, 32, 32), 2, name, gen(0))
    assert lr.shape == (4, 3, 16, 16)


def test_each_sample_gets_its_own_draws():
    hr = texture(1, 1, 64, 64).expand(6, 1, 64, 64).contiguous()
    lr = D.degrade(hr, 4, "thermal", gen(0))
    flat = lr.flatten(1)
    for i in range(6):
        for j in range(i + 1, 6):
            assert not torch.equal(flat[i], flat[j])


def test_irsrgan_random_branch_probability():
    n = 4000
    hr = torch.rand(n, 1, 8, 8, generator=gen(5))
    lr = D.degrade(hr, 2, "irsrgan", gen(0))
    random_branch = (lr - D.downsample_bicubic(hr, 2)).flatten(1).abs().amax(1) > 0
    k = random_branch.sum().item()
    assert abs(k - 0.25 * n) < 4 * math.sqrt(n * 0.25 * 0.75)


def _only_random_branch(name: str = "irsrgan") -> D.Preset:
    cfg = copy.deepcopy(D.get_preset(name).config)
    cfg["steps"][0]["branches"][0]["weight"] = 0
    return D.get_preset(cfg)


def test_irsrgan_random_branch_is_unbiased():
    level = 128 / 255
    lr = D.degrade(torch.full((300, 1, 32, 32), level), 4, _only_random_branch(), gen(0))
    # the seed's +0.01 mean and floor truncation would move this by 2.5 and -0.5 levels
    assert abs(lr.mean().item() - level) * 255 < 0.1
    assert not torch.equal(lr, torch.full_like(lr, level))


def test_irsrgan_two_downsamples_make_the_scale():
    p = D.get_preset({"steps": [{"op": "resize", "to": "fraction", "fraction": 0.5,
                                 "modes": {"area": 1}}]})
    hr = texture(1, 1, 64, 64)
    lr = D.degrade(hr, 4, p, gen(0))  # one half: 64 -> 32, then the final resize to 16
    torch.testing.assert_close(lr, D.resize(D.resize(hr, (32, 32), "area"), (16, 16)))
    two = D.get_preset({"steps": [
        {"op": "resize", "to": "fraction", "fraction": 0.5, "modes": {"area": 1}},
        {"op": "resize", "to": "fraction", "fraction": 0.5, "modes": {"area": 1}},
    ]})
    torch.testing.assert_close(D.degrade(hr, 4, two, gen(0)), F.avg_pool2d(hr, 4))
    # any scale: x3 goes 48 -> round(48 / sqrt 3) = 28 -> 16
    hr3 = texture(1, 1, 48, 48)
    torch.testing.assert_close(D.degrade(hr3, 3, two, gen(0)),
                               D.resize(D.resize(hr3, (28, 28), "area"), (16, 16), "area"))


def test_shuffle_orders_differ_between_samples():
    p = D.get_preset({"steps": [{"op": "shuffle", "steps": [
        {"op": "quantize", "bits": 2}, {"op": "noise", "sigma": 0.2},
    ]}]})
    x = torch.full((64, 1, 8, 8), 0.4)
    lr = D.degrade(x, 1, p, gen(0))
    on_grid = (lr * 3 - (lr * 3).round()).flatten(1).abs().amax(1) < 1e-6
    assert 10 < on_grid.sum().item() < 54  # quantize last in about half of them


def test_mix_weights():
    hr = torch.rand(2000, 1, 8, 8, generator=gen(1))
    clean = D.downsample_bicubic(hr, 2)
    lr = D.degrade(hr, 2, "mix:bicubic=0.4,thermal=0.6", gen(0))
    k = ((lr - clean).flatten(1).abs().amax(1) == 0).sum().item()
    assert abs(k - 800) < 4 * math.sqrt(2000 * 0.4 * 0.6)
    only = D.degrade(hr[:16], 2, "mix:bicubic=1,thermal=0", gen(0))
    torch.testing.assert_close(only, clean[:16])


def test_thermal_mix_is_bicubic_plus_thermal():
    p = D.get_preset("thermal-mix")
    (choice,) = p.steps
    assert isinstance(choice, D.ChoiceStep)
    assert choice.weights == (0.4, 0.6)
    assert choice.branches[1] == D.get_preset("thermal").steps


def test_user_yaml_preset(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        "name: mine\nsteps:\n  - {op: blur, sigma: [0.5, 1.5], units: lr}\n"
        "  - {op: resize, modes: {area: 1}}\n  - {op: noise, sigma: 2/255}\n"
        "  - {op: quantize, bits: 8}\n"
    )
    p = D.get_preset(path)
    assert p.name == "mine" and len(p.steps) == 4
    lr = D.degrade(texture(2, 1, 32, 32), 2, str(path), gen(0))
    assert lr.shape == (2, 1, 16, 16)
    assert torch.equal(lr * 255, (lr * 255).round())
    mix = tmp_path / "mix.yaml"
    mix.write_text(f"mix:\n  - {{preset: bicubic, weight: 1}}\n  - {{preset: {path}, weight: 1}}\n")
    assert D.degrade(texture(2, 1, 32, 32), 2, mix, gen(0)).shape == (2, 1, 16, 16)


def test_parameter_syntax():
    assert D.parse_dist("pi/3", "x") == D.Const(math.pi / 3)
    assert D.parse_dist("30/255", "x") == D.Const(30 / 255)
    assert D.parse_dist([1, 2], "x") == D.Uniform(1.0, 2.0)
    q = D.parse_dist([30, 95], "q").sample_int(5000, gen(0))
    assert q.min().item() == 30 and q.max().item() == 95
    lu = D.parse_dist({"log_uniform": [0.001, 0.1]}, "s").sample(20000, gen(0))
    assert abs((lu < 0.01).float().mean().item() - 0.5) < 0.02  # half the draws per decade
    m = D.parse_dist({"mixture": [[0.25, 0], [0.75, [1, 2]]]}, "m").sample(8000, gen(0))
    assert abs((m == 0).float().mean().item() - 0.25) < 0.02


@pytest.mark.parametrize("bad,match", [
    ("nope", "unknown preset 'nope'"),
    ({"steps": [{"op": "smear"}]}, "unknown op 'smear'"),
    ({"steps": [{"op": "noise", "sigmaa": 0.1}]}, "unknown key"),
    ({"steps": [{"op": "noise", "sigma": [0.2, 0.1]}]}, "low must be <= high"),
    ({"steps": [{"op": "jpeg", "prob": 1.5}]}, r"prob must be in \[0, 1\]"),
    ({"steps": [{"op": "resize", "modes": {"lanczos": 1}}]}, "unknown name 'lanczos'"),
    ({"mix": []}, "non-empty"),
    ("mix:bicubic", "NAME=WEIGHT"),
])
def test_preset_errors(bad, match):
    with pytest.raises(ConfigError, match=match):
        D.get_preset(bad)


# the steps are read from their dataclass fields (Step.from_config): errors name the preset,
# the step and the key
@pytest.mark.parametrize("step,match", [
    ({"op": "blur", "sigmaa": 1}, r"preset 't'.steps\[0\] \(blur\): unknown key\(s\) sigmaa "
                                  r"\(allowed: kinds, sigma, kernel_size, "),
    ({"op": "clamp", "prob": 0.5, "x": 1}, r"\(clamp\): unknown key\(s\) x \(allowed: prob\)"),
    ({"op": "noise", "prob": -0.1}, r"\(noise\)\.prob must be in \[0, 1\], got -0.1"),
    ({"op": "stripe", "prob": "3/2"}, r"\(stripe\)\.prob must be in \[0, 1\], got 1.5"),
    ({"op": "noise", "prob": "often"}, r"\(noise\)\.prob: cannot read 'often' as a number"),
    ({"op": "agc", "restore": "yes"}, r"\(agc\)\.restore: expected bool, got str 'yes'"),
    ({"op": "blur", "units": "mm"}, r"\(blur\)\.units: expected one of \['hr', 'lr'\]"),
    ({"op": "nonuniformity", "lowfreq_cells": 2.5},
     r"\(nonuniformity\)\.lowfreq_cells: expected int, got float 2.5"),
    ({"op": "nonuniformity", "lowfreq_cells": 0}, r"lowfreq_cells must be an integer >= 1"),
    ({"op": "dead_hot", "hot_ratio": [0, 1]}, r"\(dead_hot\)\.hot_ratio: expected a number"),
    ({"op": "jpeg", "quality": {"normal": 3}}, r"\(jpeg\)\.quality: cannot read parameter"),
    ({"op": "noise", "kinds": {"speckle": 1}}, r"\(noise\)\.kinds: unknown name 'speckle'"),
    ({"op": "resize", "to": "fraction", "fraction": 2}, r"\(resize\)\.fraction must be in"),
    ({"op": "quantize", "bits": True}, r"\(quantize\)\.bits: cannot read parameter True"),
])
def test_step_errors_name_the_key(step, match):
    with pytest.raises(ConfigError, match=match):
        D.get_preset({"name": "t", "steps": [step]})


def test_step_fields_read_by_type():
    # a missing key keeps the dataclass default; every leaf op reads {} as its defaults
    for op in D.STEP_OPS:
        if op not in ("shuffle", "choice"):
            (step,) = D.parse_steps([{"op": op}], "s")
            assert step == type(step)(), op
    (blur,) = D.parse_steps([{"op": "blur", "kernel_size": "auto", "sinc_cutoff": [1, 2],
                              "kinds": "sinc", "units": "lr", "prob": "1/2"}], "s")
    assert blur == D.BlurStep(kinds={"sinc": 1.0}, kernel_size=None,
                              sinc_cutoff=D.Uniform(1.0, 2.0), units="lr", prob=0.5)
    (vig,) = D.parse_steps([{"op": "vignetting", "center_jitter": "1/4", "mode": "additive",
                             "strength": {"choice": [0.1, 0.2]}}], "s")
    assert vig.center_jitter == 0.25 and vig.mode == "additive"
    assert vig.strength == D.Choice((0.1, 0.2), (1.0, 1.0))
    (cells,) = D.parse_steps([{"op": "nonuniformity", "lowfreq_cells": 3}], "s")
    assert cells.lowfreq_cells == 3 and isinstance(cells.lowfreq_cells, int)
    # size_preserving is the class's, not a key
    with pytest.raises(ConfigError, match="unknown key"):
        D.parse_steps([{"op": "resize", "size_preserving": True}], "s")


def test_missing_yaml_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        D.get_preset(tmp_path / "none.yaml")


def test_degrade_rejects_bad_arguments():
    with pytest.raises(ImageError, match=r"\(B, C, H, W\)"):
        D.degrade(torch.zeros(8, 8), 2, "bicubic", gen())
    with pytest.raises(ConfigError, match="scale must be an integer >= 1"):
        D.degrade(torch.zeros(1, 1, 8, 8), 0, "bicubic", gen())
    with pytest.raises(ImageError, match="smaller than the scale"):
        D.degrade(torch.zeros(1, 1, 3, 8), 4, "bicubic", gen())
    with pytest.raises(ConfigError, match="torch.Generator"):
        D.degrade(torch.zeros(1, 1, 8, 8), 2, "bicubic", 0)  # type: ignore[arg-type]


def test_prob_on_size_changing_and_composite_steps():
    p = D.get_preset({"steps": [
        {"op": "resize", "prob": 0.5, "to": "relative", "factor": [0.3, 1.2],
         "modes": {"area": 1, "bilinear": 1}},
        {"op": "choice", "prob": 0.5, "branches": [
            {"weight": 1, "steps": [{"op": "noise", "sigma": 0.05}]},
            {"weight": 1, "steps": [{"op": "jpeg", "quality": 20}]}]},
        {"op": "shuffle", "prob": 0.5, "steps": [{"op": "blur", "sigma": 1.0},
                                                 {"op": "quantize", "bits": 3}]},
    ]})
    hr = texture(32, 1, 40, 36)
    a, b = D.degrade(hr, 4, p, gen(0)), D.degrade(hr, 4, p, gen(0))
    assert a.shape == (32, 1, 10, 9) and torch.equal(a, b)
    clean = D.downsample_bicubic(hr, 4)
    untouched = ((a - clean).flatten(1).abs().amax(1) == 0).sum().item()
    assert 0 < untouched < 12  # about 1/8 of the samples skip all three steps
