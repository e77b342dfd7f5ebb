"""Video upscaling speed on CPU: frames per second for a 640x512 clip upscaled x4 with each
shipped x4 model, and how much decoding and encoding add.

For each model, in the same process and run: the model alone (``Upscaler.upscale_frames`` on
frames already in memory), decoding alone, encoding alone (the upscaled frames, H.264 and
FFV1), and the whole pipeline (``irsrgan.sequences.upscale_sequence``: decode and encode
threads overlapped with the model). Overhead = 1 - model / pipeline, in CPU time of the
process (all threads; robust to other load on a shared machine) and in wall time: the share
of the pipeline that the model does not explain (target: under 10 %).

    python benchmarks/video_speed.py [--frames 4] [--threads N] [--model M ...]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch

from irsrgan.checkpoint import bundled_models, load_model
from irsrgan.image import Image
from irsrgan.inference import Upscaler
from irsrgan.sample import thermal_sample
from irsrgan.sequences import open_sequence, upscale_sequence
from irsrgan.sequences.frames import Frame
from irsrgan.sequences.writers import VideoOutput

#: the single-frame default (irsrgan-faithful-x4, `--frame-by-frame`), the GAN and PSNR models,
#: and the multi-frame model `irsrgan upscale` runs on sequences (its f/s include the optical
#: flow: 4 DIS flows and warps per frame)
MODELS = ("irsrgan-video-x4", "irsrgan-faithful-x4", "irsrgan-x4", "irsrgan-psnr-x4")


def make_clip(path: Path, frames: int, width: int, height: int) -> None:
    base = thermal_sample().astype(np.float64)
    base = np.round(255 * (base - base.min()) / (base.max() - base.min())).astype(np.uint8)
    reps = (-(-height // base.shape[0]), -(-width // base.shape[1]))
    base = np.tile(base, reps)[:height, :width]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "gray"
        for t in range(frames):
            px = np.ascontiguousarray(np.roll(base, 2 * t, axis=1))
            vf = av.VideoFrame.from_ndarray(px, format="gray")
            vf.pts = t
            for packet in stream.encode(vf):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


class Clock:
    """Wall and process CPU time of a block."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=512)
    ap.add_argument("--model", action="append", metavar="M",
                    help="model names or files to time (default: the bundled ones of MODELS)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="video-speed-"))
    clip = work / "clip.mkv"
    make_clip(clip, args.frames, args.width, args.height)
    with open_sequence(clip) as reader:
        frames = [f.image for f in reader.frames()]

    def decode() -> None:
        with open_sequence(clip) as reader:
            for _ in reader.frames():
                pass

    t_decode = min(timed(decode) for _ in range(2)) / args.frames
    n = args.frames
    print(f"CPU threads: {args.threads}; {n} frames {args.width}x{args.height} x4; "
          f"decode (FFV1) {1000 * t_decode:.0f} ms/frame")
    print(f"{'model':<16} {'backend':<11} {'model f/s':>9} {'encode ms/f':>14} "
          f"{'pipeline f/s':>14} {'overhead CPU':>14} {'overhead wall':>14}")
    print(f"{'':<16} {'':<11} {'':>9}" + f" {'H.264 / FFV1':>14}" * 4)
    for name in args.model or [m for m in MODELS if m in bundled_models()]:
        upscaler = Upscaler(load_model(name), device="cpu")
        next(upscaler.upscale_frames(frames[:1]))  # warm-up (ONNX export, allocations)
        with Clock() as model:
            outs: list[Image] = list(upscaler.upscale_frames(frames, temporal=0.5))
        enc, pipe = [], []
        for codec, suffix in (("h264", ".mp4"), ("ffv1", ".mkv")):
            tag = Path(name).stem
            out = VideoOutput(work / f"enc-{tag}{suffix}", {"bench": name}, codec=codec,
                              time_base=None, rate=None, first_pts=0, overwrite=True)
            with Clock() as clock:
                for i, image in enumerate(outs):
                    out.write(i, Frame(i, image, i), image)
                out.finish()
            enc.append(clock.wall / n)
            with Clock() as clock:
                upscale_sequence(clip, work / f"pipe-{tag}{suffix}", upscaler,
                                 overwrite=True, progress=False, temporal=0.5)
            pipe.append(clock)
        print(f"{Path(name).stem:<16} {upscaler.backend:<11} {n / model.wall:>9.3f} "
              f"{1000 * enc[0]:>6.0f} / {1000 * enc[1]:<5.0f} "
              f"{n / pipe[0].wall:>6.3f} / {n / pipe[1].wall:<5.3f} "
              f"{1 - model.cpu / pipe[0].cpu:>6.1%} / {1 - model.cpu / pipe[1].cpu:<5.1%} "
              f"{1 - model.wall / pipe[0].wall:>6.1%} / {1 - model.wall / pipe[1].wall:<5.1%}",
              flush=True)

if __name__ == "__main__":
    main()
