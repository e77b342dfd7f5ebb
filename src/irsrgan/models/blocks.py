"""Building blocks shared by the generators: dense blocks, nearest-neighbour upsamplers, the
ESRGAN trunk that RRDBNet and CRDBNet build on and the pixel-shuffle frame of CompactNet and
SPANNet."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ConfigError
from .base import Generator


def upsample_stages(scale: int) -> int:
    """Number of x2 nearest-upsample stages for ``scale`` (1, 2, 4 or 8)."""
    if scale not in (1, 2, 4, 8):
        raise ConfigError(f"scale must be 1, 2, 4 or 8, got {scale}")
    return int(math.log2(scale))


PIXEL_SHUFFLE_SCALES = (1, 2, 3, 4, 8)


def check_shuffle_scale(scale: int) -> int:
    """The scale of a pixel-shuffle generator (1, 2, 3, 4 or 8), or a ConfigError."""
    if scale not in PIXEL_SHUFFLE_SCALES:
        raise ConfigError(f"scale must be 1, 2, 3, 4 or 8, got {scale}")
    return scale


def nearest_skip(x: torch.Tensor, scale: int, out_channels: int) -> torch.Tensor:
    """The input upsampled by nearest neighbour, as ``out_channels`` channels (their mean
    when the counts differ): what a residual generator adds its body's output to."""
    base = F.interpolate(x, scale_factor=scale, mode="nearest")
    if out_channels != x.shape[1]:
        base = base.mean(1, keepdim=True).expand(-1, out_channels, -1, -1)
    return base


class DenseBlock(nn.Module):
    """ESRGAN's residual dense block: 5 densely connected 3x3 convs, ``x + 0.2 * conv5``."""

    def __init__(self, num_features: int = 64, growth: int = 32) -> None:
        super().__init__()
        nf, gc = num_features, growth
        self.conv1 = nn.Conv2d(nf, gc, 3, 1, 1)
        self.conv2 = nn.Conv2d(nf + gc, gc, 3, 1, 1)
        self.conv3 = nn.Conv2d(nf + 2 * gc, gc, 3, 1, 1)
        self.conv4 = nn.Conv2d(nf + 3 * gc, gc, 3, 1, 1)
        self.conv5 = nn.Conv2d(nf + 4 * gc, nf, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4, self.conv5):
            nn.init.kaiming_normal_(conv.weight, a=0.2)
            conv.weight.data *= 0.1
            nn.init.zeros_(conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.lrelu(self.conv1(x))
        x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x + 0.2 * x5


class NearestUpsampleHead(nn.Module):
    """``log2(scale)`` stages of nearest x2 + conv 3x3 + LeakyReLU, then conv + LReLU + conv.

    Parameter names follow BasicSR (``conv_up1``, ``conv_up2``, ``conv_up3``, ``conv_hr``,
    ``conv_last``) so ESRGAN-family weights map onto it directly.
    """

    def __init__(self, num_features: int, out_channels: int, scale: int) -> None:
        super().__init__()
        self.stages = upsample_stages(scale)
        for i in range(self.stages):
            setattr(self, f"conv_up{i + 1}", nn.Conv2d(num_features, num_features, 3, 1, 1))
        self.conv_hr = nn.Conv2d(num_features, num_features, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_features, out_channels, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        for i in range(self.stages):
            conv = getattr(self, f"conv_up{i + 1}")
            feat = self.lrelu(conv(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return self.conv_last(self.lrelu(self.conv_hr(feat)))


class TrunkGenerator(Generator):
    """The ESRGAN layout: ``conv_first`` -> ``body`` (``num_blocks`` residual blocks in a
    chain) -> ``conv_body``, plus the global skip from ``conv_first`` -> a
    :class:`NearestUpsampleHead`. RRDBNet and CRDBNet differ only in their block.

    ``input_unshuffle`` (1, 2 or 4): BasicSR's x2/x1 models pixel-unshuffle the input first
    and then upsample by ``scale * input_unshuffle``; H and W must be multiples of it.
    """

    def __init__(
        self, *, in_channels: int, out_channels: int, scale: int, num_features: int,
        num_blocks: int, block: Callable[[], nn.Module], input_unshuffle: int = 1,
    ) -> None:
        super().__init__(scale=scale, in_channels=in_channels, out_channels=out_channels,
                         size_multiple=input_unshuffle)
        self.input_unshuffle = input_unshuffle
        self.conv_first = nn.Conv2d(in_channels * input_unshuffle**2, num_features, 3, 1, 1)
        self.body = nn.Sequential(*(block() for _ in range(num_blocks)))
        self.conv_body = nn.Conv2d(num_features, num_features, 3, 1, 1)
        self.head = NearestUpsampleHead(num_features, out_channels, scale * input_unshuffle)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_unshuffle > 1:
            x = F.pixel_unshuffle(x, self.input_unshuffle)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        return self.head(feat)


class ShuffleGenerator(Generator):
    """A generator that works at LR resolution, ends in a pixel shuffle and adds the
    nearest-upsampled input back, so that its layers learn only the residual (CompactNet,
    SPANNet). Subclasses write :meth:`residual`.

    Plain conv graphs like these were measured faster with channels-last PyTorch than with
    ONNX Runtime on CPU, hence ``cpu_backend``.
    """

    cpu_backend = "torch"

    def __init__(self, *, in_channels: int, out_channels: int, scale: int) -> None:
        super().__init__(scale=check_shuffle_scale(scale), in_channels=in_channels,
                         out_channels=out_channels)
        self.upsampler = nn.PixelShuffle(scale)

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_channels, H, W) -> (B, out_channels * scale**2, H, W)``."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.upsampler(self.residual(x)) + nearest_skip(x, self.scale, self.out_channels)
