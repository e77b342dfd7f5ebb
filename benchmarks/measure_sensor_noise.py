"""Measure sensor noise, stripes, blur, vignetting, AGC and JPEG on the real frames in
``../shared/data``: the numbers that justify the ``thermal`` degradation preset's ranges.

Run from the repository root (a few seconds to a minute on one core)::

    python3 benchmarks/measure_sensor_noise.py            # all hit-uav train frames
    python3 benchmarks/measure_sensor_noise.py --limit 200

Units: every level is printed in native units (raw counts for 16-bit files, 8-bit levels for
hit-uav) and in the unit range the models see (``irsrgan.image.to_tensor``: a 16-bit frame is
stretched so that its min..max becomes 0..1; an 8-bit frame is divided by 255).

Estimators (all on single frames, so "noise" is temporal noise plus pixel-level fixed pattern;
the first three are library code, ``irsrgan.estimate``, also used by ``upscale --denoise auto``):

* pixel noise: Immerkaer's estimator ``sigma = sqrt(pi/2) * mean|I * M| / 6`` with
  ``M = [1,-2,1]^T [1,-2,1]``, per 16x16 block (8x8 for frames under 200 px), median over the
  10% of blocks with the least structure (gradient of a 3x3 box-blurred copy). ``M`` has zero
  response to a pattern constant along columns or rows, so stripes do not count here.
* column (row) stripes: the horizontal second difference ``d = x - (left + right) / 2`` of each
  row, its median down each column (robust to scene edges), the robust std of that profile,
  ``sigma_col^2 = var(profile) / 1.5 - (pi/2) sigma_pix^2 / H`` (1.5: white column offsets
  through d; second term: the pixel noise left in a median of H values).
* blur: a fit of the radially averaged power spectrum ``log(P - noise) = c - a log f
  - 4 pi^2 s^2 f^2`` over 0.04..0.45 cycles/px gives the equivalent gaussian PSF sigma ``s`` of
  the whole chain (optics, detector, processing). The script checks the estimator by blurring
  frames with a known gaussian sigma 1.0 and re-measuring (expect ``sqrt(s^2 + 1)``).
* vignetting: the mean of all hit-uav frames, fitted by ``a + b r^2`` (r = 1 at the corners).
* dead/hot pixels: pixels farther than max(8 sigma_pix, 5% of the range) from their 3x3 median
  (an upper bound: small hot objects count too).
* AGC (hit-uav, 8-bit): percentiles used, saturated fraction, distinct levels.
* JPEG quality (hit-uav): the luminance quantisation table matched against the IJG tables.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from irsrgan.estimate import (
    jpeg_quality as _jpeg_quality,
)
from irsrgan.estimate import (
    outlier_fraction,
    pixel_noise,
    robust_std,
    spectral_blur_sigma,
    stripe_sigma,
)
from irsrgan.image import read_image

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

def read_native(path: Path) -> np.ndarray:
    """Gray pixels in their native dtype (irsrgan's reader: OpenCV 5 refuses the thermitage
    TIFFs, which have no photometric tag)."""
    image = read_image(path)
    chans = image.channels()
    if chans.shape[0] >= 3:
        return cv2.cvtColor(np.moveaxis(chans[:3], 0, -1), cv2.COLOR_RGB2GRAY)
    return chans[0]


def jpeg_quality(path: Path) -> int | None:
    return _jpeg_quality(path.read_bytes())


def vignetting(frames_mean: np.ndarray) -> tuple[float, float]:
    """Fit ``a + b r^2`` to a mean frame; r = 1 at the corners. Returns (a, b)."""
    h, w = frames_mean.shape
    yy, xx = np.mgrid[0:h, 0:w]
    r2 = (((yy - (h - 1) / 2) / ((h - 1) / 2)) ** 2 + ((xx - (w - 1) / 2) / ((w - 1) / 2)) ** 2) / 2
    a = np.stack([np.ones(r2.size), r2.ravel()], axis=1)
    coef, *_ = np.linalg.lstsq(a, frames_mean.ravel().astype(np.float64), rcond=None)
    return float(coef[0]), float(coef[1])


def pct(values: list[float], qs=(10, 50, 90)) -> str:
    v = np.array([x for x in values if np.isfinite(x)])
    if v.size == 0:
        return "n/a"
    return " / ".join(f"{np.percentile(v, q):.4g}" for q in qs)


def measure_16bit() -> list[dict]:
    rows = []
    cams = {}
    csv_path = DATA / "flir-radiometric" / "files.csv"
    if csv_path.exists():
        with csv_path.open() as fh:
            for r in csv.DictReader(fh):
                cams[Path(r["raw16"]).name] = r["camera"]
    files = sorted((DATA / "flir-radiometric" / "raw16").glob("*.png"))
    files.append(DATA / "flirpy" / "example_radiometric.tiff")
    thermitage = sorted((DATA / "thermitage-dunr").glob("*.tiff"))
    cams.update({f.name: "Workswell WIRIS" for f in thermitage})
    files += thermitage
    for f in files:
        x = read_native(f)
        rng = float(x.max()) - float(x.min())
        sp = pixel_noise(x)
        rows.append(dict(
            name=f.name[:34], camera=cams.get(f.name, "flirpy (Boson/Lepton)"),
            size=f"{x.shape[1]}x{x.shape[0]}", range=rng, noise=sp,
            col=stripe_sigma(x, sp), row=stripe_sigma(x.T, sp),
            blur=spectral_blur_sigma(x, sp), outl=outlier_fraction(x, sp, rng),
            p1p99=float(np.percentile(x, 99) - np.percentile(x, 1)),
        ))
    return rows


def measure_hituav(limit: int | None) -> tuple[list[dict], dict]:
    files = sorted((DATA / "hit-uav" / "train").glob("*.jpg"))
    if limit:
        files = files[:: max(1, len(files) // limit)][:limit]
    rows, acc, n = [], None, 0
    for f in files:
        x = read_native(f)
        sp = pixel_noise(x)
        rows.append(dict(
            noise=sp, col=stripe_sigma(x, sp), row=stripe_sigma(x.T, sp),
            blur=spectral_blur_sigma(x, sp), outl=outlier_fraction(x, sp, 255.0),
            lo=float(np.percentile(x, 0.1)), hi=float(np.percentile(x, 99.9)),
            sat=float(((x == 0) | (x == 255)).mean()), levels=int(np.unique(x).size),
            night=f.name.startswith("1_"),
        ))
        acc = x.astype(np.float64) if acc is None else acc + x
        n += 1
    extra = {"mean_frame": acc / n, "n": n, "files": files}
    return rows, extra


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=None, help="at most this many hit-uav frames")
    args = ap.parse_args(argv)
    if not DATA.is_dir():
        print(f"no data folder at {DATA}: nothing to measure", file=sys.stderr)
        return 1
    t0 = time.time()

    print("== 16-bit raw frames (flir-radiometric/raw16, flirpy, thermitage-dunr): "
          "native counts ==")
    rows = measure_16bit()
    hdr = (f"{'file':34s} {'camera':16s} {'size':>8s} {'range':>6s} {'noise':>6s} "
           f"{'col':>6s} {'row':>6s} {'n/rng':>7s} {'col/rng':>7s} {'blur px':>7s}")
    print(hdr)
    for r in rows:
        print(f"{r['name']:34s} {r['camera'][:16]:16s} {r['size']:>8s} {r['range']:6.0f} "
              f"{r['noise']:6.2f} {r['col']:6.2f} {r['row']:6.2f} "
              f"{r['noise'] / r['range']:7.4f} {r['col'] / r['range']:7.4f} {r['blur']:7.2f}")
    print("unit range = counts / (max - min) of each frame (to_tensor's stretch); "
          "percentiles 10 / 50 / 90 over frames:")
    print(f"  pixel noise sigma        {pct([r['noise'] / r['range'] for r in rows])}")
    print(f"  column stripe sigma      {pct([r['col'] / r['range'] for r in rows])}")
    print(f"  row stripe sigma         {pct([r['row'] / r['range'] for r in rows])}")
    print(f"  column / pixel noise     {pct([r['col'] / max(r['noise'], 1e-9) for r in rows])}")
    agc_noise = [r['noise'] / max(r['p1p99'], 1) for r in rows]
    agc_col = [r['col'] / max(r['p1p99'], 1) for r in rows]
    print("  after a 1..99% AGC stretch (counts / (p99 - p1)):")
    print(f"    pixel noise sigma      {pct(agc_noise)}   max {max(agc_noise):.4f}")
    print(f"    column stripe sigma    {pct(agc_col)}   max {max(agc_col):.4f}")
    print(f"  blur sigma (px)          {pct([r['blur'] for r in rows])}")
    print(f"  outlier pixel fraction   {pct([r['outl'] for r in rows])}")

    print()
    hit, extra = measure_hituav(args.limit)
    print(f"== hit-uav train, {extra['n']} frames (8-bit, camera AGC, JPEG): unit = level/255 ==")
    for label, sel in (("all", hit), ("day", [r for r in hit if not r["night"]]),
                       ("night", [r for r in hit if r["night"]])):
        if not sel:
            continue
        print(f" {label} ({len(sel)} frames), percentiles 10 / 50 / 90:")
        print(f"  pixel noise sigma        {pct([r['noise'] / 255 for r in sel])}"
              f"   (levels: {pct([r['noise'] for r in sel])})")
        print(f"  column stripe sigma      {pct([r['col'] / 255 for r in sel])}")
        print(f"  row stripe sigma         {pct([r['row'] / 255 for r in sel])}")
        print(f"  blur sigma (px)          {pct([r['blur'] for r in sel])}")
    print(f"  outlier pixel fraction   {pct([r['outl'] for r in hit])}")
    print(f"  AGC 0.1% / 99.9% levels  {pct([r['lo'] for r in hit])}  |  "
          f"{pct([r['hi'] for r in hit])}")
    print(f"  saturated (0 or 255)     {pct([r['sat'] for r in hit])}")
    print(f"  distinct levels used     {pct([r['levels'] for r in hit])}")
    a, b = vignetting(extra["mean_frame"])
    print(f"  mean frame: centre {a:.1f}, centre-to-corner change {b:+.2f} levels "
          f"({b / 255:+.4f} unit)")
    mean_col = np.median(extra["mean_frame"][:, 1:-1] - 0.5 * (extra["mean_frame"][:, :-2]
                                                                + extra["mean_frame"][:, 2:]),
                         axis=0)
    print(f"  persistent column pattern in the mean frame: {robust_std(mean_col) / 1.5**0.5:.3f}"
          " levels (robust std)")
    qs = sorted({jpeg_quality(f) for f in extra["files"][:: max(1, extra['n'] // 20)]} - {None})
    print(f"  JPEG quality (IJG table match, 20 frames): {qs}")

    # estimator check: blur known frames by sigma 1.0 and re-measure
    x = read_native(extra["files"][0]).astype(np.float64)
    s0 = spectral_blur_sigma(x, pixel_noise(x))
    xb = cv2.GaussianBlur(x, (0, 0), 1.0)
    s1 = spectral_blur_sigma(xb, pixel_noise(xb))
    print(f"  blur estimator check: frame {s0:.2f} px, after gaussian 1.0 px {s1:.2f} "
          f"(expected {math.hypot(s0, 1.0):.2f})")
    rng = np.random.default_rng(0)
    n0, c0 = pixel_noise(x), stripe_sigma(x, pixel_noise(x))
    xn = x + rng.normal(0, 2.0, x.shape)
    xs = x + rng.normal(0, 1.0, (1, x.shape[1]))
    print(f"  noise estimator check: frame {n0:.2f} levels, + gaussian 2.0 -> "
          f"{pixel_noise(xn):.2f} (expected {math.hypot(n0, 2.0):.2f}); column stripes: "
          f"frame {c0:.2f}, + stripes 1.0 -> {stripe_sigma(xs, pixel_noise(xs)):.2f} "
          f"(expected {math.hypot(c0, 1.0):.2f})")
    raw = read_native(DATA / "flirpy" / "example_radiometric.tiff").astype(np.float64)
    ra, rb = vignetting(cv2.blur(raw, (31, 31)))
    print(f"flirpy frame vignetting: centre-to-corner {rb:+.1f} counts = "
          f"{rb / (raw.max() - raw.min()):+.3f} of its range")
    print(f"({time.time() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
