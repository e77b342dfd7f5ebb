"""Inference-side alternatives to the shipped pair at ``--denoise auto``, scored on the
validation sets without training anything: is the robust end's loss on ground-level frames
under a sensor model it was not trained on (docs/RESULTS.md 9, "A sensor model not trained
on") something the way the pair is *used* could fix?

For every frame (the LR made as ``irsrgan evaluate`` makes it: centre crop of at most 256 px,
the protocol's preset, seed 0, so the ``auto`` column equals the shipped tables'), the gain in
PSNR over bicubic of:

- ``auto``: the shipped default (the pair at ``auto``, levels anchored);
- ``oracle``: the better of the two ends for each frame (what a perfect strength choice
  between the ends could reach);
- ``unanchored``: ``auto`` without level anchoring;
- ``detail s=S t=T``: the anchoring with a finer gaussian (``S`` LR px, against the shipped
  1.0) and threshold ``T`` (x the noise left after it), which puts back finer residual detail
  (brickwork, grooves) the robust end removed;
- ``blend t=T``: the anchored output blended towards the faithful end's where the robust
  end's local residual (rms of ``lr - D(sr)`` over a gaussian of 1 LR px) passes ``T`` x the
  LR's noise, fully where it passes twice that: the faithful end kept where the robust end
  seems to have removed more than noise;
- ``ramp LO..HI``: ``auto`` with another ramp from the detector's probability to the strength
  (:func:`irsrgan.strength.auto_strength`; the shipped one is 0.25..0.75), levels anchored;
- ``nlm k=K + faithful``: a classical denoiser (non-local means, scikit-image, at ``K`` x the
  LR's measured noise) on the LR, then the faithful end: a prior that knows nothing of aerial
  frames.

    [DETAIL="0.7,4 0.5,4"] [RAMPS="0.2,0.6 0.1,0.4"] python scripts/pair_alternatives.py
        [--sets val thermitage-dunr raw16]
        [--protocols configs/degradations/heldout-sensor.yaml thermal] [--nlm]
"""

from __future__ import annotations

import argparse
import os
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import torch

from irsrgan import metrics
from irsrgan.checkpoint import DEFAULT_MODEL, load_model
from irsrgan.consistency import anchor_levels, block_mean, lr_noise
from irsrgan.degradations.presets import get_preset
from irsrgan.denoise import DenoiseUpscaler, robust_partner
from irsrgan.detector import degraded_probability
from irsrgan.evaluate.items import load_item
from irsrgan.strength import anchors, auto_strength, quantise

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SETS = {"val": DATA / "hit-uav" / "val", "thermitage-dunr": DATA / "thermitage-dunr",
        "raw16": DATA / "flir-radiometric" / "raw16"}
SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff")
#: the finer anchorings tried: (gaussian in LR px, threshold); ``DETAIL="S,T S,T"`` for others
DETAIL = tuple(tuple(map(float, pair.split(",")))
               for pair in os.environ.get("DETAIL", "0.7,4 0.5,4").split())
#: other ramps of ``auto`` tried: (lo, hi) probabilities; ``RAMPS="LO,HI LO,HI"`` for others
RAMPS = tuple(tuple(map(float, pair.split(",")))
              for pair in os.environ.get("RAMPS", "0.2,0.6 0.1,0.4").split())
NLM = (1.0, 1.5)
BLEND = (3.0, 5.0)


