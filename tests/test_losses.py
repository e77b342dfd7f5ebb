"""Losses: hand-computed values on tiny tensors, the VGG19 layer map, the offline options."""

from __future__ import annotations

import math

import pytest
import torch
import torchvision
from torch import nn
from torch.nn import functional as F

from irsrgan.errors import ConfigError, ImageError, WeightsMissingError
from irsrgan.losses import (
    PERCEPTUAL_PRESETS,
    PerceptualLoss,
    charbonnier_loss,
    collapse_laplacian_pyramid,
    feature_matching_loss,
    gan_loss_d,
    gan_loss_g,
    l1_loss,
    laplacian_pyramid,
    laplacian_pyramid_loss,
    pixel_loss,
    vgg19_layer_index,
)

ATOL = 1e-6


def t(*values: float) -> torch.Tensor:
    """A (1, 1, 1, N) image from values."""
    return torch.tensor(values, dtype=torch.float32).view(1, 1, 1, -1)


# ------------------------------------------------------------------------------ pixel losses


def test_l1_hand_value():
    assert l1_loss(t(0.1, 0.5), t(0.0, 0.8)).item() == pytest.approx((0.1 + 0.3) / 2, abs=ATOL)


def test_charbonnier_hand_values():
    # diffs 0 and 3e-3 with eps 4e-3: sqrt(0 + 16e-6) = 4e-3, sqrt(9e-6 + 16e-6) = 5e-3
    assert charbonnier_loss(t(0.5, 0.503), t(0.5, 0.5), eps=4e-3).item() == pytest.approx(
        4.5e-3, rel=1e-4
    )
    x = torch.rand(1, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    assert charbonnier_loss(x, x).item() == pytest.approx(1e-3, rel=1e-5)  # minimum is eps
    # far from 0 it is L1: sqrt(0.5**2 + 1e-6) = 0.500001
    assert charbonnier_loss(t(1.0), t(0.5)).item() == pytest.approx(0.500001, abs=1e-6)


def test_pixel_loss_by_name():
    sr, hr = t(0.0, 1.0), t(0.5, 0.5)
    assert pixel_loss("l1", sr, hr).item() == pytest.approx(0.5)
    assert pixel_loss("l2", sr, hr).item() == pytest.approx(0.25)
    assert pixel_loss("charbonnier", sr, hr).item() == pytest.approx(math.sqrt(0.25 + 1e-6))
    with pytest.raises(ConfigError, match="pixel loss must be one of l1, charbonnier, l2"):
        pixel_loss("l3", sr, hr)  # type: ignore[arg-type]


def test_pair_shape_errors():
    msg = r"sr and hr must have the same shape, got sr \(1, 1, 1, 2\)"
    with pytest.raises(ImageError, match=msg):
        l1_loss(t(0.0, 1.0), t(0.0, 1.0, 2.0))
    with pytest.raises(ImageError, match=r"sr must be \(B, C, H, W\), got \(2,\)"):
        charbonnier_loss(torch.zeros(2), torch.zeros(2))


# -------------------------------------------------------------------------------- GAN losses

SP = math.log1p(math.exp(-2.0))  # softplus(-2) = bce(2, 1) = bce(-2, 0)
LOG2 = math.log(2.0)


def test_ragan_hand_values():
    real = torch.tensor([[2.0], [0.0]])  # mean 1
    fake = torch.tensor([[1.0], [-1.0]])  # mean 0
    # D: real - mean(fake) = [2, 0] vs label 1 -> [softplus(-2), log 2];
    #    fake - mean(real) = [0, -2] vs label 0 -> [log 2, softplus(-2)]
    d_expected = 0.5 * ((SP + LOG2) / 2 + (LOG2 + SP) / 2)
    assert d_expected == pytest.approx(0.4100376, abs=1e-7)
    assert gan_loss_d("ragan", real, fake).item() == pytest.approx(d_expected, abs=ATOL)
    # G: the same arguments with swapped labels: softplus(2) = 2 + softplus(-2)
    g_expected = 0.5 * ((2 + SP + LOG2) / 2 + (LOG2 + 2 + SP) / 2)
    assert g_expected == pytest.approx(1.4100376, abs=1e-7)
    assert gan_loss_g("ragan", real, fake).item() == pytest.approx(g_expected, abs=ATOL)


def test_vanilla_hand_values():
    zero = torch.zeros(3, 1)
    assert gan_loss_d("vanilla", zero, zero).item() == pytest.approx(2 * LOG2, abs=ATOL)
    d = gan_loss_d("vanilla", torch.full((2, 1), 3.0), torch.full((2, 1), -3.0))
    assert d.item() == pytest.approx(2 * math.log1p(math.exp(-3.0)), abs=ATOL)
    # non-saturating G: bce(ln 3, 1) = log(1 + 1/3)
    g = gan_loss_g("vanilla", None, torch.full((2, 1), math.log(3.0)))
    assert g.item() == pytest.approx(math.log(4 / 3), abs=ATOL)


def test_hinge_hand_values():
    real = torch.tensor([[2.0], [0.5]])  # relu(1 - real) = [0, 0.5] -> 0.25
    fake = torch.tensor([[-2.0], [0.5]])  # relu(1 + fake) = [0, 1.5] -> 0.75
    assert gan_loss_d("hinge", real, fake).item() == pytest.approx(1.0, abs=ATOL)
    assert gan_loss_g("hinge", None, fake).item() == pytest.approx(0.75, abs=ATOL)


@pytest.mark.parametrize("kind", ["ragan", "vanilla", "hinge"])
def test_gan_losses_any_logits_shape(kind):
    """Per-pixel logits (B, 1, H, W): means run over every element, like flat logits."""
    g = torch.Generator().manual_seed(1)
    real, fake = torch.randn(2, 1, 3, 5, generator=g), torch.randn(4, 1, 3, 5, generator=g)
    for fn in (gan_loss_d, gan_loss_g):
        assert fn(kind, real, fake).shape == ()
        assert fn(kind, real, fake).item() == pytest.approx(
            fn(kind, real.flatten(), fake.flatten()).item(), abs=ATOL
        )


def test_gan_g_detaches_real_and_d_does_not():
    real = torch.tensor([1.0, -0.5], requires_grad=True)
    fake = torch.tensor([0.3, 0.2], requires_grad=True)
    gan_loss_g("ragan", real, fake).backward()
    assert real.grad is None and fake.grad is not None
    gan_loss_d("ragan", real, fake.detach()).backward()
    assert real.grad is not None and real.grad.abs().sum() > 0


def test_gan_errors():
    x = torch.zeros(2, 1)
    msg = "GAN loss must be one of ragan, vanilla, hinge; got 'lsgan'"
    with pytest.raises(ConfigError, match=msg):
        gan_loss_d("lsgan", x, x)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="real_logits must be given"):
        gan_loss_g("ragan", None, x)


