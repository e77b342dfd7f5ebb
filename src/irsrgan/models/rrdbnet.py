"""RRDBNet, the ESRGAN generator (Wang et al. 2018), single-channel by default."""

from __future__ import annotations

import torch
from torch import nn

from .blocks import DenseBlock, TrunkGenerator


class RRDB(nn.Module):
    """Residual-in-residual dense block: ``x + 0.2 * DB3(DB2(DB1(x)))``."""

    def __init__(self, num_features: int = 64, growth: int = 32) -> None:
        super().__init__()
        self.rdb1 = DenseBlock(num_features, growth)
        self.rdb2 = DenseBlock(num_features, growth)
        self.rdb3 = DenseBlock(num_features, growth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.2 * self.rdb3(self.rdb2(self.rdb1(x)))


class RRDBNet(TrunkGenerator):
    """conv -> N RRDB -> conv (+ global skip) -> nearest-upsample head.

    Args:
        in_channels, out_channels: 1 for thermal (default), 3 for colour weights.
        scale: 1, 2, 4 or 8.
        num_features: feature width (ESRGAN: 64). growth: dense growth (32).
        num_blocks: number of RRDB (ESRGAN: 23).
        input_unshuffle: 1, or 2/4 for BasicSR's x2/x1 models that pixel-unshuffle the input
            and then upsample x4 (``scale`` stays the overall factor).

    Shape: ``(B, in_channels, H, W) -> (B, out_channels, H * scale, W * scale)``; H and W must
    be multiples of ``input_unshuffle``.
    """

    arch = "rrdbnet"

    def __init__(self, *, in_channels: int = 1, out_channels: int = 1, scale: int = 4,
                 num_features: int = 64, num_blocks: int = 23, growth: int = 32,
                 input_unshuffle: int = 1) -> None:
        super().__init__(in_channels=in_channels, out_channels=out_channels, scale=scale,
                         num_features=num_features, num_blocks=num_blocks,
                         block=lambda: RRDB(num_features, growth),
                         input_unshuffle=input_unshuffle)
