"""``irsrgan upscale INPUT [INPUT ...] -o OUTPUT``: files or folders through the Upscaler.

PyTorch is imported only once a PyTorch model is about to run: ``--model FILE.onnx`` (from
``irsrgan export``) upscales through :class:`~irsrgan.onnx_upscaler.OnnxUpscaler` without it.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..batch import (
    BatchResult,
    FileJob,
    default_max_pixels,
    make_output_folder,
    output_folder,
    plan_jobs,
    run_batch,
)
from ..bundled import DEFAULT_MODEL, DEFAULT_VIDEO_MODEL, bundled_models
from ..consistency import consistent_rows
from ..errors import ConfigError
from ..image import Image, write_image
from ..radiometry import UNIT_SYMBOLS, UNITS, check_overrides, image_in_units
from ..runtimes import ENGINES
from ..streaming import ImageRows, check_band
from . import sequence_args

if TYPE_CHECKING:
    from .. import scaleout
    from ..denoise import DenoiseUpscaler
    from ..inference import Upscaler


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "upscale", help="upscale images or folders",
        description="Upscale thermal images. Outputs keep the input's name, format, bit depth "
        "and channel layout; folders are mirrored under OUTPUT.",
    )
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="image files or folders")
    p.add_argument("-o", "--output", required=True, help="output folder (or file, for one input)")
    p.add_argument("--model", default=None,
                   help=f"bundled model name or weights file (default: {DEFAULT_MODEL}; for "
                   f"sequences the multi-frame {DEFAULT_VIDEO_MODEL} when it is bundled, "
                   "unless --frame-by-frame; a multi-frame model file reads each frame with "
                   "its neighbours); see `irsrgan models`")
    p.add_argument("--model-b", help="second model for network interpolation (with --alpha)")
    p.add_argument("--alpha", type=float, default=None,
                   help="interpolate weights: 0 = --model, 1 = --model-b")
    p.add_argument("--denoise", metavar="auto|0..1", default=None,
                   help="denoise strength between the model (0, faithful) and its robust "
                   "partner (1): network interpolation. auto (the default for 8-bit inputs "
                   "when the model has a partner) judges per image whether the LR is a clean "
                   "resample or a sensor's frame (noise, stripes, blur, JPEG); "
                   "16-bit and float inputs default to 0, the faithful model")
    p.add_argument("--robust", metavar="MODEL",
                   help="the strength-1 end of --denoise (default: the partner the model's "
                   "file names, e.g. irsrgan-psnr-x4 for irsrgan-faithful-x4)")
    p.add_argument("--anchor", action=argparse.BooleanOptionalAction, default=True,
                   help="with a --denoise strength above 0, move the output's coarse levels "
                   "back to the input's where they differ by more than its noise explains "
                   "(undoes the level shifts and overshoot of the robust model on other "
                   "cameras; default on; docs/RESULTS.md section 9)")
    p.add_argument("--tile", type=int, default=None,
                   help="LR tile size in pixels (default: from free memory; 0 = no tiling)")
    p.add_argument("--overlap", type=int, default=16, help="LR tile overlap (default 16)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--half", action="store_true", help="float16 on GPU")
    p.add_argument("--ensemble", action="store_true",
                   help="self-ensemble over 8 flips/rotations, 8x the time: +0.12 dB with "
                   "irsrgan-psnr-x4 on clean frames (docs/RESULTS.md, section 6)")
    p.add_argument("--backend", default="auto", choices=("auto", *ENGINES),
                   help="CPU inference engine (auto: the fastest measured on this machine for "
                   "this model and tile size, cached; see `irsrgan bench`; the -int8 engines "
                   "run the model quantised, 1.4-2x faster and 0.03-0.05 dB lower for the "
                   "shipped x4 models; auto considers the -int8 engines for 8-bit images where "
                   "the model passed the int8 gate; docs/PERFORMANCE.md)")
    p.add_argument("--range", dest="range_mode", default="auto",
                   choices=["auto", "dtype", "stretch"],
                   help="value mapping: auto = 8-bit by dtype, 16-bit/float stretched per image "
                   "and mapped back exactly (default)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--flir-raw", action="store_true",
                   help="for FLIR radiometric JPEGs, upscale the raw 16-bit sensor counts "
                   "(written as NAME.tiff) instead of the 8-bit preview")
    p.add_argument("--units", choices=UNITS, default="counts",
                   help="with --flir-raw: write raw counts (16-bit TIFF, default) or "
                   "temperatures (float32 TIFF) converted with the camera's constants; FLIR "
                   "SEQ/CSQ clips: each frame with its own, into a float32 TIFF stack")
    p.add_argument("--emissivity", type=float, metavar="E",
                   help="with --flir-raw: object emissivity (0..1] instead of the file's")
    p.add_argument("--reflected-temp", type=float, metavar="DEGC",
                   help="with --flir-raw: reflected apparent temperature in degC instead of "
                   "the file's")
    p.add_argument("--consistency", action=argparse.BooleanOptionalAction, default=None,
                   help="correct the output so that the mean of every SxS block equals its "
                   "input pixel (what the sensor measured); default: on for 16-bit and "
                   "float (temperature) outputs, off for 8-bit; clips: off unless given")
    p.add_argument("--sample", action="store_true",
                   help="upscale a generated thermal-like sample (written to OUTPUT/input/)")
    p.add_argument("--max-pixels", type=int, default=None,
                   help="largest input in pixels (width x height), checked from the file "
                   "header before decoding (default: what fits in half the available memory, "
                   "see docs/LIMITS.md)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    sequence_args.add_arguments(p)
    p.set_defaults(func=run)


# bytes per input pixel and channel at the peak: the decoded input and its float copies (unit
# range, padded, the denoise estimate's and the level anchoring's float64 ones), measured up to
# 120 B a pixel for a float RGBA frame at --denoise auto, and the next file decoded meanwhile.
# The output is not in it: it is written band by band, and one that must be assembled in
# memory is checked against the memory available (streaming.check_assembly; docs/LIMITS.md)
UPSCALE_BYTES_PER_PIXEL = 40


def upscale_max_pixels(channels: int = 4) -> int:
    """The default ``--max-pixels`` of ``irsrgan upscale`` on this machine."""
    return default_max_pixels(UPSCALE_BYTES_PER_PIXEL * channels)


def build_model(args: argparse.Namespace):
    from ..checkpoint import load_model
    from ..interpolate import interpolate_models

    model = load_model(args.model)
    if args.model_b is not None or args.alpha is not None:
        if args.model_b is None or args.alpha is None:
            raise ConfigError("--alpha and --model-b go together")
        if not 0.0 <= args.alpha <= 1.0:
            raise ConfigError(f"--alpha must be in [0, 1], got {args.alpha}")
        model = interpolate_models(model, load_model(args.model_b), args.alpha)
    return model


def run(args: argparse.Namespace) -> int:
    inputs = list(args.inputs)
    if args.sample:
        make_output_folder(Path(args.output) / "input")
        inputs.append(str(write_sample(Path(args.output) / "input")))
    if not inputs:
        print("irsrgan upscale: give at least one INPUT (or --sample)", file=sys.stderr)
        return 2
    if not args.flir_raw and (args.units != "counts" or args.emissivity is not None
                              or args.reflected_temp is not None):
        raise ConfigError("--units, --emissivity and --reflected-temp need --flir-raw")
    check_overrides(args.emissivity, args.reflected_temp)
    if args.max_pixels is not None and args.max_pixels < 1:
        raise ConfigError(f"--max-pixels must be >= 1, got {args.max_pixels}")
    sequences, inputs = sequence_args.split_inputs(inputs, args)
    chosen = args.model is not None
    args.model = args.model or DEFAULT_MODEL
    if is_onnx(args.model):
        return run_onnx(args, sequences, inputs)
    from .. import scaleout
    from ..denoise import default_strength
    from ..inference import Upscaler

    part = scaleout.join()  # under torchrun: this process's share of the clips and images
    args.device = part.device(args.device)
    sequences = sequences[part.rank::part.world]
    status = 0
    if sequences:
        status = sequence_args.run_sequences(sequences, args,
                                             sequence_upscaler(args, model_chosen=chosen))
    if not inputs:
        return _finish(part, status)
    out = Path(args.output)
    jobs = plan_jobs(inputs, out, flir_raw=args.flir_raw)
    make_output_folder(output_folder(jobs, out))
    model = build_model(args)
    engine = dict(device=args.device, tile=args.tile, overlap=args.overlap, half=args.half,
                  backend=args.backend, ensemble=args.ensemble)
    upscaler = Upscaler(model, **engine)
    if args.tile and args.tile < upscaler.minimum_tile():
        raise ConfigError(f"--tile {args.tile} is too small for --overlap {args.overlap}: "
                          f"use at least {upscaler.minimum_tile()} (or 0: no tiling)")
    pair = build_denoise(args, model, engine)
    strengths: list[tuple[bool, float]] = []
    flir_lines: list[str] = []

    def rows_of(image: Image) -> ImageRows:
        # written band by band as it is computed, corrected band by band
        if pair is None:
            return upscaler.upscale_image_rows(image, range_mode=args.range_mode)
        requested = default_strength(args.denoise, image.dtype)
        sr = pair.upscale_image_rows(image, range_mode=args.range_mode, strength=requested)
        strengths.append((requested == "auto", pair.last_strength))
        return sr

    max_pixels = args.max_pixels or upscale_max_pixels()
    tile = upscaler.tile_for()
    process = processor(args, rows_of, flir_lines, scale=model.scale,
                        tile_rows=tile and tile + 2 * upscaler.overlap)
    result = run_batch(jobs, process, overwrite=args.overwrite,
                       progress=not args.quiet and part.main, desc=f"x{model.scale}",
                       flir_raw=args.flir_raw, max_pixels=max_pixels,
                       part=(part.rank, part.world))
    if part.world > 1:  # rank 0 reports for every process
        shares = scaleout.gather(part, [result.to_json(), strengths, flir_lines, status])
        result = BatchResult.combined([r for r, _, _, _ in shares])
        strengths = [tuple(s) for _, st, _, _ in shares for s in st]
        flir_lines = [line for _, _, lines, _ in shares for line in lines]
        status = max(st for _, _, _, st in shares)
        scaleout.leave(part)
        if not part.main:
            return 0 if result.ok and not status else 1
    report(result, flir_lines, denoise_summary(strengths, args.denoise))
    return 0 if result.ok and not status else 1


def processor(args: argparse.Namespace, rows_of: Callable[[Image], ImageRows],
              flir_lines: list[str], *, scale: int, tile_rows: int
              ) -> Callable[[Image, FileJob], ImageRows]:
    """What the batch does to each image: a check that one row of its output's tiles fits
    (``tile_rows`` LR rows, 0: the whole image), FLIR units, ``rows_of`` (the upscaling), the
    measurement consistency, a line for each FLIR file."""
    def process(image: Image, job: FileJob) -> ImageRows:
        check_band(job.src, image.width, image.height, image.channels().shape[0], scale,
                   tile_rows)
        if image.flir is not None and image.flir.preview_size is not None:
            image = image_in_units(image, args.units, emissivity=args.emissivity,
                                   reflected_temp_c=args.reflected_temp)
        sr = rows_of(image)
        if use_consistency(args.consistency, image):
            sr = consistent_rows(sr, image)
        if image.flir is not None and image.flir.preview_size is not None:
            flir_lines.append(describe_flir(job, image, sr))
        return sr

    return process


def report(result: BatchResult, flir_lines: list[str], denoise_lines: str = "") -> None:
    """The summary on stderr: the batch's, the denoise strengths used, the FLIR files."""
    print(result.summary(), file=sys.stderr)
    print(denoise_lines, file=sys.stderr, end="")
    if flir_lines:
        print(f"--flir-raw: {len(flir_lines)} FLIR R-JPEG(s) upscaled from their raw data, "
              "not the preview:", file=sys.stderr)
        for line in flir_lines[:5]:
            print(f"  {line}", file=sys.stderr)
        if len(flir_lines) > 5:
            print(f"  ... and {len(flir_lines) - 5} more", file=sys.stderr)


