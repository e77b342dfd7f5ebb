"""ONNX export with dynamic height and width, checked against PyTorch with ONNX Runtime.

The file records what an upscaler needs to run it (:func:`layout_metadata`: scale, channels,
size multiple, and which weights) in the graph's ``metadata_props``, so that
:class:`~irsrgan.onnx_upscaler.OnnxUpscaler` runs it without PyTorch and without being told.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from .errors import IrsrganError
from .models import Generator, require_generator


def layout_metadata(model: Generator) -> dict[str, str]:
    """The ``irsrgan.*`` metadata every exported graph carries: scale, channels in and out,
    the multiple input sides are padded to, and the weights' digest."""
    from .engines import model_id

    return {"irsrgan.scale": str(model.scale), "irsrgan.in_channels": str(model.in_channels),
            "irsrgan.out_channels": str(model.out_channels),
            "irsrgan.size_multiple": str(model.size_multiple),
            "irsrgan.weights": model_id(model)}


def export_onnx(
    model: Generator, path: str | os.PathLike, *, opset: int = 18, check: bool = True,
    metadata: Mapping[str, str] | None = None,
) -> float | None:
    """Export ``model`` to ``path``; returns the max abs difference to PyTorch on a test
    input of another size (``None`` if ``check`` is false). ``metadata`` is recorded beside
    the layout (:func:`layout_metadata`) in the graph's ``metadata_props``.

    Raises:
        IrsrganError: export failed, or ONNX Runtime is missing when ``check`` is asked.
    """
    model = require_generator(model).eval().cpu().float()
    m = model.size_multiple
    example = torch.rand(1, model.in_channels, 32 * m, 48 * m)
    h = torch.export.Dim("height", min=8)
    w = torch.export.Dim("width", min=8)
    shapes = ({2: h * m, 3: w * m} if m > 1 else {2: h, 3: w},)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            program = torch.onnx.export(
                model, (example,), input_names=["lr"], output_names=["sr"],
                dynamic_shapes=shapes, opset_version=opset, dynamo=True,
            )
            program.model.metadata_props.update({**layout_metadata(model), **(metadata or {})})
            program.save(str(tmp), external_data=False)
        diff = check_onnx(model, tmp) if check else None
        os.replace(tmp, path)
    except Exception as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, IrsrganError):
            raise
        raise IrsrganError(f"ONNX export to {path} failed: {exc}") from exc
    return diff


def export_onnx_pair(
    faithful: Generator, robust: Generator, path: str | os.PathLike, *, opset: int = 18,
    check: bool = True, metadata: Mapping[str, str] | None = None,
) -> float | None:
    """Export the denoise pair to one file (:mod:`irsrgan.onnx_pair`: the strength is an
    initializer, 0 in the file, set per image by the
    :class:`~irsrgan.onnx_upscaler.OnnxUpscaler`); returns the max abs difference to PyTorch
    at strengths 0, 0.5 and 1 (``None`` if ``check`` is false). The file records
    ``irsrgan.denoise = pair`` and is level-anchored above strength 0, as the pair is."""
    import tempfile

    from .image import atomic_write_bytes
    from .interpolate import check_interpolable
    from .onnx_pair import PAIR, build_pair, require_onnx

    onnx = require_onnx()
    check_interpolable(faithful, robust)
    path = Path(path)
    if not path.parent.is_dir():
        raise IrsrganError(f"ONNX export to {path} failed: the folder {path.parent} does not "
                           "exist")
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        ends = []
        for end, name in ((faithful, "faithful"), (robust, "robust")):
            export_onnx(end, Path(tmp) / f"{name}.onnx", opset=opset, check=False,
                        metadata=metadata)
            ends.append(onnx.load(str(Path(tmp) / f"{name}.onnx")))
        pair = build_pair(*ends)
        props = {p.key: p.value for p in pair.metadata_props}
        onnx.helper.set_model_props(pair, {**props, "irsrgan.denoise": PAIR})
        data = pair.SerializeToString()
        candidate = Path(tmp) / "pair.onnx"
        candidate.write_bytes(data)
        diff = check_pair(faithful, robust, candidate) if check else None
        atomic_write_bytes(path, data)
    return diff


def check_pair(faithful: Generator, robust: Generator, path: str | os.PathLike) -> float:
    """Max abs difference between ONNX Runtime running the pair file at strengths 0, 0.5 and
    1 and PyTorch running :func:`irsrgan.denoise.model_at` there."""
    from .denoise import model_at
    from .onnx_pair import at_strength, load

    pair = load(path)
    worst = 0.0
    for strength in (0.0, 0.5, 1.0):
        graph = at_strength(pair, strength)
        worst = max(worst, check_onnx(model_at(faithful, robust, strength), graph))
    return worst


def export_int8_onnx(model: Generator, path: str | os.PathLike,
                     metadata: Mapping[str, str] | None = None) -> bool:
    """Write ``model``'s int8 graph (:func:`irsrgan.quantize.int8_onnx`: QDQ, calibrated on
    the bundled training crops) to ``path`` with the layout metadata; returns whether these
    weights passed the int8 gate (:func:`irsrgan.quantize.passes_gate`: within 0.05 dB of
    float32 on hit-uav/val), which the file records as ``irsrgan.int8_gate``."""
    try:
        import onnx
        import onnxruntime  # noqa: F401 (the quantiser)
    except ImportError:
        raise IrsrganError("int8 export needs ONNX Runtime's quantiser: pip install "
                           "'irsrgan[onnx]'") from None

    from .image import atomic_write_bytes
    from .quantize import int8_onnx, passes_gate

    model = require_generator(model).eval().cpu().float()
    passed = passes_gate(model)
    try:
        graph = onnx.load_from_string(int8_onnx(model))
    except Exception as exc:
        raise IrsrganError(f"int8 export to {path} failed: {exc}") from exc
    props = {**layout_metadata(model), **(metadata or {}),
             "irsrgan.int8_gate": "passed" if passed else "not passed"}
    onnx.helper.set_model_props(graph, props)
    atomic_write_bytes(Path(path), graph.SerializeToString())
    return passed


def check_onnx(model: Generator, path: str | os.PathLike | bytes, *, seed: int = 0) -> float:
    """Max abs difference between ONNX Runtime and PyTorch on an odd-sized random input
    (``path``: a file, or a serialised graph)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise IrsrganError(
            "onnxruntime is not installed: pip install 'irsrgan[onnx]' (or --no-check)"
        ) from None
    m = model.size_multiple
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, model.in_channels, 37 * m, 53 * m, generator=g)
    graph = path if isinstance(path, bytes) else str(path)
    sess = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    with torch.inference_mode():
        want = model(x).numpy()
    if got.shape != want.shape:
        raise IrsrganError(f"ONNX output shape {got.shape} differs from PyTorch {want.shape}")
    return float(np.abs(got - want).max())
