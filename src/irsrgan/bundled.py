"""The models shipped inside the package: their names and files, and the defaults.

Only the standard library: the command line's help texts and the PyTorch-free ONNX path
(:mod:`irsrgan.onnx_upscaler`) need these names before, or without, loading PyTorch.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

DEFAULT_MODEL = "irsrgan-faithful-x4"
#: what ``irsrgan upscale`` runs on sequences unless told otherwise (a multi-frame model)
DEFAULT_VIDEO_MODEL = "irsrgan-video-x4"


def bundled_models() -> dict[str, Path]:
    """Names of the models shipped in the package -> their files."""
    folder = resources.files("irsrgan") / "weights"
    out = {}
    if folder.is_dir():
        for entry in folder.iterdir():
            if entry.name.endswith(".safetensors"):
                out[entry.name[: -len(".safetensors")]] = Path(str(entry))
    return dict(sorted(out.items()))