def is_onnx(model: str) -> bool:
    """Whether ``--model`` names an exported ONNX file (run without PyTorch)."""
    return str(model).lower().endswith(".onnx")


def run_onnx(args: argparse.Namespace, sequences: list[Path], inputs: list[str]) -> int:
    """``--model FILE.onnx``: the images through :class:`~irsrgan.onnx_upscaler.OnnxUpscaler`,
    in this process, without importing PyTorch."""
    from ..onnx_upscaler import OnnxUpscaler
    from ..tiling import CPU_TILE

    refused = [flag for flag, given in (
        ("--model-b", args.model_b is not None), ("--alpha", args.alpha is not None),
        ("--robust", args.robust is not None), ("--ensemble", args.ensemble),
        ("--half", args.half)) if given]
    if refused:
        raise ConfigError(f"{', '.join(refused)}: not with an ONNX model ({args.model}); they "
                          "need the PyTorch weights (`irsrgan export` writes the default "
                          "model's denoise pair into the file, with its robust end)")
    if sequences:
        raise ConfigError(f"{sequences[0]}: clips need the PyTorch weights, not an ONNX model")
    if args.device not in ("auto", "cpu"):
        raise ConfigError(f"--device {args.device}: an ONNX model runs on the CPU here; use "
                          "the PyTorch weights on a GPU")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError("an ONNX model runs in one process: give torchrun the PyTorch "
                          "weights to split a job across processes")
    up = OnnxUpscaler(args.model, engine=onnx_engine(args.backend),
                      tile=CPU_TILE if args.tile is None else args.tile, overlap=args.overlap,
                      anchor=None if args.anchor else False,  # --no-anchor: never anchored
                      strength=args.denoise)
    if up.metadata.get("irsrgan.denoise_partner") and "irsrgan.denoise" not in up.metadata:
        print(f"note: {args.model} is the faithful end of a denoise pair alone, run at "
              "strength 0 on every image; `irsrgan export` of the model without --denoise "
              "(or --int8) writes the pair, which picks a strength per 8-bit image "
              "(--denoise auto)", file=sys.stderr)
    out = Path(args.output)
    jobs = plan_jobs(inputs, out, flir_raw=args.flir_raw)
    make_output_folder(output_folder(jobs, out))
    flir_lines: list[str] = []
    strengths: list[tuple[bool, float]] = []

    def rows_of(image: Image) -> ImageRows:
        rows = up.upscale_image_rows(image, range_mode=args.range_mode)
        if up.pair:
            strengths.append((up.last_auto, up.last_strength))
        return rows

    process = processor(args, rows_of, flir_lines, scale=up.scale,
                        tile_rows=up.tile and up.tile + 2 * up.overlap)
    result = run_batch(jobs, process, overwrite=args.overwrite,
                       progress=not args.quiet, desc=f"x{up.scale}", flir_raw=args.flir_raw,
                       max_pixels=args.max_pixels or upscale_max_pixels())
    report(result, flir_lines, denoise_summary(strengths, args.denoise))
    return 0 if result.ok else 1


