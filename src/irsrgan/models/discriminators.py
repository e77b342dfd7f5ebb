"""Discriminators for the GAN stage: the seed's VGG-style one (size-agnostic) and Real-ESRGAN's
U-Net with spectral norm (per-pixel realness).

Both take ``(B, in_channels, H, W)`` images in [0, 1] and return raw logits (no sigmoid); the
GAN losses in :mod:`irsrgan.losses` work on any logits shape. Both expose
``features(x) -> list[Tensor]`` (intermediate activations for the feature-matching loss) and
``logits_and_features(x)`` (both from one pass), plus ``in_channels``, ``arch`` and ``config``
(the constructor arguments), like the generators.

>>> import torch
>>> from irsrgan.models.discriminators import UNetDiscriminatorSN, VGGStyleDiscriminator
>>> VGGStyleDiscriminator(num_features=8)(torch.rand(2, 1, 96, 128)).shape
torch.Size([2, 1])
>>> UNetDiscriminatorSN(num_features=8)(torch.rand(2, 1, 64, 48)).shape
torch.Size([2, 1, 64, 48])
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import spectral_norm

from ..errors import ConfigError, ImageError


def _check_input(x: torch.Tensor, in_channels: int, min_size: int, name: str) -> None:
    if x.ndim != 4:
        raise ImageError(f"{name} input must be (B, C, H, W), got {tuple(x.shape)}")
    if x.shape[1] != in_channels:
        raise ImageError(
            f"{name} input must have {in_channels} channel(s), got {x.shape[1]} "
            f"(shape {tuple(x.shape)})"
        )
    if min(x.shape[-2:]) < min_size:
        raise ImageError(
            f"{name} input must be at least {min_size}x{min_size} px, got "
            f"{x.shape[-2]}x{x.shape[-1]}"
        )


class VGGStyleDiscriminator(nn.Module):
    """The seed's VGG-style discriminator (ESRGAN's), made size-agnostic.

    Five stages, each ``conv 3x3 s1 -> conv 4x4 s2``, every conv followed by BatchNorm (except
    the very first) and LeakyReLU(0.2); channels ``nf, 2nf, 4nf, 8nf, 8nf``, so the features
    are 1/32 of the input. An adaptive average pool brings them to ``pool_size x pool_size``
    before the head ``Linear(8nf * pool_size**2, head_features) -> LeakyReLU -> Linear(., 1)``.
    With the default ``pool_size=4`` a 128 px input pools 4x4 to 4x4 (an identity), i.e. it is
    exactly the seed's 128 px network; any input of at least 32 px works.

    BatchNorm: put the discriminator in ``eval()`` (or otherwise freeze its statistics) while
    computing the generator's loss, or the G step updates D's running statistics (a seed bug).

    Args:
        in_channels: image channels (1 for thermal).
        num_features: width of the first stage (64 in the seed).
        pool_size: side of the adaptive pool before the head (4 = seed layout at 128 px).
        head_features: hidden width of the linear head (100 in the seed / ESRGAN).

    Shape:
        ``(B, in_channels, H, W)`` with ``H, W >= 32`` -> logits ``(B, 1)``.
    """

    arch = "vgg-style"
    min_size = 32

    def __init__(
        self,
        in_channels: int = 1,
        num_features: int = 64,
        *,
        pool_size: int = 4,
        head_features: int = 100,
    ) -> None:
        super().__init__()
        for arg, value in (
            ("in_channels", in_channels), ("num_features", num_features),
            ("pool_size", pool_size), ("head_features", head_features),
        ):
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{arg} must be a positive integer, got {value!r}")
        self.config = dict(
            in_channels=in_channels, num_features=num_features, pool_size=pool_size,
            head_features=head_features,
        )
        self.in_channels = in_channels
        nf = num_features
        widths = [nf, 2 * nf, 4 * nf, 8 * nf, 8 * nf]
        stages: list[nn.Module] = []
        cin = in_channels
        for i, cout in enumerate(widths):
            first: list[nn.Module] = (
                [nn.Conv2d(cin, cout, 3, 1, 1, bias=True)]
                if i == 0
                else [nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)]
            )
            stages.append(
                nn.Sequential(
                    *first,
                    nn.LeakyReLU(0.2, inplace=True),
                    nn.Conv2d(cout, cout, 4, 2, 1, bias=False),
                    nn.BatchNorm2d(cout),
                    nn.LeakyReLU(0.2, inplace=True),
                )
            )
            cin = cout
        self.stages = nn.ModuleList(stages)
        self.pool = nn.AdaptiveAvgPool2d(pool_size)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(widths[-1] * pool_size * pool_size, head_features),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(head_features, 1),
        )

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The output of each of the five stages: ``(B, w_i, H / 2**(i+1), W / 2**(i+1))``."""
        _check_input(x, self.in_channels, self.min_size, "VGGStyleDiscriminator")
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats

    def logits_and_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits ``(B, 1)`` and :meth:`features` from a single pass."""
        feats = self.features(x)
        return self.head(self.pool(feats[-1])), feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits_and_features(x)[0]


class UNetDiscriminatorSN(nn.Module):
    """Real-ESRGAN's U-Net discriminator with spectral normalisation: per-pixel realness.

    Encoder ``conv 3x3 (nf) -> 3 x [SN conv 4x4 s2]`` (``2nf, 4nf, 8nf``), decoder
    ``3 x [bilinear x2 -> SN conv 3x3]`` (``4nf, 2nf, nf``), each added to the encoder feature
    of the same resolution when ``skip_connection``; then two SN convs 3x3 and a plain conv 3x3
    to one channel. LeakyReLU(0.2) everywhere. Sizes divisible by 8 upsample by exactly 2;
    other sizes (at least 8 px) interpolate each upsampling step to its skip's size, so the
    output always has the input's size.

    Args:
        in_channels: image channels (1 for thermal).
        num_features: width of the first conv (64 in Real-ESRGAN).
        skip_connection: add the encoder features to the decoder (Real-ESRGAN: ``True``).

    Shape:
        ``(B, in_channels, H, W)`` with ``H, W >= 8`` -> logits ``(B, 1, H, W)``.
    """

    arch = "unet-sn"
    min_size = 8

    def __init__(
        self, in_channels: int = 1, num_features: int = 64, skip_connection: bool = True
    ) -> None:
        super().__init__()
        for arg, value in (("in_channels", in_channels), ("num_features", num_features)):
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{arg} must be a positive integer, got {value!r}")
        self.config = dict(
            in_channels=in_channels, num_features=num_features,
            skip_connection=bool(skip_connection),
        )
        self.in_channels = in_channels
        self.skip_connection = bool(skip_connection)
        nf = num_features

        def sn_conv(cin: int, cout: int, k: int, s: int) -> nn.Module:
            return spectral_norm(nn.Conv2d(cin, cout, k, s, 1, bias=False))

        self.conv0 = nn.Conv2d(in_channels, nf, 3, 1, 1)
        self.conv1 = sn_conv(nf, 2 * nf, 4, 2)
        self.conv2 = sn_conv(2 * nf, 4 * nf, 4, 2)
        self.conv3 = sn_conv(4 * nf, 8 * nf, 4, 2)
        self.conv4 = sn_conv(8 * nf, 4 * nf, 3, 1)
        self.conv5 = sn_conv(4 * nf, 2 * nf, 3, 1)
        self.conv6 = sn_conv(2 * nf, nf, 3, 1)
        self.conv7 = sn_conv(nf, nf, 3, 1)
        self.conv8 = sn_conv(nf, nf, 3, 1)
        self.conv9 = nn.Conv2d(nf, 1, 3, 1, 1)

    @staticmethod
    def _act(x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x, 0.2)

    def _up(self, conv: nn.Module, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        x = self._act(conv(x))
        return x + skip if self.skip_connection else x

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Eight activations: encoder ``x0..x3`` (1, 1/2, 1/4, 1/8 of the input size, widths
        ``nf, 2nf, 4nf, 8nf``), decoder ``x4..x6`` (1/4, 1/2, 1; ``4nf, 2nf, nf``) and the
        output of ``conv8`` (full size, ``nf``) that the final conv turns into logits."""
        _check_input(x, self.in_channels, self.min_size, "UNetDiscriminatorSN")
        act = self._act
        x0 = act(self.conv0(x))
        x1 = act(self.conv1(x0))
        x2 = act(self.conv2(x1))
        x3 = act(self.conv3(x2))
        x4 = self._up(self.conv4, x3, x2)
        x5 = self._up(self.conv5, x4, x1)
        x6 = self._up(self.conv6, x5, x0)
        out = act(self.conv8(act(self.conv7(x6))))
        return [x0, x1, x2, x3, x4, x5, x6, out]

    def logits_and_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Per-pixel logits ``(B, 1, H, W)`` and :meth:`features` from a single pass."""
        feats = self.features(x)
        return self.conv9(feats[-1]), feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits_and_features(x)[0]


_LEGACY_SN_SUFFIXES = {
    "weight_orig": "parametrizations.weight.original",
    "weight_u": "parametrizations.weight.0._u",
    "weight_v": "parametrizations.weight.0._v",
}


def convert_legacy_spectral_norm(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename ``torch.nn.utils.spectral_norm`` keys (``convN.weight_orig/_u/_v``, as in
    Real-ESRGAN's released ``net_d`` files) to this module's parametrization keys
    (``convN.parametrizations.weight.original`` / ``.0._u`` / ``.0._v``). Other keys pass
    through unchanged."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        prefix, _, leaf = key.rpartition(".")
        if leaf in _LEGACY_SN_SUFFIXES:
            key = f"{prefix}.{_LEGACY_SN_SUFFIXES[leaf]}" if prefix else _LEGACY_SN_SUFFIXES[leaf]
        out[key] = value
    return out


__all__ = ["UNetDiscriminatorSN", "VGGStyleDiscriminator", "convert_legacy_spectral_norm"]
