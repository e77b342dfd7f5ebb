"""The sequence part of ``irsrgan upscale``: options, and running each clip through
:func:`irsrgan.sequences.upscale_sequence`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ConfigError, IrsrganError
from ..sequences import Selection, open_sequence, output_path, sniff_sequence, upscale_sequence
from ..sequences.writers import work_folder


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "sequences", "video files (MP4, MKV, AVI, MOV), TIFF stacks and FLIR SEQ/CSQ are "
        "detected from content and written as the same kind (OUTPUT may name the file: "
        "NAME.mkv, NAME.mp4, NAME.tiff ...); an interrupted run resumes when run again")
    g.add_argument("--start", type=int, default=0, metavar="N",
                   help="first frame to process (0-based; default 0)")
    g.add_argument("--end", type=int, default=None, metavar="N",
                   help="stop before frame N (default: the end)")
    g.add_argument("--every", type=int, default=1, metavar="N",
                   help="process every N-th frame from --start (default 1)")
    g.add_argument("--codec", default="auto", choices=("auto", "h264", "ffv1"),
                   help="video codec: auto = FFV1 for 16-bit (lossless, MKV) and FFV1 input, "
                   "else H.264")
    g.add_argument("--temporal", type=float, default=0.5, metavar="S",
                   help="blend each frame with the previous output where the input does not "
                   "move, strength 0..1 (default 0.5: on a noisy still scene the shipped x4 "
                   "models flicker 1.4-1.6x bicubic frame by frame, 1.1-1.2x with it, and "
                   "gain 0.1-0.3 dB; 0: frame by frame; docs/RESULTS.md section 8)")
    g.add_argument("--frame-by-frame", action="store_true",
                   help="upscale every frame on its own with the still-image model even when "
                   "a multi-frame model is bundled (none ships yet: today clips are upscaled "
                   "frame by frame unless --model names a multi-frame model; docs/VIDEO.md)")
    g.add_argument("--sequence", action="store_true",
                   help="treat input folders as numbered frame sequences (natural order, same "
                   "names out; implied by --start/--end/--every)")


def _folders_are_sequences(args: argparse.Namespace) -> bool:
    return bool(args.sequence or args.start or args.end is not None or args.every != 1)


def split_inputs(inputs: list[str], args: argparse.Namespace) -> tuple[list[Path], list[str]]:
    """``(sequences, stills)``: files detected as sequences, folders with ``--sequence``."""
    sequences, stills = [], []
    folders = _folders_are_sequences(args)
    for item in inputs:
        path = Path(item)
        kind = sniff_sequence(path) if path.exists() else None
        if kind is not None and (kind != "folder" or folders):
            sequences.append(path)
        else:
            stills.append(item)
    return sequences, stills


def clip_anchor(args: argparse.Namespace) -> bool:
    """Whether a clip's frames are level-anchored: with the denoise pair at a fixed strength
    that :func:`~irsrgan.denoise.anchors` (above 0), unless ``--no-anchor``; as stills are.
    (``--denoise auto`` clips keep the faithful model: ``upscale_cmd.sequence_upscaler``.)"""
    denoise = getattr(args, "denoise", None)
    if denoise is None or not getattr(args, "anchor", True):
        return False
    from ..denoise import anchors, parse_strength  # PyTorch: only once a clip is run

    strength = parse_strength(denoise)
    return strength != "auto" and anchors(strength)


def run_sequences(sequences: list[Path], args: argparse.Namespace, upscaler) -> int:
    """Each clip in turn; one that fails is reported and the others go on."""
    from ..engines import model_id

    selection = Selection(args.start, args.end, args.every)
    output = Path(args.output)
    if len(sequences) > 1 and output.suffix:
        raise ConfigError(f"-o {output}: give a folder for {len(sequences)} sequences")
    failed = 0
    for src in sequences:
        dst = None
        try:
            with open_sequence(src) as reader:
                info = reader.info
            dst, notes = output_path(src, info, output, units=args.units)
            for note in notes:
                print(f"note: {note}", file=sys.stderr)
            result = upscale_sequence(
                src, dst, upscaler, selection=selection, codec=args.codec,
                range_mode=args.range_mode, overwrite=args.overwrite, progress=not args.quiet,
                temporal=args.temporal, units=args.units, emissivity=args.emissivity,
                reflected_temp_c=args.reflected_temp, consistency=bool(args.consistency),
                anchor=clip_anchor(args),
                job={"model": str(args.model), "model_b": args.model_b, "alpha": args.alpha,
                     "tile": args.tile, "overlap": args.overlap, "ensemble": args.ensemble,
                     "scale": upscaler.scale, "denoise": getattr(args, "denoise", None),
                     "robust": getattr(args, "robust", None),
                     # the weights that run, so a resumed clip never mixes two models (a
                     # bundled model or a pair's partner replaced between the two runs)
                     "weights": model_id(upscaler.model),
                     "frame_by_frame": bool(getattr(args, "frame_by_frame", False))},
            )
        except KeyboardInterrupt:
            if dst is not None and dst.suffix:
                print(f"interrupted: finished frames are kept in {work_folder(dst)}; run the "
                      "same command again to resume", file=sys.stderr)
            raise
        except (IrsrganError, OSError, RuntimeError) as exc:
            print(f"FAILED {src}: {exc}", file=sys.stderr)
            failed += 1
            continue
        print(result.summary(), file=sys.stderr)
    return 1 if failed else 0
