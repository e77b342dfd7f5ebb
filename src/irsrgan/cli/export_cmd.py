"""``irsrgan export MODEL -o model.onnx``: ONNX with dynamic height and width."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a model to ONNX (dynamic height and width)",
                       description="Export a model to ONNX. The file records its scale, "
                       "channels and size multiple, so `irsrgan.onnx_upscaler.OnnxUpscaler` "
                       "runs it with ONNX Runtime or OpenVINO without PyTorch.")
    p.add_argument("model", help="bundled model name or weights file")
    p.add_argument("-o", "--output", required=True, help="output .onnx file")
    p.add_argument("--opset", type=int, default=None,
                   help="ONNX opset of the float graph (default 18; not with --int8)")
    p.add_argument("--denoise", metavar="auto|S",
                   help="for a model with a denoise partner (the default pair). auto (the "
                   "default, not with --int8): both ends in one file, and `irsrgan upscale "
                   "--model FILE.onnx` picks the strength per image as with the weights "
                   "(--denoise auto for 8-bit images, the faithful end for 16-bit ones, or "
                   "its own --denoise). S: the pair at the fixed strength S, 0 (faithful) to "
                   "1 (robust), as `upscale --denoise S`. Above 0 the output is "
                   "level-anchored to the LR, as the pair's is")
    p.add_argument("--int8", action="store_true",
                   help="the graph quantised to int8 (ONNX Runtime QDQ, calibrated on bundled "
                   "training crops; what --backend onnxruntime-int8 runs): faster on CPUs with "
                   "int8 instructions, for 8-bit images; the command says whether these "
                   "weights passed the 0.05 dB int8 gate (docs/PERFORMANCE.md)")
    p.add_argument("--no-check", action="store_true",
                   help="skip the ONNX Runtime vs PyTorch comparison (int8 is not compared: "
                   "it differs from float32 by design)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..checkpoint import load_model
    from ..denoise import anchors, model_at, parse_strength, quantise, robust_partner
    from ..export import export_int8_onnx, export_onnx

    if args.int8 and args.opset is not None:
        raise ConfigError("--opset is for the float graph; --int8 writes the graph "
                          "--backend onnxruntime-int8 runs")
    model = load_model(args.model)
    metadata = {"irsrgan.name": Path(args.model).name}  # a bundled name, or the file's name
    partner = robust_partner(args.model)
    requested = None if args.denoise is None else parse_strength(args.denoise)
    if requested is not None and partner is None:
        raise ConfigError(f"{args.model} has no denoise partner: --denoise is for a "
                          "faithful model whose file names its robust end")
    if requested == "auto" and args.int8:
        raise ConfigError("--int8 writes one strength: give --denoise S (0..1), not auto")
    if partner is not None and requested in (None, "auto") and not args.int8:
        return _export_pair(args, model, load_model(partner), metadata | {
            "irsrgan.robust": Path(partner).name})
    if requested is not None:
        strength = quantise(requested)
        model = model_at(model, load_model(partner), strength)
        metadata |= {"irsrgan.denoise": f"{strength:g}",
                     "irsrgan.anchor": "1" if anchors(strength) else "0"}
    elif partner is not None:  # the faithful end alone (int8): upscale says what that means
        metadata["irsrgan.denoise_partner"] = Path(partner).name
    if args.int8:
        passed = export_int8_onnx(model, args.output, metadata)
        print(f"wrote {args.output} (int8; " + (
            "these weights passed the int8 gate: within 0.05 dB of float32 on hit-uav/val)"
            if passed else "these weights are not in the int8 gate: expect lower PSNR than "
            "float32; measure with scripts/int8_gate.py)"))
        return 0
    opset = 18 if args.opset is None else args.opset
    diff = export_onnx(model, args.output, opset=opset, check=not args.no_check,
                       metadata=metadata)
    msg = f"wrote {args.output}"
    if diff is not None:
        msg += f" (max |onnxruntime - pytorch| = {diff:.2e})"
    print(msg)
    return 0


def _export_pair(args: argparse.Namespace, faithful, robust, metadata: dict[str, str]) -> int:
    """Both ends of the denoise pair in one file (:func:`irsrgan.export.export_onnx_pair`)."""
    from ..export import export_onnx_pair

    opset = 18 if args.opset is None else args.opset
    diff = export_onnx_pair(faithful, robust, args.output, opset=opset,
                            check=not args.no_check, metadata=metadata)
    msg = (f"wrote {args.output} (the denoise pair: {metadata['irsrgan.name']} and "
           f"{metadata['irsrgan.robust']}; the strength is chosen per image")
    if diff is not None:
        msg += f"; max |onnxruntime - pytorch| = {diff:.2e} at strengths 0, 0.5, 1"
    print(msg + ")")
    return 0
