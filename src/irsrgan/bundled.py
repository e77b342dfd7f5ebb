"""The models shipped inside the package: their names and files, and the defaults; and the
names of the built-in degradation presets.

Only the standard library: the command line's help texts and the PyTorch-free ONNX path
(:mod:`irsrgan.onnx_upscaler`) need these names before, or without, loading PyTorch.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

DEFAULT_MODEL = "irsrgan-faithful-x4"
#: what ``irsrgan upscale`` runs on sequences unless told otherwise (a multi-frame model)
DEFAULT_VIDEO_MODEL = "irsrgan-video-x4"
#: the base model of ``irsrgan adapt`` for each scale when none is named (the faithful end of
#: the shipped pair); :data:`irsrgan.adapt.DEFAULT_BASE`
DEFAULT_BASE = {4: "irsrgan-faithful-x4", 2: "irsrgan-psnr-x2"}
#: Built-in degradation presets (``irsrgan/presets/<name>.yaml``);
#: :data:`irsrgan.degradations.PRESET_NAMES`
PRESET_NAMES: tuple[str, ...] = ("bicubic", "irsrgan", "realesrgan", "thermal", "thermal-mix")


def bundled_models() -> dict[str, Path]:
    """Names of the models shipped in the package -> their files."""
    folder = resources.files("irsrgan") / "weights"
    out = {}
    if folder.is_dir():
        for entry in folder.iterdir():
            if entry.name.endswith(".safetensors"):
                out[entry.name[: -len(".safetensors")]] = Path(str(entry))
    return dict(sorted(out.items()))