# ----------------------------------------------------------------------------- perceptual

# Independent reference: torchvision's own VGG19 layer list (features only; cheap to build).
VGG19_FEATURES = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["E"])
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


@pytest.fixture(scope="module")
def realesrgan_loss() -> PerceptualLoss:
    torch.manual_seed(0)
    return PerceptualLoss("realesrgan", pretrained=False)


def test_vgg19_layer_map_against_torchvision():
    convs = [i for i, m in enumerate(VGG19_FEATURES) if isinstance(m, nn.Conv2d)]
    assert len(convs) == 16
    names = [f"conv{b}_{c}" for b, n in enumerate((2, 2, 4, 4, 4), 1) for c in range(1, n + 1)]
    for name, idx in zip(names, convs, strict=True):
        assert vgg19_layer_index(name) == idx
        assert isinstance(VGG19_FEATURES[vgg19_layer_index(name, before_relu=False)], nn.ReLU)
    assert vgg19_layer_index("conv5_4") == 34  # the seed's features[:35]
    assert [vgg19_layer_index(k) for k in PERCEPTUAL_PRESETS["realesrgan"]] == [2, 7, 16, 25, 34]
    with pytest.raises(ConfigError, match="VGG19 layer must be one of conv1_1, .*got 'conv6_1'"):
        vgg19_layer_index("conv6_1")


