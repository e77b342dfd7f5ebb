"""The degradation detector without PyTorch: its windows, its bundled weights and a NumPy
forward pass.

:mod:`irsrgan.detector` defines, trains and runs the detector with PyTorch. The exported
pair (:class:`~irsrgan.onnx_upscaler.OnnxUpscaler`) must pick ``--denoise auto``'s strength in
a process that never imports PyTorch, so this module reads the same safetensors file with
``safetensors.numpy`` and runs the same network (four 3x3 convolutions, a global mean, one
logit) with NumPy: :func:`probability` equals
:func:`irsrgan.detector.degraded_probability` to float32 rounding (tested). The network is
65 k parameters on at most 16 windows of 64 px, so NumPy's matrix products take milliseconds;
writing it again here costs less than a second ONNX graph to export, ship and keep in step.
"""

from __future__ import annotations

import math
import os
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from .errors import CheckpointError, ImageError

#: side of the LR windows scored (and of the training crops)
WINDOW = 64
#: at most this many windows per image, on a regular grid
MAX_WINDOWS = 16
#: the input's deviations from its window mean are multiplied by this (the cues are at the
#: 1e-3 level of the unit range)
GAIN = 32.0
#: the bundled detector's name (trained on x4 LR); ``degradation-x{scale}`` where one exists
BUNDLED = "degradation-x4"
#: the convolutions' strides, in order (the detector's architecture)
STRIDES = (1, 2, 2, 1)
#: LeakyReLU's negative slope after each convolution
SLOPE = 0.1


def windows(x: np.ndarray, size: int = WINDOW, count: int = MAX_WINDOWS) -> np.ndarray:
    """Up to ``count`` ``size`` x ``size`` windows of ``x`` ``(H, W)`` on a regular grid
    covering the frame, ``(N, size, size)``; a frame smaller than ``size`` is one window."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ImageError(f"image must be (H, W), got {tuple(x.shape)}")
    h, w = x.shape
    if min(h, w) < 8:
        raise ImageError(f"image of {w}x{h} px is too small to judge its noise (8 px at least)")
    sh, sw = min(size, h), min(size, w)
    ny = min(max(1, h // sh), int(math.isqrt(count)))
    nx = min(max(1, w // sw), count // ny)
    ys = np.linspace(0, h - sh, ny).round().astype(int)
    xs = np.linspace(0, w - sw, nx).round().astype(int)
    return np.stack([x[y:y + sh, c:c + sw] for y in ys for c in xs])


def bundled_path(scale: int = 4) -> Path:
    """The bundled detector for LR made at ``scale`` (``degradation-x{scale}``), or the x4
    one where the package has none for that scale."""
    folder = resources.files("irsrgan") / "weights" / "detector"
    own = Path(str(folder / f"degradation-x{int(scale)}.safetensors"))
    return own if own.is_file() else Path(str(folder / f"{BUNDLED}.safetensors"))


def read_detector_file(path: str | os.PathLike) -> tuple[int, dict[str, np.ndarray]]:
    """A detector file's width and weights as NumPy arrays (safetensors only: nothing is
    unpickled), checked to be an irsrgan degradation detector."""
    from safetensors import safe_open

    path = Path(path)
    try:
        with safe_open(str(path), "np") as f:
            meta = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    except Exception as e:  # noqa: BLE001 - any unreadable file is one message
        raise CheckpointError(f"{path}: not a readable detector weights file ({e})") from None
    if meta.get("format") != "irsrgan-detector":
        raise CheckpointError(f"{path}: not an irsrgan degradation detector")
    features = meta.get("features", "32")
    if not features.isdigit() or not 1 <= int(features) <= 512:
        raise CheckpointError(f"{path}: detector width {features!r} is not 1..512")
    return int(features), state


def _conv3x3(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int) -> np.ndarray:
    """``(N, C, H, W)`` -> ``(N, F, H', W')``: a 3x3 convolution, zero padding 1, as
    ``nn.Conv2d(C, F, 3, stride, padding=1)``, through one matrix product (im2col)."""
    n, c, h, w = x.shape
    ho, wo = (h - 1) // stride + 1, (w - 1) // stride + 1
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    cols = np.empty((n, c, 3, 3, ho, wo), np.float32)
    for i in range(3):
        for j in range(3):
            cols[:, :, i, j] = padded[:, :, i:i + stride * (ho - 1) + 1:stride,
                                      j:j + stride * (wo - 1) + 1:stride]
    out = weight.reshape(weight.shape[0], -1) @ cols.reshape(n, c * 9, ho * wo)
    return (out + bias[:, None]).reshape(n, -1, ho, wo)


class NumpyDetector:
    """The degradation detector's forward pass in NumPy: ``(B, 1, H, W)`` float32 in the unit
    range -> ``(B,)`` logits that each is sensor-degraded (as
    :class:`irsrgan.detector.DegradationDetector`)."""

    def __init__(self, state: dict[str, np.ndarray]) -> None:
        try:
            self.convs = [(state[f"body.{2 * i}.weight"].astype(np.float32),
                           state[f"body.{2 * i}.bias"].astype(np.float32), stride)
                          for i, stride in enumerate(STRIDES)]
            self.head = (state["head.weight"].astype(np.float32),
                         state["head.bias"].astype(np.float32))
        except KeyError as e:
            raise CheckpointError(f"detector weights lack {e.args[0]}") from None

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> NumpyDetector:
        """The detector saved at ``path`` (:func:`irsrgan.detector.save_detector`)."""
        return cls(read_detector_file(path)[1])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float32)
        if x.ndim != 4 or x.shape[1] != 1 or min(x.shape[-2:]) < 8:
            raise ImageError(f"detector input must be (B, 1, H >= 8, W >= 8), got "
                             f"{tuple(x.shape)}")
        x = (x - x.mean(axis=(2, 3), keepdims=True)) * np.float32(GAIN)
        for weight, bias, stride in self.convs:
            x = _conv3x3(x, weight, bias, stride)
            x = np.where(x > 0, x, x * np.float32(SLOPE))
        weight, bias = self.head
        return (x.mean(axis=(2, 3)) @ weight.T + bias)[:, 0]


def require_bundled(path: Path) -> Path:
    """``path`` (:func:`bundled_path`), or a clear error if the package lacks it."""
    if not path.is_file():
        raise CheckpointError(f"the bundled degradation detector is missing ({path}); "
                              "reinstall irsrgan or run scripts/train_detector.py")
    return path


@lru_cache(maxsize=4)
def bundled_numpy_detector(path: Path) -> NumpyDetector:
    """The bundled detector at ``path`` (:func:`bundled_path`), loaded once."""
    return NumpyDetector.from_file(require_bundled(path))


def probability(lr_unit: np.ndarray, *, scale: int = 4,
                detector: NumpyDetector | None = None) -> float:
    """Probability that ``lr_unit`` (``(H, W)``, the unit range the SR model sees) is
    sensor-degraded rather than a clean resample: the mean logit over :func:`windows`, by
    ``detector`` (default: the bundled one for ``scale``). NaN pixels count as mid-grey."""
    detector = detector or bundled_numpy_detector(bundled_path(scale))
    x = np.nan_to_num(np.asarray(lr_unit, dtype=np.float32), nan=0.5)
    logit = float(detector(windows(x)[:, None]).mean())
    return 1.0 / (1.0 + math.exp(-logit))
