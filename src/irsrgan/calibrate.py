"""A degradation preset measured from a camera's own native frames (no ground truth needed).

:func:`calibrate` measures each frame with :mod:`irsrgan.estimate` (pixel noise, column and
row stripes, the blur of the whole imaging chain, dead/hot pixels, stored bit depth, AGC
clipping, JPEG quality) in the unit range the models see (:func:`irsrgan.image.to_tensor`:
8-bit divided by 255, 16-bit and float stretched min..max per frame), and
:meth:`Calibration.preset` turns the spread over frames into a preset in the ``thermal``
preset's form, so that LR made from any HR by it looks like this camera's frames:

* noise and stripes: log-uniform over the 10th..90th percentile over frames, widened by
  1/1.4 .. 1.4 (a range, not a point, so a model trained on it is not brittle). The HR (the
  camera's own frames when adapting) keeps some of its noise through the downsample
  (``sigma / scale``), so the added noise is ``sigma * sqrt(1 - 1 / scale^2)``.
* blur: a gaussian in LR pixels that, with the area downsample's own box (std 0.29 px) and the
  HR's blur shrunk by the scale, gives the measured PSF sigma:
  ``s_add^2 = s^2 - 0.29^2 - (s / scale)^2``.
* non-uniformity: the ``thermal`` preset's own (one frame cannot separate a fixed gain pattern
  from scene texture).
* export: 8-bit frames get 8-bit rounding, or a linear AGC whose clip percentiles are the
  measured clipped shares when the frames are clipped; 16-bit frames the quantisation their
  stored levels show within a frame's range. JPEG files get a JPEG step at their quality.

The preset keeps what was measured under ``measured:`` (ignored by the pipeline, recorded in
every checkpoint trained with it). :meth:`Calibration.report` prints the measurements beside
the built-in ``thermal`` preset's ranges.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from . import estimate
from .errors import ConfigError, ImageError
from .image import collect_images, decode_image, to_tensor

#: std of the area (box) downsample's kernel in LR pixels (a box of width 1: 1/sqrt(12))
_AREA_SIGMA = 1.0 / math.sqrt(12.0)
#: how far each preset range extends past the measured 10th..90th percentiles
WIDEN = 1.4


@dataclass(frozen=True)
class FrameMeasurement:
    """One native frame, in the unit range the models see (blur in the frame's pixels)."""

    name: str
    width: int
    height: int
    dtype: str
    #: integer data: the step between stored levels and the bits they span (float: 0, 32)
    level_step: float
    bits: int
    #: the frame's stored levels within its own min..max, in bits (log2 of the level count)
    range_bits: float
    pixel_noise: float
    column_stripe: float
    row_stripe: float
    blur_sigma: float
    outliers: float
    #: share of pixels at the dtype's lowest / highest value (AGC clipping; 0 for 16-bit raw)
    clipped_low: float
    clipped_high: float
    jpeg_quality: int | None


def measure_frame(data: bytes, name: str) -> FrameMeasurement:
    """Measure one encoded frame (PNG, TIFF, JPEG, BMP; colour is measured on its luma)."""
    image = decode_image(data, name)
    unit = to_tensor(image)[0][0].numpy()  # (C, H, W)
    gray = unit.mean(axis=0)
    chans = image.channels()
    native = chans[0] if chans.shape[0] == 1 else None
    step, bits = estimate.quantisation(native if native is not None else image.pixels)
    span = float(chans.max()) - float(chans.min()) if chans.size else 0.0
    range_bits = math.log2(span / step + 1) if step > 0 and span > 0 else 32.0
    sp = estimate.pixel_noise(gray)
    sp = 0.0 if not math.isfinite(sp) else sp
    col = estimate.stripe_sigma(gray, sp)
    row = estimate.stripe_sigma(gray.T, sp)
    blur = estimate.spectral_blur_sigma(gray, sp)
    low = high = 0.0
    if image.dtype.kind in "ui":
        info = np.iinfo(image.dtype)
        low = float((chans == info.min).mean())
        high = float((chans == info.max).mean())
    return FrameMeasurement(
        name=name, width=image.width, height=image.height, dtype=str(image.dtype),
        level_step=step, bits=bits, range_bits=range_bits, pixel_noise=sp,
        column_stripe=0.0 if not math.isfinite(col) else col,
        row_stripe=0.0 if not math.isfinite(row) else row, blur_sigma=blur,
        outliers=estimate.outlier_fraction(gray, sp, 1.0), clipped_low=low, clipped_high=high,
        jpeg_quality=estimate.jpeg_quality(data),
    )


def _finite(values: Iterable[float]) -> np.ndarray:
    v = np.array([float(x) for x in values], dtype=np.float64)
    return v[np.isfinite(v)]


def _percentiles(values: Iterable[float]) -> tuple[float, float, float] | None:
    v = _finite(values)
    if v.size == 0:
        return None
    p10, p50, p90 = np.percentile(v, [10, 50, 90])
    return float(p10), float(p50), float(p90)


def _round(x: float, digits: int = 3) -> float:
    """``x`` to ``digits`` significant digits (readable YAML)."""
    if x == 0 or not math.isfinite(x):
        return float(x)
    return float(f"{x:.{digits}g}")


def _log_range(p: tuple[float, float, float], floor: float) -> dict[str, list[float]]:
    lo = max(p[0] / WIDEN, floor)
    hi = max(p[2] * WIDEN, lo * 1.5)
    return {"log_uniform": [_round(lo), _round(hi)]}


@dataclass
class Calibration:
    """Measurements of a camera's frames and the degradation preset they imply."""

    frames: list[FrameMeasurement]
    skipped: list[tuple[str, str]]

    def summary(self) -> dict[str, Any]:
        """Percentiles 10 / 50 / 90 over frames of each measured quantity, the bit depth, the
        JPEG qualities seen."""
        out: dict[str, Any] = {"frames": len(self.frames)}
        for key in ("pixel_noise", "column_stripe", "row_stripe", "blur_sigma", "outliers",
                    "clipped_low", "clipped_high", "range_bits"):
            p = _percentiles(getattr(f, key) for f in self.frames)
            out[key] = None if p is None else [_round(v) for v in p]
        out["bits"] = max(f.bits for f in self.frames)
        out["level_step"] = min(f.level_step for f in self.frames)
        out["dtypes"] = sorted({f.dtype for f in self.frames})
        qualities = sorted({f.jpeg_quality for f in self.frames if f.jpeg_quality is not None})
        out["jpeg_qualities"] = qualities
        out["jpeg_share"] = _round(sum(f.jpeg_quality is not None for f in self.frames)
                                   / len(self.frames))
        return out

    def preset(self, name: str = "camera", scale: int = 4) -> dict[str, Any]:
        """A preset mapping (``steps`` in the ``thermal`` form plus ``measured``) for ``scale``."""
        if scale < 1:
            raise ConfigError(f"scale must be >= 1, got {scale}")
        s = self.summary()
        steps: list[dict[str, Any]] = []
        blur = s["blur_sigma"]
        if blur is not None:
            shrink = 1.0 - 1.0 / scale**2

            def added(sig: float) -> float:
                return math.sqrt(max(sig * sig * shrink - _AREA_SIGMA**2, 0.0))

            lo, hi = added(blur[0] / WIDEN ** 0.5), added(blur[2] * WIDEN ** 0.5)
            if hi > 0.05:
                steps.append({"op": "blur", "prob": 1.0, "units": "lr",
                              "kinds": {"iso": 0.7, "aniso": 0.3},
                              "sigma": [_round(max(lo, 0.05)), _round(max(hi, 0.1))]})
        else:  # too few frames with a measurable spectrum: the thermal preset's optics
            steps.append({"op": "blur", "prob": 0.9, "units": "lr",
                          "kinds": {"iso": 0.7, "aniso": 0.3}, "sigma": [0.15, 0.9]})
        steps.append({"op": "resize", "to": "target", "modes": {"area": 0.6, "bicubic_aa": 0.4}})
        steps.append({"op": "nonuniformity", "prob": 0.3, "gain_sigma": [0.0, 0.03]})
        keep_noise = math.sqrt(1.0 - 1.0 / scale**2)
        col, row, noise = s["column_stripe"], s["row_stripe"], s["pixel_noise"]
        stripe: dict[str, Any] = {"op": "stripe", "prob": 1.0}
        stripe["column_sigma"] = _log_range(col, 1e-5)
        stripe["row_sigma"] = _log_range(row, 1e-5)
        steps.append(stripe)
        steps.append({"op": "noise", "prob": 1.0, "kinds": {"gaussian": 1},
                      "sigma": _log_range(tuple(v * keep_noise for v in noise), 1e-5)})
        outl = s["outliers"]
        if outl is not None and outl[1] > 1e-4:
            steps.append({"op": "dead_hot", "prob": 0.3,
                          "fraction": _log_range((outl[0], outl[1], outl[1]), 1e-5)})
        if s["dtypes"] == ["uint8"]:
            clip_lo, clip_hi = s["clipped_low"][2], s["clipped_high"][2]
            if max(clip_lo, clip_hi) > 1e-3:
                steps.append({"op": "agc", "restore": True,
                              "low_percentile": [0.0, _round(100 * clip_lo * WIDEN)],
                              "high_percentile": [_round(100 - 100 * clip_hi * WIDEN), 100.0]})
            else:
                steps.append({"op": "quantize", "bits": 8})
        elif s["range_bits"] is not None and s["range_bits"][1] < 16:
            # integer counts: the levels a typical frame spans within its own min..max
            steps.append({"op": "quantize", "bits": max(1, round(s["range_bits"][1]))})
        if s["jpeg_qualities"]:
            q = s["jpeg_qualities"]
            steps.append({"op": "jpeg", "prob": _round(s["jpeg_share"]),
                          "quality": [max(10, q[0] - 5), min(100, q[-1] + 3)]})
        measured = {k: v for k, v in s.items()}
        measured["scale"] = scale
        return {"name": name,
                "description": f"measured from {len(self.frames)} frames by irsrgan calibrate",
                "measured": measured, "steps": steps}

    def report(self, scale: int = 4) -> str:
        """Markdown: each measured quantity (percentiles over frames) beside the ranges of
        the calibrated preset and of the built-in ``thermal`` preset."""
        s = self.summary()
        own = {st["op"]: st for st in self.preset(scale=scale)["steps"]}
        from .degradations import get_preset

        builtin = {st["op"]: st for st in get_preset("thermal").config.get("steps", [])}

        def rng(steps: dict, op: str, key: str) -> str:
            return _describe(steps[op].get(key)) if op in steps else "-"

        def pct(key: str) -> str:
            p = s[key]
            return "n/a" if p is None else " / ".join(f"{v:.3g}" for v in p)

        rows = [
            ("pixel noise sigma (unit range)", pct("pixel_noise"), rng(own, "noise", "sigma"),
             rng(builtin, "noise", "sigma")),
            ("column stripe sigma", pct("column_stripe"), rng(own, "stripe", "column_sigma"),
             rng(builtin, "stripe", "column_sigma")),
            ("row stripe sigma", pct("row_stripe"), rng(own, "stripe", "row_sigma"),
             rng(builtin, "stripe", "row_sigma")),
            ("PSF sigma (frame px; preset: added blur, LR px)", pct("blur_sigma"),
             rng(own, "blur", "sigma"), rng(builtin, "blur", "sigma")),
            ("dead/hot pixel share (upper bound)", pct("outliers"),
             rng(own, "dead_hot", "fraction"), rng(builtin, "dead_hot", "fraction")),
            ("clipped at 0 / at max", f"{pct('clipped_low')}; {pct('clipped_high')}",
             "agc" if "agc" in own else "-", "agc (p 0.2)"),
            ("stored bit depth", f"{s['bits']} bits ({', '.join(s['dtypes'])}, level step "
             f"{s['level_step']:g})", rng(own, "quantize", "bits"), "14 then 8 (p 0.6)"),
            ("JPEG quality", ", ".join(map(str, s["jpeg_qualities"])) or "not JPEG",
             rng(own, "jpeg", "quality"), rng(builtin, "jpeg", "quality")),
        ]
        lines = [f"Calibration from {s['frames']} frames (x{scale}); measured values are the "
                 "10th / 50th / 90th percentiles over frames.", "",
                 "| quantity | measured | calibrated preset | built-in thermal |",
                 "|---|---|---|---|"]
        lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
        if self.skipped:
            lines += ["", f"Skipped {len(self.skipped)} file(s):"]
            lines += [f"- {n}: {why}" for n, why in self.skipped]
        return "\n".join(lines) + "\n"


def _describe(spec: Any) -> str:
    if spec is None:
        return "-"
    if isinstance(spec, dict) and "log_uniform" in spec:
        lo, hi = spec["log_uniform"]
        return f"log-uniform {lo:g}..{hi:g}"
    if isinstance(spec, dict) and "mixture" in spec:
        return "mixture: " + ", ".join(f"{w:g} x {_describe(d)}" for w, d in spec["mixture"])
    if isinstance(spec, (list, tuple)) and len(spec) == 2:
        return f"{spec[0]:g}..{spec[1]:g}"
    return str(spec)


def calibrate(inputs: Sequence[str | os.PathLike]) -> Calibration:
    """Measure every image under ``inputs`` (files or folders). Unreadable files are skipped
    and listed; no readable frame at all is an :class:`~irsrgan.errors.ImageError`."""
    try:
        paths = collect_images(inputs)
    except ImageError as exc:
        raise ImageError(f"no readable image: {exc}") from None
    frames, skipped = [], []
    for path in paths:
        try:
            frames.append(measure_frame(path.read_bytes(), str(path)))
        except (ImageError, OSError) as exc:
            skipped.append((str(path), str(exc)))
    if not frames:
        where = ", ".join(map(str, inputs))
        raise ImageError(f"no readable image in {where}"
                         + (f" ({len(skipped)} skipped)" if skipped else ""))
    return Calibration(frames=frames, skipped=skipped)


def measurements_table(cal: Calibration) -> list[dict[str, Any]]:
    """One row per frame (for a CSV next to the preset)."""
    return [asdict(f) for f in cal.frames]


__all__ = ["Calibration", "FrameMeasurement", "calibrate", "measure_frame",
           "measurements_table"]