def test_seed_preset_is_features_35_before_relu():
    torch.manual_seed(0)
    loss = PerceptualLoss(pretrained=False)  # default = seed preset
    assert loss.layer_weights == {"conv5_4": 1.0}
    assert len(loss.vgg) == 35
    assert isinstance(loss.vgg[34], nn.Conv2d) and loss.vgg[34].out_channels == 512
    assert [type(m) for m in loss.vgg] == [type(m) for m in VGG19_FEATURES[:35]]
    assert not any(p.requires_grad for p in loss.parameters())
    # value: L1 between features[:35] of the 3x repeated, ImageNet-normalised inputs
    g = torch.Generator().manual_seed(2)
    sr, hr = torch.rand(2, 1, 32, 32, generator=g), torch.rand(2, 1, 32, 32, generator=g)
    ref = loss.vgg
    want = F.l1_loss(
        ref((sr.repeat(1, 3, 1, 1) - MEAN) / STD), ref((hr.repeat(1, 3, 1, 1) - MEAN) / STD)
    )
    assert loss(sr, hr).item() == pytest.approx(want.item(), rel=1e-5)
    assert loss(hr, hr).item() == 0.0
    assert loss(sr, hr).item() > 0


def test_realesrgan_preset_value_and_pre_relu_features(realesrgan_loss):
    loss = realesrgan_loss
    assert len(loss.vgg) == 35
    g = torch.Generator().manual_seed(3)
    sr = torch.rand(1, 1, 32, 32, generator=g, requires_grad=True)
    hr = torch.rand(1, 1, 32, 32, generator=g)
    feats = loss.extract(sr)
    assert {k: tuple(v.shape[1:]) for k, v in feats.items()} == {
        "conv1_2": (64, 32, 32), "conv2_2": (128, 16, 16), "conv3_4": (256, 8, 8),
        "conv4_4": (512, 4, 4), "conv5_4": (512, 2, 2),
    }
    # before ReLU: negative values survive (an in-place ReLU would have zeroed them)
    assert all((v < 0).any() for v in feats.values())
    # hand-assembled weighted sum over indices 2, 7, 16, 25, 34
    weights = {2: 0.1, 7: 0.1, 16: 1.0, 25: 1.0, 34: 1.0}

    def taps(x):
        h, out = (x.repeat(1, 3, 1, 1) - MEAN) / STD, {}
        for i, m in enumerate(loss.vgg):
            h = m(h)
            if i in weights:
                out[i] = h
        return out

    fs, fh = taps(sr), taps(hr)
    want = sum(w * F.l1_loss(fs[i], fh[i]) for i, w in weights.items())
    value = loss(sr, hr)
    assert value.item() == pytest.approx(want.item(), rel=1e-5)
    value.backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0
    assert loss(hr, hr).item() == 0.0


def test_perceptual_after_relu_and_l2():
    torch.manual_seed(0)
    loss = PerceptualLoss({"conv1_2": 1.0}, before_relu=False, criterion="l2", pretrained=False)
    assert len(loss.vgg) == 4 and isinstance(loss.vgg[3], nn.ReLU)
    x = torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(4))
    assert (loss.extract(x)["conv1_2"] >= 0).all()
    loss.train()
    assert not loss.vgg.training


def test_perceptual_bad_arguments():
    with pytest.raises(ConfigError, match="perceptual preset must be one of seed, realesrgan"):
        PerceptualLoss("lpips", pretrained=False)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="criterion must be 'l1' or 'l2'"):
        PerceptualLoss(criterion="huber", pretrained=False)  # type: ignore[arg-type]


def test_perceptual_input_shape_error(realesrgan_loss):
    msg = r"perceptual input must be \(B, 1 or 3, H, W\), got \(1, 2"
    with pytest.raises(ImageError, match=msg):
        realesrgan_loss.extract(torch.zeros(1, 2, 16, 16))


