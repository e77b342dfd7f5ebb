"""``irsrgan bench``: which CPU engine ``--backend auto`` takes on this machine, and why."""

from __future__ import annotations

import argparse

from ..bundled import DEFAULT_MODEL
from ..errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench", help="time the CPU engines for a model (what --backend auto measured)",
        description="Time every installed CPU engine (torch, onnxruntime, openvino, and "
        "the -int8 engines for an 8-bit input where the model passed the int8 gate) on the "
        "tiles a WIDTHxHEIGHT image is cut into, as `--backend auto` does once per machine, "
        "model and tile size, and print the measurement (from the cache unless --again).")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"default: {DEFAULT_MODEL}")
    p.add_argument("--size", default="640x512", metavar="WxH",
                   help="input size whose tiles are timed (default 640x512)")
    p.add_argument("--tile", type=int, default=None, help="LR tile (default: as upscale)")
    p.add_argument("--bits", type=int, choices=(8, 16), default=8,
                   help="the input's bit depth (default 8): for an 8-bit input `auto` also "
                   "times the -int8 engines, where the model passed the int8 gate")
    p.add_argument("--again", action="store_true", help="measure even if cached")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from .. import engines
    from ..checkpoint import load_model
    from ..inference import Upscaler
    from ..quantize import passes_gate

    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise ConfigError(f"--size must be WIDTHxHEIGHT, e.g. 640x512, got {args.size!r}") \
            from None
    if not engines.measuring():
        raise ConfigError("IRSRGAN_MEASURE_ENGINES=0 turns measuring off; unset it to bench")
    model = load_model(args.model)
    up = Upscaler(model, device="cpu", tile=args.tile, backend="auto")
    up.remeasure = args.again
    x = torch.rand(1, model.in_channels, h, w, generator=torch.Generator().manual_seed(0))
    if args.bits == 8:
        x = torch.round(x * 255) / 255
    up.upscale(x, eight_bit=args.bits == 8)
    print(f"machine: {engines.machine_id()}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in engines.versions().items()))
    print(f"cache: {engines.cache_path()}")
    for m in up.measurements:
        shape = m.key.removesuffix("|int8").rsplit("|", 1)[-1]
        source = "measured now" if m.measured else "from the cache (--again to re-measure)"
        print(f"\n{args.model} on {shape} tiles ({source}):")
        best = min(m.seconds.values())
        for name, sec in sorted(m.seconds.items(), key=lambda kv: kv[1]):
            mark = "  <- auto" if name == m.chosen else ""
            print(f"  {name:<16} {sec * 1000:9.1f} ms/tile  {sec / best:5.2f}x{mark}")
    if args.bits == 8 and not passes_gate(model):
        print(f"\nint8 not timed: {args.model} is not in the int8 gate "
              "(scripts/int8_gate.py measures it; --backend onnxruntime-int8 forces it)")
    missing = sorted({engines.package(e) for e in engines.ENGINES if not engines.installed(e)})
    if missing:
        print("\nnot installed: " + ", ".join(
            f"{e} (pip install 'irsrgan[{engines.EXTRAS[e]}]')" for e in missing))
    return 0
