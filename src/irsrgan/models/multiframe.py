"""A multi-frame generator for sequences: a window of aligned LR frames in, one HR frame out.

The compact net's body (3x3 convs with PReLU at LR resolution, a pixel shuffle) reads the
``frames`` frames of a sliding window, each already aligned onto the window's middle frame
(:func:`irsrgan.align.align_window`), as input channels; the nearest-upsampled middle frame is
added back. Its cost on a CPU is the single-frame compact net's plus a wider first conv.

Where neighbours add nothing (a still camera, a single image: every channel the same frame)
it reduces to a single-frame model: :meth:`MultiFrameNet.from_single` spreads a compact
net's first conv evenly over the frames, so on identical frames it starts *equal* to that net.
On moving clips its body then reads the window's aligned mean while the skip stays the middle
frame (not the same as that net on the mean; docs/RESULTS.md, section 11).

The window is centred: the output for frame ``t`` reads frames ``t - frames // 2`` to
``t + frames // 2`` (it is not causal; a live stream lags by ``frames // 2`` frames).
"""

from __future__ import annotations

from typing import Any

import torch

from ..errors import ConfigError, ModelInputError
from .base import Generator
from .blocks import check_shuffle_scale, nearest_skip
from .compact import CompactNet


class MultiFrameNet(Generator):
    """Compact body over a window of ``frames`` aligned single-channel frames.

    Args: frames (odd, >= 1), scale (1, 2, 3, 4, 8), num_features (64), num_convs (16);
    ``in_channels`` is the channels *per frame* and must be 1 (thermal frames are single
    channel); the tensor the model takes has ``frames`` channels (``self.in_channels``).
    """

    arch = "multiframe"
    #: channels-last PyTorch, as the compact net it is built on
    cpu_backend = "torch"

    def __init__(self, *, frames: int = 5, in_channels: int = 1, out_channels: int = 1,
                 scale: int = 4, num_features: int = 64, num_convs: int = 16,
                 align: str = "dis") -> None:
        check_shuffle_scale(scale)
        if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1 \
                or frames % 2 == 0:
            raise ConfigError(f"multiframe: frames must be an odd integer >= 1, got {frames!r}")
        if in_channels != 1 or out_channels != 1:
            raise ConfigError("multiframe: single-channel frames only (in_channels = "
                              f"out_channels = 1), got {in_channels}, {out_channels}")
        from ..align import ALIGN_METHODS
        if align not in ALIGN_METHODS:
            raise ConfigError(f"multiframe: align must be one of {', '.join(ALIGN_METHODS)}, "
                              f"got {align!r}")
        super().__init__(scale=scale, in_channels=frames, out_channels=out_channels)
        self.frames, self.ref, self.align = frames, frames // 2, align
        self.net = CompactNet(in_channels=frames, out_channels=out_channels, scale=scale,
                              num_features=num_features, num_convs=num_convs)

    @classmethod
    def from_single(cls, single: CompactNet, *, frames: int = 5,
                    align: str = "dis") -> MultiFrameNet:
        """A multi-frame net that equals ``single`` on a window of identical frames."""
        c = single.config
        if c["in_channels"] != 1 or c["out_channels"] != 1:
            raise ConfigError("from_single needs a single-channel compact net")
        net = cls(frames=frames, scale=c["scale"], num_features=c["num_features"],
                  num_convs=c["num_convs"], align=align)
        state = {k: v.clone() for k, v in single.state_dict().items()}
        first = "body.0.weight"
        state[first] = (state[first] / frames).repeat(1, frames, 1, 1)
        net.net.load_state_dict(state)
        return net

    def check_input(self, x: Any) -> None:
        """The contract's check, in the words of a window of frames."""
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != self.frames:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ModelInputError(f"multiframe x{self.scale} takes (B, {self.frames}, h, w) "
                                  f"aligned frames, got {got}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        body = self.net.upsampler(self.net.body(x))
        return body + nearest_skip(x[:, self.ref:self.ref + 1], self.scale, self.out_channels)
