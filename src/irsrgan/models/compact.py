"""A compact, fast generator (the SRVGGNetCompact idea of Real-ESRGAN).

A plain stack of 3x3 convs with PReLU at LR resolution, a pixel shuffle at the end, and the
nearest-upsampled input added back, so the body only learns the residual. Cheap enough for CPU
and video.
"""

from __future__ import annotations

import torch
from torch import nn

from .blocks import ShuffleGenerator


class CompactNet(ShuffleGenerator):
    """Plain conv + PReLU stack at LR resolution, pixel shuffle, nearest-upsampled skip.

    Args: in/out channels, scale (1, 2, 3, 4, 8), num_features (64), num_convs (16).
    """

    arch = "compact"

    def __init__(self, *, in_channels: int = 1, out_channels: int = 1, scale: int = 4,
                 num_features: int = 64, num_convs: int = 16) -> None:
        super().__init__(in_channels=in_channels, out_channels=out_channels, scale=scale)
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, num_features, 3, 1, 1), nn.PReLU(num_features)
        ]
        for _ in range(num_convs):
            layers += [nn.Conv2d(num_features, num_features, 3, 1, 1), nn.PReLU(num_features)]
        layers.append(nn.Conv2d(num_features, out_channels * scale * scale, 3, 1, 1))
        self.body = nn.Sequential(*layers)

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)
