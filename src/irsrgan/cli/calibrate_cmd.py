"""``irsrgan calibrate FRAMES... -o CAMERA.yaml``: a degradation preset measured from a camera's
own native frames (see :mod:`irsrgan.calibrate`), usable wherever a preset is
(``degrade --preset``, ``evaluate --degradation``, ``data.degradation`` in a training config,
``irsrgan adapt``)."""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from ..calibrate import calibrate
from ..errors import ConfigError
from ..image import atomic_write_bytes
from .info_cmd import json_safe


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "calibrate", help="measure a camera's noise, stripes, blur, bit depth from its frames",
        description="Measure, from native frames alone (no ground truth), what the thermal "
        "degradation preset describes: pixel noise, column/row stripes, blur, dead pixels, "
        "bit depth, AGC clipping, JPEG quality. Writes a preset YAML for --preset / "
        "data.degradation / `irsrgan adapt` and prints the measurements beside the built-in "
        "thermal preset's ranges.",
    )
    p.add_argument("inputs", nargs="+", metavar="FRAMES", help="image files or folders")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="CAMERA.yaml",
                   help="the preset to write (an existing file is replaced atomically)")
    p.add_argument("--scale", type=int, default=4, choices=(2, 3, 4, 8),
                   help="the SR factor the preset makes LR for (default 4)")
    p.add_argument("--name", default=None, help="preset name (default: the file's stem)")
    p.add_argument("--report", type=Path, default=None, metavar="REPORT.md",
                   help="also write the measurement table (Markdown) here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.output.suffix.lower() not in (".yaml", ".yml"):
        raise ConfigError(f"-o {args.output}: the preset is YAML; name it *.yaml")
    cal = calibrate(args.inputs)
    name = args.name or args.output.stem
    preset = json_safe(cal.preset(name=name, scale=args.scale))
    report = cal.report(scale=args.scale)
    header = "".join(f"# {line}\n" if line else "#\n" for line in report.splitlines())
    text = header + yaml.safe_dump(preset, sort_keys=False, default_flow_style=None)
    # the preset must load before it is written
    from ..degradations import Preset

    Preset.from_dict(yaml.safe_load(text), name=name)
    atomic_write_bytes(args.output, text.encode())
    if args.report:
        atomic_write_bytes(args.report, report.encode())
    print(report, end="")
    print(f"wrote {args.output}")
    return 0