def onnx_engine(backend: str) -> str:
    """The engine for an ONNX model: ``auto`` takes ONNX Runtime, else OpenVINO."""
    if backend == "auto":
        for engine in ("onnxruntime", "openvino"):
            if importlib.util.find_spec(engine) is not None:
                return engine
        raise ConfigError("an ONNX model needs ONNX Runtime or OpenVINO: pip install "
                          "'irsrgan[onnx]'")
    if backend not in ("onnxruntime", "openvino"):
        raise ConfigError(f"--backend {backend}: an ONNX model runs with onnxruntime or "
                          "openvino")
    return backend


def _finish(part: scaleout.Part, status: int) -> int:
    """The exit status every process agrees on when there were only clips."""
    from .. import scaleout

    if part.world > 1:
        status = max(scaleout.gather(part, status))
        scaleout.leave(part)
    return status


def sequence_upscaler(args: argparse.Namespace, *, model_chosen: bool = True) -> Upscaler:
    """One model for every frame of a clip. By default the multi-frame model
    (:data:`~irsrgan.checkpoint.DEFAULT_VIDEO_MODEL`: each frame with its aligned neighbours);
    with ``--frame-by-frame``, ``--model``, ``--model-b`` or ``--denoise S`` a single-frame
    model: the model, or the pair at the fixed strength S. A per-frame ``auto`` strength
    would change the model from frame to frame (flicker), so those clips use the faithful
    model unless a strength is given."""
    from ..checkpoint import load_model
    from ..denoise import parse_strength
    from ..inference import Upscaler

    engine = dict(device=args.device, tile=args.tile, overlap=args.overlap, half=args.half,
                  backend=args.backend, ensemble=args.ensemble)
    single = (args.frame_by_frame or model_chosen or args.model_b is not None
              or args.denoise is not None or args.robust is not None)
    if not single and DEFAULT_VIDEO_MODEL in bundled_models():
        args.model = DEFAULT_VIDEO_MODEL  # recorded in the resumable job
        return Upscaler(load_model(DEFAULT_VIDEO_MODEL), **engine)
    model = build_model(args)
    if args.denoise is not None and parse_strength(args.denoise) != "auto":  # any spelling
        pair = build_denoise(args, model, engine)
        return pair.upscaler_for(float(pair.strength))
    return Upscaler(model, **engine)