def test_missing_weights_error_is_clear(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsMissingError) as info:
        PerceptualLoss()
    msg = str(info.value)
    assert str(tmp_path / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth") in msg
    assert "weights=" in msg and "explicit path" in msg
    assert "feature matching" in msg
    assert isinstance(info.value, FileNotFoundError)


# --------------------------------------------------------------------- offline perceptual


def test_feature_matching_hand_values():
    z, o = torch.zeros(1, 2, 2, 2), torch.ones(1, 2, 2, 2)
    assert feature_matching_loss([z, z], [z, z]).item() == 0.0
    # layer diffs 1 and 3: default = mean over layers = 2; weights (1, 0.5) -> 1 + 1.5
    assert feature_matching_loss([z, z], [o, 3 * o]).item() == pytest.approx(2.0)
    weighted = feature_matching_loss([z, z], [o, 3 * o], weights=[1.0, 0.5])
    assert weighted.item() == pytest.approx(2.5)


def test_feature_matching_detaches_real_and_checks_lengths():
    fake = torch.zeros(1, 1, 2, 2, requires_grad=True)
    real = torch.ones(1, 1, 2, 2, requires_grad=True)
    feature_matching_loss([fake], [real]).backward()
    assert real.grad is None
    assert fake.grad is not None and torch.allclose(fake.grad, torch.full_like(fake, -0.25))
    with pytest.raises(ValueError, match="same length, got 1 and 2"):
        feature_matching_loss([fake], [real, real])
    with pytest.raises(ValueError, match="feature 0: fake and real shapes differ"):
        feature_matching_loss([fake], [torch.zeros(1, 1, 3, 3)])


def test_laplacian_pyramid_reconstructs_exactly():
    x = torch.rand(2, 1, 37, 50, generator=torch.Generator().manual_seed(5))
    pyr = laplacian_pyramid(x, levels=4)
    assert [tuple(p.shape[-2:]) for p in pyr] == [(37, 50), (19, 25), (10, 13), (5, 7)]
    assert torch.allclose(collapse_laplacian_pyramid(pyr), x, atol=1e-6)
    # a constant image has empty band-pass levels
    flat = laplacian_pyramid(torch.full((1, 1, 16, 16), 0.3), levels=3)
    assert all(b.abs().max() < 1e-6 for b in flat[:-1])
    assert torch.allclose(flat[-1], torch.full((1, 1, 4, 4), 0.3))


def test_laplacian_pyramid_loss_hand_values():
    g = torch.Generator().manual_seed(6)
    hr, sr = torch.rand(1, 1, 32, 32, generator=g), torch.rand(1, 1, 32, 32, generator=g)
    assert laplacian_pyramid_loss(sr, hr, levels=1).item() == pytest.approx(l1_loss(sr, hr).item())
    assert laplacian_pyramid_loss(hr, hr).item() == 0.0
    # a global offset lives only in the low-pass rest
    assert laplacian_pyramid_loss(hr + 0.1, hr).item() == pytest.approx(0.1, abs=1e-5)
    assert laplacian_pyramid_loss(hr + 0.1, hr, include_lowpass=False).item() < 1e-5
    # a blurred image loses band-pass energy: the loss without the low-pass rest sees it
    blurred = F.avg_pool2d(F.pad(hr, (1, 1, 1, 1), mode="replicate"), 3, 1)
    assert laplacian_pyramid_loss(blurred, hr, include_lowpass=False).item() > 0.05
    with pytest.raises(ImageError, match="at least 8 px for 4 pyramid levels, got 4x32"):
        laplacian_pyramid_loss(hr[..., :4, :], hr[..., :4, :])


def test_the_cli_does_not_import_torchvision_until_a_backbone_is_built():
    """torchvision costs ~165 MB of resident memory and ~1.6 s at every start; only the
    perceptual loss and LPIPS need it, so importing the package and building the CLI (every
    subcommand's module) must not load it."""
    import subprocess
    import sys

    code = ("import sys, irsrgan, irsrgan.cli, irsrgan.losses, irsrgan.metrics; "
            "irsrgan.cli.build_parser(); print('torchvision' in sys.modules); "
            "from irsrgan.backbones import cached_weights_path; "
            "print(cached_weights_path('vgg19').name, 'torchvision' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split("\n")
    assert out[0] == "False"
    assert out[1] == "vgg19-dcbb9e9d.pth True"
