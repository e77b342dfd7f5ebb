"""ONNX export with dynamic height and width, checked against PyTorch with ONNX Runtime."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import numpy as np
import torch

from .errors import IrsrganError
from .models import Generator, require_generator


def export_onnx(
    model: Generator, path: str | os.PathLike, *, opset: int = 18, check: bool = True
) -> float | None:
    """Export ``model`` to ``path``; returns the max abs difference to PyTorch on a test
    input of another size (``None`` if ``check`` is false).

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
            torch.onnx.export(
                model, (example,), str(tmp), input_names=["lr"], output_names=["sr"],
                dynamic_shapes=shapes, opset_version=opset, dynamo=True, external_data=False,
            )
        diff = check_onnx(model, tmp) if check else None
        os.replace(tmp, path)
    except Exception as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, IrsrganError):
            raise
        raise IrsrganError(f"ONNX export to {path} failed: {exc}") from exc
    return diff


def check_onnx(model: Generator, path: str | os.PathLike, *, seed: int = 0) -> float:
    """Max abs difference between ONNX Runtime and PyTorch on an odd-sized random input."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise IrsrganError(
            "onnxruntime is not installed: pip install 'irsrgan[onnx]' (or --no-check)"
        ) from None
    m = model.size_multiple
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, model.in_channels, 37 * m, 53 * m, generator=g)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    with torch.inference_mode():
        want = model(x).numpy()
    if got.shape != want.shape:
        raise IrsrganError(f"ONNX output shape {got.shape} differs from PyTorch {want.shape}")
    return float(np.abs(got - want).max())
