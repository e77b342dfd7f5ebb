"""``irsrgan models``: the bundled models and the architectures weights can be loaded into."""

from __future__ import annotations

import argparse

from ..errors import CheckpointError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list bundled models and architectures")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..checkpoint import DEFAULT_MODEL, bundled_models, model_info
    from ..models import GENERATORS

    bundled = bundled_models()
    print("Bundled models (use with --model NAME):")
    if not bundled:
        print("  (none)")
    for name in bundled:
        try:
            info = model_info(name)
        except CheckpointError as exc:
            print(f"  {name:<20} cannot be read: {exc}")
            continue
        default = "  [default]" if name == DEFAULT_MODEL else ""
        print(f"  {name:<20} {info.arch} x{info.scale}, {info.in_channels} channel(s), "
              f"{info.params / 1e6:.2f} M parameters{default}")
        if info.summary:
            print(f"  {'':<20} {info.summary}")
    print("\nArchitectures (weights files of these load with --model PATH):")
    for name, cls in GENERATORS.items():
        doc = (cls.__doc__ or "").strip().splitlines()[0]
        print(f"  {name:<20} {doc}")
    print("\nForeign files recognised: the seed's .pth.tar, original ESRGAN, BasicSR / "
          "Real-ESRGAN RRDBNet and SRVGGNetCompact (.pth, weights only).")
    return 0
