"""Make a short synthetic clip from a still: a static scene or a slow pan over it.

    python scripts/make_clip.py IMAGE OUT.mkv [--frames 8] [--size 192] [--pan 0]

The frames are ``--size`` x ``--size`` crops of the image's gray values, centred (``--pan P``
moves the window P pixels right per frame), written losslessly (FFV1, 25 frames/s). Used to
measure flicker with ``irsrgan evaluate --data OUT.mkv`` (docs/RESULTS.md, section 8).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import av
import numpy as np

from irsrgan.image import gray_unit, read_image


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("image", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--size", type=int, default=192)
    p.add_argument("--pan", type=int, default=0, help="pixels per frame to the right")
    args = p.parse_args()
    gray = np.round(gray_unit(read_image(args.image)) * 255).astype(np.uint8)
    h, w = gray.shape
    span = args.pan * (args.frames - 1)
    y0, x0 = (h - args.size) // 2, (w - args.size - span) // 2
    if min(y0, x0) < 0:
        raise SystemExit(f"{args.image} ({w}x{h}) is too small for these frames")
    with av.open(str(args.out), "w") as out:
        stream = out.add_stream("ffv1", rate=25)
        stream.width = stream.height = args.size
        stream.pix_fmt = "gray"
        for t in range(args.frames):
            x = x0 + t * args.pan
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(gray[y0:y0 + args.size, x:x + args.size]), format="gray")
            frame.pts = t
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    print(f"wrote {args.out}: {args.frames} frames of {args.size}x{args.size}, pan {args.pan} "
          "px/frame")


if __name__ == "__main__":
    main()
