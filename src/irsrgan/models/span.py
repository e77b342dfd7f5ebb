"""A SPAN-style efficient generator (Wan et al., "Swift Parameter-free Attention Network for
Efficient Super-Resolution", CVPR Workshops 2024, winner of the NTIRE 2024 efficient SR
challenge), written for single-channel thermal input.

Each block is three 3x3 convs (SiLU after the first two) whose output gates itself: the
attention map ``sigmoid(c3) - 0.5`` costs no parameters and multiplies ``c3 + x``, which
lets a shallow net weigh edges against flat regions. Four feature maps (the head's, the
first block's, the last block's first conv, and the last block after a 3x3 conv) are
concatenated and fused by a 1x1 conv, then a pixel shuffle upsamples. Like the compact net,
the nearest-upsampled input is added back so the body learns the residual only.

Left out from the paper: the training-time re-parameterised convs (a 1x1-3x3-1x1 branch
folded into each 3x3 at export). They change training, not the inference graph; plain 3x3
convs keep checkpoints simple.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ConfigError
from .blocks import ShuffleGenerator


class SPAB(nn.Module):
    """Three 3x3 convs with a parameter-free attention gate. Returns ``(out, c1)``."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(features, features, 3, 1, 1)
        self.c2 = nn.Conv2d(features, features, 3, 1, 1)
        self.c3 = nn.Conv2d(features, features, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c1 = self.c1(x)
        c3 = self.c3(F.silu(self.c2(F.silu(c1))))
        attention = torch.sigmoid(c3) - 0.5
        return (c3 + x) * attention, c1


class SPANNet(ShuffleGenerator):
    """SPAN-style generator: parameter-free attention blocks, pixel shuffle, nearest skip.

    Args: in/out channels, scale (1, 2, 3, 4, 8), num_features (48), num_blocks (6, at
    least 1).
    """

    arch = "span"

    def __init__(self, *, in_channels: int = 1, out_channels: int = 1, scale: int = 4,
                 num_features: int = 48, num_blocks: int = 6) -> None:
        super().__init__(in_channels=in_channels, out_channels=out_channels, scale=scale)
        if num_blocks < 1:
            raise ConfigError(f"num_blocks must be >= 1, got {num_blocks}")
        f = num_features
        self.head = nn.Conv2d(in_channels, f, 3, 1, 1)
        self.blocks = nn.ModuleList(SPAB(f) for _ in range(num_blocks))
        self.tail = nn.Conv2d(f, f, 3, 1, 1)
        self.fuse = nn.Conv2d(4 * f, f, 1)
        self.to_pixels = nn.Conv2d(f, out_channels * scale * scale, 3, 1, 1)

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        feature = self.head(x)
        out, _ = self.blocks[0](feature)
        first = out
        last_c1 = None
        for block in self.blocks[1:]:
            out, last_c1 = block(out)
        if last_c1 is None:  # one block: its own first conv
            last_c1 = self.blocks[0].c1(feature)
        fused = self.fuse(torch.cat([feature, self.tail(out), first, last_c1], dim=1))
        return self.to_pixels(fused)
