"""Browser-playable previews of an upscaled clip: 8-bit H.264 MP4s of the result and of bicubic.

Browsers play neither 16-bit video nor FFV1, so the web page shows previews and keeps the
download exact. Both previews are written as the frames are upscaled (no second decode):

* ``after``: the upscaled frames; ``before``: bicubic upscaling of the source frames to the
  same size, so that the page can lay one over the other.
* Values: 8-bit frames as stored; 16-bit and float frames stretched linearly between the 0.5 and
  99.5 percentiles of the clip's **first** frame (as the still previews, but one window for the
  whole clip, so the display does not flicker), the same window for both previews.
* Video: H.264 ``yuv420p`` (gray in the luma plane, neutral chroma), CRF 18, constant frame
  rate (the source's, else 25/s), ``+faststart`` so that playback starts before the file has
  fully arrived. Odd sizes are padded by one edge pixel (``yuv420p`` needs even sizes).
"""

from __future__ import annotations

import contextlib
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from ..display import display_window, to_display
from ..image import Image
from .writers import DEFAULT_RATE, _video_frame

PREVIEW_CRF = 18


def bicubic(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bicubic resize of native values to ``width x height`` (float32, not clamped)."""
    x = torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32))
    x = x[None, None] if x.ndim == 2 else x.permute(2, 0, 1)[None]
    x = torch.nan_to_num(x)
    y = F.interpolate(x, size=(height, width), mode="bicubic", align_corners=False)[0]
    return (y[0] if pixels.ndim == 2 else y.permute(1, 2, 0)).numpy()


class _Mp4:
    def __init__(self, path: Path, rate: Fraction) -> None:
        import av

        self.path = path
        self.rate = rate
        self.container = av.open(str(path), "w", format="mp4",
                                 options={"movflags": "+faststart"})
        self.stream = None
        self.count = 0

    def write(self, px: np.ndarray) -> None:
        h, w = px.shape[:2]
        pad = ((0, h % 2), (0, w % 2)) + (((0, 0),) if px.ndim == 3 else ())
        if h % 2 or w % 2:
            px = np.pad(px, pad, mode="edge")
        if self.stream is None:
            self.stream = self.container.add_stream("libx264", rate=self.rate)
            self.stream.height, self.stream.width = px.shape[:2]
            self.stream.pix_fmt = "yuv420p"
            self.stream.codec_context.options = {"crf": str(PREVIEW_CRF), "bf": "0"}
        image = Image(px, format="png", layout="gray" if px.ndim == 2 else "rgb")
        frame = _video_frame("h264", image)
        frame.pts = self.count
        frame.time_base = 1 / self.rate
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        self.count += 1

    def close(self) -> None:
        if self.stream is not None:
            for packet in self.stream.encode():
                self.container.mux(packet)
        self.container.close()


class ClipPreview:
    """The ``before`` (bicubic) and ``after`` (result) preview MP4s of one clip.

    Call :meth:`add` with each source frame and its upscaled image, then :meth:`close`; on an
    error, :meth:`abort` closes the files (the caller removes them).
    """

    def __init__(self, before: Path, after: Path, rate: Fraction | None) -> None:
        self.paths = {"before": Path(before), "after": Path(after)}
        self.rate = Fraction(rate) if rate else DEFAULT_RATE
        self.window: tuple[float, float] | None = None
        self._files: dict[str, _Mp4] = {}

    def add(self, source: Image, result: Image) -> None:
        src, out = source.pixels, result.pixels
        if not self._files:
            self.window = display_window(src)
            self._files = {k: _Mp4(p, self.rate) for k, p in self.paths.items()}
        if out.ndim == 3 and out.shape[2] == 2:  # gray + alpha: the gray
            src, out = src[..., 0], out[..., 0]
        before = bicubic(src, result.width, result.height)
        self._files["before"].write(to_display(before, self.window))
        self._files["after"].write(to_display(out, self.window))

    @property
    def frames(self) -> int:
        return self._files["after"].count if self._files else 0

    def close(self) -> None:
        for f in self._files.values():
            f.close()

    def abort(self) -> None:
        for f in self._files.values():
            with contextlib.suppress(Exception):
                f.container.close()
