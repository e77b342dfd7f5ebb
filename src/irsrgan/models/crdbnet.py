"""CRDBNet: the seed's Comprehensive Residual Dense Block, built as its figure draws it.

``CRDB(x) = x + Conv1x1(concat[(x,) d1, d2, d3])`` with ``d1 = DB1(x)``, ``d2 = DB2(d1)``,
``d3 = DB3(d2)``: the three dense blocks are chained as in RRDB, and all their outputs (and,
with ``fuse_input=True``, the block input) are gathered by a 1x1 fusion conv, a global dense
residual. It costs the RRDB's MACs plus one 1x1 conv per block (+~2%).
"""

from __future__ import annotations

import torch
from torch import nn

from .blocks import DenseBlock, TrunkGenerator


class CRDB(nn.Module):
    def __init__(self, num_features: int = 64, growth: int = 32, fuse_input: bool = False):
        super().__init__()
        self.fuse_input = fuse_input
        self.rdb1 = DenseBlock(num_features, growth)
        self.rdb2 = DenseBlock(num_features, growth)
        self.rdb3 = DenseBlock(num_features, growth)
        n_in = (4 if fuse_input else 3) * num_features
        self.fuse = nn.Conv2d(n_in, num_features, 1)
        # Start close to identity, as RRDB's 0.2 residual scaling does.
        nn.init.kaiming_normal_(self.fuse.weight, a=0.2)
        self.fuse.weight.data *= 0.1
        nn.init.zeros_(self.fuse.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d1 = self.rdb1(x)
        d2 = self.rdb2(d1)
        d3 = self.rdb3(d2)
        parts = (x, d1, d2, d3) if self.fuse_input else (d1, d2, d3)
        return x + self.fuse(torch.cat(parts, 1))


class CRDBNet(TrunkGenerator):
    """RRDBNet with the seed's CRDB blocks (as its figure draws them).

    Args: as RRDBNet's, without ``input_unshuffle``, plus ``fuse_input`` (the block input
    joins the 1x1 fusion too).
    """

    arch = "crdbnet"

    def __init__(self, *, in_channels: int = 1, out_channels: int = 1, scale: int = 4,
                 num_features: int = 64, num_blocks: int = 23, growth: int = 32,
                 fuse_input: bool = False) -> None:
        super().__init__(in_channels=in_channels, out_channels=out_channels, scale=scale,
                         num_features=num_features, num_blocks=num_blocks,
                         block=lambda: CRDB(num_features, growth, fuse_input))
