"""``irsrgan export MODEL -o model.onnx``: ONNX with dynamic height and width."""

from __future__ import annotations

import argparse

from ..checkpoint import load_model
from ..export import export_onnx


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a model to ONNX (dynamic height and width)")
    p.add_argument("model", help="bundled model name or weights file")
    p.add_argument("-o", "--output", required=True, help="output .onnx file")
    p.add_argument("--opset", type=int, default=18)
    p.add_argument("--no-check", action="store_true",
                   help="skip the ONNX Runtime vs PyTorch comparison")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    model = load_model(args.model)
    diff = export_onnx(model, args.output, opset=args.opset, check=not args.no_check)
    msg = f"wrote {args.output}"
    if diff is not None:
        msg += f" (max |onnxruntime - pytorch| = {diff:.2e})"
    print(msg)
    return 0
