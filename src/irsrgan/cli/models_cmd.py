"""``irsrgan models``: the bundled models and the architectures weights can be loaded into."""

from __future__ import annotations

import argparse

from ..checkpoint import DEFAULT_MODEL, bundled_models, read_metadata
from ..models import GENERATORS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list bundled models and architectures")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    bundled = bundled_models()
    print("Bundled models (use with --model NAME):")
    if not bundled:
        print("  (none)")
    for name, path in bundled.items():
        meta = read_metadata(path)
        prov = meta.get("provenance", {})
        default = "  [default]" if name == DEFAULT_MODEL else ""
        print(f"  {name:<20} {meta['arch']} x{meta['scale']}, {meta['in_channels']} channel(s)"
              f"{default}")
        if prov.get("summary"):
            print(f"  {'':<20} {prov['summary']}")
    print("\nArchitectures (weights files of these load with --model PATH):")
    for name, cls in GENERATORS.items():
        doc = (cls.__doc__ or "").strip().splitlines()[0]
        print(f"  {name:<20} {doc}")
    print("\nForeign files recognised: the seed's .pth.tar, original ESRGAN, BasicSR / "
          "Real-ESRGAN RRDBNet and SRVGGNetCompact (.pth, weights only).")
    return 0
