"""How much can a window of frames give under the thermal protocol? (docs/RESULTS.md, sec. 11)

For each image of a set, a 5-frame clip is made as training's validation makes it
(`ClipValidationDataset`: seed 0, centre crop 192 px) and the middle frame is upscaled x4 by
the single-frame model from:

* its own LR (what a single-frame upscaler sees);
* the mean of the aligned window (DIS flow: the simplest temporal fusion);
* the mean of a *still* clip of the same camera (every frame the same scene, only the
  temporal noise differs): the most that averaging the noise away can give;

and the multi-frame model from the aligned window. Prints one markdown row per set.

    python scripts/clip_oracle.py --multi runs/video-x4/best.safetensors [--limit 12]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from irsrgan.checkpoint import load_model
from irsrgan.clip_data import ClipValidationDataset
from irsrgan.clips import MotionConfig, make_clip
from irsrgan.data import crop_window, file_generator
from irsrgan.inference import Upscaler
from irsrgan.metrics import score

SETS = {"val": "../shared/data/hit-uav/val",
        "thermitage-dunr": "../shared/data/thermitage-dunr",
        "raw16": "../shared/data/flir-radiometric/raw16"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--single", default="irsrgan-robust-x4")
    ap.add_argument("--multi", required=True)
    ap.add_argument("--limit", type=int, default=12)
    ap.add_argument("--max-size", type=int, default=192)
    args = ap.parse_args()
    single = Upscaler(load_model(args.single), device="cpu", tile=0)
    multi = Upscaler(load_model(args.multi), device="cpu", tile=0)
    print(f"| set | clips | {args.single}: own LR | mean of aligned window | mean of a still "
          "clip (noise averaged) | multi-frame |")
    print("|---|---|---|---|---|---|")
    for name, root in SETS.items():
        ds = ClipValidationDataset(root, scale=4, preset="thermal", seed=0,
                                   max_size=args.max_size, limit=args.limit, frames=5)
        rows = []
        for i in range(len(ds)):
            item, frame = ds[i], ds.frames[i]
            maps = dict(value_map=ds.value_maps[i], scale_map=ds.scale_maps[i])

            def psnr(sr: torch.Tensor, hr=item["hr"][None], maps=maps) -> float:
                return float(score(sr.clamp(0, 1), hr, crop_border=4, **maps)["psnr"].mean())

            still = make_clip(frame.unit(), crop_window(*frame.size, 4, args.max_size),
                              frames=5, scale=4, preset="thermal",
                              gen=file_generator(0, frame.name),
                              motion=MotionConfig(still_prob=1.0))
            rows.append([psnr(single.upscale(item["lr_ref"][None])),
                         psnr(single.upscale(item["lr"].mean(0, keepdim=True)[None])),
                         psnr(single.upscale(still.lr.mean(0)[None])),
                         psnr(multi.upscale(item["lr"][None]))])
        m = np.mean(rows, axis=0)
        print(f"| {name} | {len(rows)} | {m[0]:.2f} | {m[1] - m[0]:+.2f} | {m[2] - m[0]:+.2f} | "
              f"{m[3] - m[0]:+.2f} |", flush=True)


if __name__ == "__main__":
    main()
