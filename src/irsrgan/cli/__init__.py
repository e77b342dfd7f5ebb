"""The ``irsrgan`` command: thin subcommands that parse arguments and call the library.

Each subcommand lives in its own module with ``register(subparsers)``, which adds its parser
and sets ``func(args) -> int`` (the exit status). A command line that names its subcommand
imports that module only (``irsrgan upscale --model m.onnx`` never loads PyTorch; the others
start faster); ``irsrgan --help`` imports them all.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from ..errors import IrsrganError

# Literal list of subcommand modules (no import-time registry magic).
COMMANDS = (
    "upscale", "models", "export", "degrade", "train", "metrics", "evaluate", "interpolate",
    "serve", "info", "calibrate", "adapt", "bench",
)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or with ``only`` the one subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="irsrgan", description="Super-resolution for infrared (thermal) images."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        if only is not None and name != only:
            continue
        try:
            module = importlib.import_module(f"{__name__}.{name.replace('-', '_')}_cmd")
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.endswith(f"{name}_cmd"):
                continue  # command not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    named = next((a for a in argv if not a.startswith("-")), None)  # options before it: -v
    parser = build_parser(named if named in COMMANDS else None)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except IrsrganError as exc:
        print(f"irsrgan {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and closed: not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silences the flush at exit
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
