"""Discriminators: shapes at many sizes, features, gradients, parameter counts, determinism."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from irsrgan.errors import ImageError
from irsrgan.losses import feature_matching_loss, gan_loss_d
from irsrgan.models.discriminators import (
    UNetDiscriminatorSN,
    VGGStyleDiscriminator,
    convert_legacy_spectral_norm,
)

NF = 4  # tiny width keeps every test fast


def rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ------------------------------------------------------------------------------- VGG-style


@pytest.mark.parametrize(
    ("h", "w", "stages"),
    [
        (128, 128, [(64, 64), (32, 32), (16, 16), (8, 8), (4, 4)]),
        (96, 128, [(48, 64), (24, 32), (12, 16), (6, 8), (3, 4)]),
        (100, 60, [(50, 30), (25, 15), (12, 7), (6, 3), (3, 1)]),
        (32, 45, [(16, 22), (8, 11), (4, 5), (2, 2), (1, 1)]),
    ],
)
def test_vgg_shapes(h, w, stages):
    torch.manual_seed(0)
    d = VGGStyleDiscriminator(num_features=NF)
    x = rand(2, 1, h, w)
    assert d(x).shape == (2, 1)
    feats = d.features(x)
    widths = [NF, 2 * NF, 4 * NF, 8 * NF, 8 * NF]
    want = [(2, c, *s) for c, s in zip(widths, stages, strict=True)]
    assert [tuple(f.shape) for f in feats] == want
    logits, feats2 = d.logits_and_features(x)
    assert logits.shape == (2, 1) and len(feats2) == 5


def test_vgg_is_the_seed_layout_at_128():
    """At 128 px the 4x4 adaptive pool is an identity: the head sees the raw 4x4 features."""
    torch.manual_seed(0)
    d = VGGStyleDiscriminator(num_features=NF).eval()
    x = rand(2, 1, 128, 128)
    logits, feats = d.logits_and_features(x)
    assert torch.equal(d.head(feats[-1]), logits)
    # ESRGAN / seed VGG-128 parameter count, worked out by hand for 3 channels, nf 64:
    # convs 1792 + 65536 + 73728 + 262144 + 294912 + 1048576 + 1179648 + 4194304 + 2359296
    # + 4194304, BN 2 * (64 + 3 * 128 + ... ) = 5760, linear 8192 * 100 + 100 + 101
    assert n_params(VGGStyleDiscriminator(3, 64)) == 14_499_401
    assert n_params(VGGStyleDiscriminator(1, 64)) == 14_499_401 - 2 * 64 * 9


def test_vgg_every_parameter_gets_a_gradient():
    torch.manual_seed(0)
    d = VGGStyleDiscriminator(num_features=NF)
    real, fake = d(rand(2, 1, 40, 36, seed=1)), d(rand(2, 1, 40, 36, seed=2))
    gan_loss_d("vanilla", real, fake).backward()
    for name, p in d.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    # RaGAN only sees logit differences, so the last bias cancels out and gets exactly 0
    d.zero_grad()
    real, fake = d(rand(2, 1, 40, 36, seed=1)), d(rand(2, 1, 40, 36, seed=2))
    gan_loss_d("ragan", real, fake).backward()
    assert d.head[3].bias.grad.abs().item() < 1e-7
    assert d.head[3].weight.grad.abs().sum() > 0


def test_vgg_rejects_bad_inputs():
    d = VGGStyleDiscriminator(num_features=NF)
    with pytest.raises(ImageError, match="at least 32x32 px, got 31x64"):
        d(torch.zeros(2, 1, 31, 64))
    with pytest.raises(ImageError, match=r"must have 1 channel\(s\), got 3"):
        d(torch.zeros(2, 3, 64, 64))
    with pytest.raises(ImageError, match=r"must be \(B, C, H, W\), got \(1, 64, 64\)"):
        d(torch.zeros(1, 64, 64))
    with pytest.raises(ValueError, match="num_features must be a positive integer, got 0"):
        VGGStyleDiscriminator(num_features=0)


# ----------------------------------------------------------------------------------- U-Net


@pytest.mark.parametrize(("h", "w"), [(64, 64), (96, 128), (100, 60), (13, 21), (8, 8)])
@pytest.mark.parametrize("skip", [True, False])
def test_unet_shapes(h, w, skip):
    torch.manual_seed(0)
    d = UNetDiscriminatorSN(num_features=NF, skip_connection=skip)
    x = rand(2, 1, h, w)
    assert d(x).shape == (2, 1, h, w)
    feats = d.features(x)
    h1, w1 = h // 2, w // 2
    h2, w2 = h1 // 2, w1 // 2
    h3, w3 = h2 // 2, w2 // 2
    assert [tuple(f.shape[1:]) for f in feats] == [
        (NF, h, w), (2 * NF, h1, w1), (4 * NF, h2, w2), (8 * NF, h3, w3),
        (4 * NF, h2, w2), (2 * NF, h1, w1), (NF, h, w), (NF, h, w),
    ]


def test_unet_parameter_count_matches_real_esrgan():
    # Real-ESRGAN net_d (3 channels, nf 64), by hand: conv0 1792, conv1 131072, conv2 524288,
    # conv3 2097152, conv4 1179648, conv5 294912, conv6 73728, conv7/8 36864 each, conv9 577.
    assert n_params(UNetDiscriminatorSN(3, 64)) == 4_376_897
    assert n_params(UNetDiscriminatorSN(1, 64)) == 4_376_897 - 2 * 64 * 9


def test_unet_every_parameter_gets_a_gradient():
    torch.manual_seed(0)
    d = UNetDiscriminatorSN(num_features=NF)
    real, fake = d(rand(2, 1, 24, 40, seed=1)), d(rand(2, 1, 24, 40, seed=2))
    gan_loss_d("vanilla", real, fake).backward()
    names = [n for n, _ in d.named_parameters()]
    assert "conv1.parametrizations.weight.original" in names  # spectral norm is on
    for name, p in d.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_unet_spectral_norm_bounds_weights():
    torch.manual_seed(0)
    d = UNetDiscriminatorSN(num_features=NF)
    for _ in range(20):  # power iterations run in train mode
        d(rand(1, 1, 16, 16))
    d.eval()
    for i in range(1, 9):
        w = getattr(d, f"conv{i}").weight
        sigma = torch.linalg.matrix_norm(w.flatten(1), ord=2).item()
        assert sigma == pytest.approx(1.0, abs=0.02), f"conv{i}"


def test_unet_rejects_small_inputs():
    with pytest.raises(ImageError, match="at least 8x8 px, got 7x16"):
        UNetDiscriminatorSN(num_features=NF)(torch.zeros(1, 1, 7, 16))


def test_legacy_spectral_norm_state_dict_loads():
    """A state dict saved with torch.nn.utils.spectral_norm (Real-ESRGAN's layout) converts."""
    torch.manual_seed(1)
    legacy = UNetDiscriminatorSN(num_features=NF)
    for i in range(1, 9):  # swap in legacy SN convs with the same shapes
        conv = getattr(legacy, f"conv{i}").parametrizations.weight.original
        cout, cin, k, _ = conv.shape
        stride = 2 if k == 4 else 1
        conv = nn.Conv2d(cin, cout, k, stride, 1, bias=False)
        setattr(legacy, f"conv{i}", nn.utils.spectral_norm(conv))
    legacy(rand(1, 1, 16, 16))  # one power iteration
    state = legacy.state_dict()
    assert "conv1.weight_orig" in state and "conv1.weight_u" in state
    torch.manual_seed(2)
    ours = UNetDiscriminatorSN(num_features=NF)
    ours.load_state_dict(convert_legacy_spectral_norm(state))
    x = rand(2, 1, 32, 24, seed=3)
    assert torch.allclose(ours.eval()(x), legacy.eval()(x), atol=1e-6)


# ------------------------------------------------------------------------------ both


@pytest.mark.parametrize("cls", [VGGStyleDiscriminator, UNetDiscriminatorSN])
def test_seeded_init_is_deterministic(cls):
    def build(seed: int) -> dict[str, torch.Tensor]:
        torch.manual_seed(seed)
        return cls(num_features=NF).state_dict()

    a, b, c = build(7), build(7), build(8)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    weights = [k for k in a if k.endswith(("weight", "original")) and a[k].ndim > 1]
    assert weights and all(not torch.equal(a[k], c[k]) for k in weights)


@pytest.mark.parametrize("cls", [VGGStyleDiscriminator, UNetDiscriminatorSN])
def test_attributes_and_feature_matching(cls):
    torch.manual_seed(0)
    d = cls(in_channels=2, num_features=NF).eval()
    assert d.in_channels == 2 and d.config["in_channels"] == 2
    assert type(d)(**d.config).config == d.config
    hr, sr = rand(2, 2, 64, 48, seed=1), rand(2, 2, 64, 48, seed=2)
    assert feature_matching_loss(d.features(hr), d.features(hr)).item() == 0.0
    assert feature_matching_loss(d.features(sr), d.features(hr)).item() > 0