def use_consistency(option: bool | None, image: Image) -> bool:
    """``--consistency``: on by default for 16-bit and float (temperature) images."""
    return option if option is not None else image.dtype != "uint8"


def describe_flir(job: FileJob, image: Image, sr: Image) -> str:
    """One summary line: raw and preview sizes, and what was written."""
    source = image.flir
    (rw, rh), preview = source.raw_size, source.preview_size
    shown = f"preview {preview[0]}x{preview[1]}" if preview else "preview size unknown"
    what = ("16-bit raw counts" if source.units == "counts"
            else f"float32 {UNIT_SYMBOLS[source.units]}")
    line = (f"{job.name}: raw {rw}x{rh} ({shown}) -> {sr.width}x{sr.height} {what} "
            f"TIFF {job.dst.name}")
    if source.camera is not None and source.units != "counts":
        cam = source.camera
        line += (f", emissivity {cam.emissivity:.3g}, reflected "
                 f"{cam.reflected_apparent_temperature - 273.15:.2f} degC")
    return line


def denoise_summary(strengths: list[tuple[bool, float]], requested: str | None) -> str:
    """One line per kind of strength used (auto, fixed, or faithful by default)."""
    lines = []
    auto = [v for a, v in strengths if a]
    if auto:
        lines.append(f"denoise auto: strength {min(auto):.2f}..{max(auto):.2f} (median "
                     f"{float(np.median(auto)):.2f}) over {len(auto)} image(s)")
    fixed = [v for a, v in strengths if not a]
    if fixed:
        why = (f"--denoise {requested}" if requested is not None
               else "16-bit/float inputs keep the faithful model; --denoise auto to change")
        lines.append(f"denoise {fixed[0]:.2f} for {len(fixed)} image(s) ({why})")
    return "".join(line + "\n" for line in lines)


def build_denoise(args: argparse.Namespace, model, engine: dict) -> DenoiseUpscaler | None:
    """The faithful/robust pair for --denoise, or None (no partner and none asked for)."""
    from ..checkpoint import load_model
    from ..denoise import DenoiseUpscaler, parse_strength, robust_partner

    robust = args.robust or robust_partner(args.model)
    if args.denoise is None and args.robust is None:
        if robust is None or args.model_b is not None:
            return None
        strength = "auto"  # the model has a partner: per image, default_strength decides
    else:
        if args.model_b is not None:
            raise ConfigError("--denoise/--robust and --alpha/--model-b both interpolate "
                              "models: use one")
        if robust is None:
            raise ConfigError(f"--denoise: model {args.model} names no robust partner; give "
                              "one with --robust MODEL")
        strength = parse_strength(args.denoise if args.denoise is not None else "auto")
    return DenoiseUpscaler(model, load_model(robust), strength,
                           anchor=getattr(args, "anchor", True), **engine)


def write_sample(folder: Path) -> Path:
    from ..sample import thermal_sample

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "thermal-sample.png"
    if not path.exists():
        write_image(path, Image(pixels=thermal_sample(), format="png", layout="gray"))
    return path

