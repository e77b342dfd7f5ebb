"""``irsrgan info FILE...``: format, size, bit depth; FLIR camera, constants, temperatures."""

from __future__ import annotations

import argparse
import json
import math
import sys

from ..errors import ImageError
from ..info import file_info, format_info


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "info", help="describe image files (FLIR: camera, constants, temperatures)",
        description="Format, size and bit depth of each file; for FLIR radiometric JPEGs (and "
        "TIFFs written from them by `upscale --flir-raw`) also the camera, the raw and preview "
        "sizes, the units, every conversion constant and the min/mean/max temperature.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="image files")
    p.add_argument("--json", action="store_true", help="one JSON document (a list) on stdout")
    p.set_defaults(func=run)


def json_safe(value):
    """``value`` with non-finite floats as None and tuples as lists (JSON and YAML safe)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def run(args: argparse.Namespace) -> int:
    infos, failed = [], 0
    for name in args.files:
        try:
            infos.append(file_info(name))
        except ImageError as exc:
            print(f"irsrgan info: error: {exc}", file=sys.stderr)
            failed += 1
    if args.json:
        print(json.dumps([json_safe(i) for i in infos], indent=2))
    else:
        print("\n\n".join(format_info(i) for i in infos))
    return 1 if failed else 0
