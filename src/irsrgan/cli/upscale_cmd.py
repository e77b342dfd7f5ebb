"""``irsrgan upscale INPUT [INPUT ...] -o OUTPUT``: files or folders through the Upscaler."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from ..batch import plan_jobs, run_batch
from ..checkpoint import DEFAULT_MODEL, load_model
from ..image import Image, write_image
from ..inference import Upscaler
from ..interpolate import interpolate_models
from . import sequence_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "upscale", help="upscale images or folders",
        description="Upscale thermal images. Outputs keep the input's name, format, bit depth "
        "and channel layout; folders are mirrored under OUTPUT.",
    )
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="image files or folders")
    p.add_argument("-o", "--output", required=True, help="output folder (or file, for one input)")
    p.add_argument("--model", default=DEFAULT_MODEL,
                   help=f"bundled model name or weights file (default: {DEFAULT_MODEL}); "
                   "see `irsrgan models`")
    p.add_argument("--model-b", help="second model for network interpolation (with --alpha)")
    p.add_argument("--alpha", type=float, default=None,
                   help="interpolate weights: 0 = --model, 1 = --model-b")
    p.add_argument("--tile", type=int, default=None,
                   help="LR tile size in pixels (default: from free memory; 0 = no tiling)")
    p.add_argument("--overlap", type=int, default=16, help="LR tile overlap (default 16)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--half", action="store_true", help="float16 on GPU")
    p.add_argument("--ensemble", action="store_true",
                   help="self-ensemble over 8 flips/rotations, 8x the time: +0.12 dB with "
                   "irsrgan-psnr-x4 on clean frames (docs/RESULTS.md, section 6)")
    p.add_argument("--backend", default="auto", choices=("auto", "torch", "onnxruntime"),
                   help="CPU inference engine (auto: each architecture's measured fastest, "
                   "see docs/PERFORMANCE.md)")
    p.add_argument("--range", dest="range_mode", default="auto",
                   choices=["auto", "dtype", "stretch"],
                   help="value mapping: auto = 8-bit by dtype, 16-bit/float stretched per image "
                   "and mapped back exactly (default)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--flir-raw", action="store_true",
                   help="for FLIR radiometric JPEGs, upscale the raw 16-bit sensor counts "
                   "(written as NAME.tiff) instead of the 8-bit preview")
    p.add_argument("--sample", action="store_true",
                   help="upscale a generated thermal-like sample (written to OUTPUT/input/)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    sequence_args.add_arguments(p)
    p.set_defaults(func=run)


def build_model(args: argparse.Namespace):
    model = load_model(args.model)
    if args.model_b is not None or args.alpha is not None:
        if args.model_b is None or args.alpha is None:
            raise SystemExit("irsrgan upscale: --alpha and --model-b go together")
        model = interpolate_models(model, load_model(args.model_b), args.alpha)
    return model


def run(args: argparse.Namespace) -> int:
    inputs = list(args.inputs)
    if args.sample:
        inputs.append(str(write_sample(Path(args.output) / "input")))
    if not inputs:
        print("irsrgan upscale: give at least one INPUT (or --sample)", file=sys.stderr)
        return 2
    sequences, inputs = sequence_args.split_inputs(inputs, args)
    status = 0
    if sequences:
        status = sequence_args.run_sequences(sequences, args, make_upscaler(args))
        if not inputs:
            return status
    out = Path(args.output)
    jobs = plan_jobs(inputs, out, flir_raw=args.flir_raw)
    target_dir = jobs[0].dst.parent if len(jobs) == 1 else out
    target_dir.mkdir(parents=True, exist_ok=True)
    if not _writable(target_dir):
        print(f"irsrgan upscale: error: output folder {target_dir} is not writable",
              file=sys.stderr)
        return 2
    upscaler = make_upscaler(args)
    model = upscaler.model
    result = run_batch(
        jobs, lambda img, _job: upscaler.upscale_image(img, range_mode=args.range_mode),
        overwrite=args.overwrite, progress=not args.quiet, desc=f"x{model.scale}",
        flir_raw=args.flir_raw,
    )
    print(result.summary(), file=sys.stderr)
    return 0 if result.ok and not status else 1


def make_upscaler(args: argparse.Namespace) -> Upscaler:
    return Upscaler(
        build_model(args), device=args.device, tile=args.tile, overlap=args.overlap,
        half=args.half, backend=args.backend, ensemble=args.ensemble,
    )


def write_sample(folder: Path) -> Path:
    from ..sample import thermal_sample

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "thermal-sample.png"
    if not path.exists():
        write_image(path, Image(pixels=thermal_sample(), format="png", layout="gray"))
    return path


def _writable(folder: Path) -> bool:
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False