def psnr(x: np.ndarray, hr: np.ndarray, border: int) -> float:
    """metrics.psnr of ``x`` clipped to the unit range, as the tables score it."""
    t = torch.from_numpy(np.clip(x, 0, 1))[None, None]
    return float(metrics.psnr(t, torch.from_numpy(hr)[None, None], crop_border=border))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    ap.add_argument("--protocols", nargs="+",
                    default=["configs/degradations/heldout-sensor.yaml", "thermal"])
    ap.add_argument("--nlm", action="store_true", help="also the NLM + faithful columns (slow)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    scale = 4
    faithful = load_model(DEFAULT_MODEL)
    robust = load_model(robust_partner(DEFAULT_MODEL))
    pair = DenoiseUpscaler(faithful, robust, "auto", anchor=False, backend="torch", tile=0)
    ends = {s: DenoiseUpscaler(faithful, robust, s, anchor=False, backend="torch", tile=0)
            for s in (0.0, 1.0)}
    fixed = DenoiseUpscaler(faithful, robust, 0.0, backend="torch", tile=0)  # anchored

    def up(upscaler: DenoiseUpscaler, lr: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = upscaler.upscale(torch.from_numpy(lr).float()[None, None])
        return out.clamp(0, 1)[0, 0].double().numpy()

    print(f"{DEFAULT_MODEL} + {robust_partner(DEFAULT_MODEL)}, x{scale}: mean gain over "
          "bicubic in dB (share of frames better than bicubic)")
    for protocol in args.protocols:
        preset = get_preset(protocol)
        for name in args.sets:
            root = SETS[name]
            files = sorted(p for p in root.iterdir() if p.suffix.lower() in SUFFIXES)
            gains = defaultdict(list)
            for i, path in enumerate(files):
                item = load_item(i, path, root, scale=scale, preset=preset, seed=0,
                                 max_size=256)
                hr = item.hr[0, 0].double().numpy()
                lr = item.lr[0, 0].double().numpy()
                h, w = lr.shape
                base = psnr(cv2.resize(lr, (w * scale, h * scale),
                                       interpolation=cv2.INTER_CUBIC), hr, scale)
                noise = lr_noise(lr)
                sr = up(pair, lr)
                anchor = anchors(pair.last_strength)
                outs = {"auto": anchor_levels(sr, lr, scale, noise) if anchor else sr}
                outs["unanchored"] = sr
                for s, t in DETAIL:
                    outs[f"detail s={s} t={t}"] = (anchor_levels(sr, lr, scale, noise, sigma=s,
                                                                 threshold=t) if anchor else sr)
                if anchor:
                    faithful_sr = up(ends[0.0], lr)
                    r = lr - block_mean(sr, scale)
                    rms = np.sqrt(cv2.GaussianBlur(r * r, (0, 0), 1.0))
                    for t in BLEND:
                        m = np.clip((rms - t * noise) / (t * noise + 1e-12), 0, 1)
                        m = cv2.resize(m, (w * scale, h * scale), interpolation=cv2.INTER_LINEAR)
                        outs[f"blend t={t}"] = outs["auto"] * (1 - m) + faithful_sr * m
                else:
                    for t in BLEND:
                        outs[f"blend t={t}"] = outs["auto"]
                p = degraded_probability(lr, scale=scale)
                for lo, hi in RAMPS:
                    s = quantise(auto_strength(p, (lo, hi)))
                    with torch.inference_mode():
                        x = fixed.upscale(torch.from_numpy(lr).float()[None, None], strength=s)
                    outs[f"ramp {lo}..{hi}"] = x.clamp(0, 1)[0, 0].double().numpy()
                if args.nlm:
                    from skimage.restoration import denoise_nl_means

                    for k in NLM:
                        clean = (denoise_nl_means(lr, patch_size=5, patch_distance=6,
                                                  h=0.8 * k * noise, sigma=noise,
                                                  fast_mode=True) if noise > 0 else lr)
                        outs[f"nlm k={k} + faithful"] = up(ends[0.0], clean)
                for label, x in outs.items():
                    gains[label].append(psnr(x, hr, scale) - base)
                gains["oracle"].append(max(psnr(up(e, lr), hr, scale) - base
                                           for e in ends.values()))
            print(f"\n{Path(protocol).stem} / {name} ({len(files)} frames)")
            for label, values in gains.items():
                v = np.asarray(values)
                print(f"  {label:<24} {v.mean():+6.2f} dB ({np.mean(v > 0):4.0%})", flush=True)


if __name__ == "__main__":
    main()
