"""The seed's published generator, kept only so its released checkpoints load.

It does not match the seed's figure (see ``crdbnet``): each block runs its three dense blocks
on a chain and again on 0.2-scaled inputs, and fuses ``[0.2 * chain, t1, t2, t3]`` with a 1x1
conv (1.94x RRDB's MACs). Parameter names reproduce the published state dict exactly:
``initial``, ``residuals.N.rrdb.M.blocks.K.cnn``, ``residuals.N.conv``, ``conv``,
``upsamples.K.conv``, ``final.0``, ``final.2``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .base import Generator
from .blocks import upsample_stages


class _Conv(nn.Module):
    def __init__(self, cin: int, cout: int, act: bool) -> None:
        super().__init__()
        self.cnn = nn.Conv2d(cin, cout, 3, 1, 1)
        self.act = nn.LeakyReLU(0.2, inplace=True) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.cnn(x))


class _DenseBlock(nn.Module):
    def __init__(self, nf: int, gc: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            _Conv(nf + i * gc, gc if i < 4 else nf, act=i < 4) for i in range(5)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = x
        out = x
        for block in self.blocks:
            out = block(feats)
            feats = torch.cat((feats, out), 1)
        return x + 0.2 * out


class _SeedBlock(nn.Module):
    def __init__(self, nf: int, gc: int) -> None:
        super().__init__()
        self.rrdb = nn.ModuleList(_DenseBlock(nf, gc) for _ in range(3))
        self.conv = nn.Conv2d(4 * nf, nf, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        chain = x
        for db in self.rrdb:
            chain = db(chain)
        ts = []
        t = x
        for db in self.rrdb:
            t = 0.2 * db(t)
            ts.append(t)
        return x + self.conv(torch.cat([0.2 * chain, *ts], 1))


class _Upsample(nn.Module):
    def __init__(self, nf: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(nf, nf, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.conv(F.interpolate(x, scale_factor=2, mode="nearest")), 0.2)


class SeedCRDBNet(Generator):
    """The published IRSRGAN generator (3 channels, nf 64, gc 32, 23 blocks, x4)."""

    arch = "seed-crdbnet"

    def __init__(self, *, in_channels: int = 3, out_channels: int = 3, scale: int = 4,
                 num_features: int = 64, num_blocks: int = 23, growth: int = 32) -> None:
        super().__init__(scale=scale, in_channels=in_channels, out_channels=out_channels)
        nf = num_features
        self.initial = nn.Conv2d(in_channels, nf, 3, 1, 1)
        self.residuals = nn.Sequential(*(_SeedBlock(nf, growth) for _ in range(num_blocks)))
        self.conv = nn.Conv2d(nf, nf, 3, 1, 1)
        self.upsamples = nn.Sequential(*(_Upsample(nf) for _ in range(upsample_stages(scale))))
        self.final = nn.Sequential(
            nn.Conv2d(nf, nf, 3, 1, 1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(nf, out_channels, 3, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        initial = self.initial(x)
        feat = self.conv(self.residuals(initial)) + initial
        return self.final(self.upsamples(feat))
