"""Upscale images with an exported ONNX model, without PyTorch.

``irsrgan export MODEL -o model.onnx`` writes a graph that carries its own layout (scale,
channels, size multiple; :func:`irsrgan.export.layout_metadata`). :class:`OnnxUpscaler` runs it
with ONNX Runtime or OpenVINO over the same seam-free tiles as the
:class:`~irsrgan.inference.Upscaler` (:mod:`irsrgan.tiling`), reading and writing images with
the same code: it upscales exactly as the :class:`~irsrgan.inference.Upscaler` does with the
same engine. Why: importing PyTorch alone takes about 500 MB of resident memory with a CUDA
build, more than a whole 2048x2048 x4 upscale needs here (``benchmarks/upscale_memory.py``).
(``pip install irsrgan`` still installs PyTorch, which export needs; this path only never
loads it.)

What needs PyTorch stays out: the denoise pair's ``auto`` strength (its detector is a network)
and network interpolation. Export the pair at one strength instead
(``irsrgan export --denoise S``); a graph exported at a strength above 0 records that its output
is level-anchored to the LR (:func:`irsrgan.consistency.anchored_rows`), and is anchored here
as the pair anchors it.

Example:
    >>> from irsrgan.onnx_upscaler import OnnxUpscaler  # doctest: +SKIP
    >>> up = OnnxUpscaler("model.onnx")  # doctest: +SKIP
    >>> write_rows("out.png", up.upscale_image_rows(read_image("in.png")))  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .consistency import anchored_rows
from .errors import ConfigError
from .image import Image, RangeMode, image_unit
from .streaming import ImageRows, unit_rows
from .tiling import CPU_TILE, Layout, ProgressFn, channel_bands, check_overlap, minimum_tile

log = logging.getLogger(__name__)

ENGINES = ("onnxruntime", "openvino")
_EXTRAS = {"onnxruntime": "onnx", "openvino": "openvino"}


class OnnxUpscaler:
    """Upscale with an ONNX file on the CPU, tiled, NumPy only (no PyTorch).

    Args:
        path: an ``.onnx`` file: best one written by ``irsrgan export`` (it names its layout);
            any other single-input image-to-image graph has its layout probed with a few tiny
            forwards (scale, channels; the size multiple from 1, 2, 4, 8, 16).
        engine: ``"onnxruntime"`` (the ``onnx`` extra) or ``"openvino"`` (the ``openvino``
            extra).
        tile: LR tile side (default 256, as the Upscaler's on CPU; 0: the whole image at once).
        overlap: LR context pixels around each tile.
        threads: intra-op threads (default 0: the engine's own choice, its physical cores).
        anchor: level-anchor outputs to the LR; default: what the file records
            (``irsrgan.anchor``, set by ``irsrgan export --denoise S`` with S above 0).
    """

    def __init__(self, path: str | os.PathLike, *, engine: str = "onnxruntime",
                 tile: int = CPU_TILE, overlap: int = 16, threads: int | None = None,
                 anchor: bool | None = None) -> None:
        self.path = Path(path)
        if engine not in ENGINES:
            raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
        check_overlap(overlap)
        if tile < 0:
            raise ConfigError(f"tile must be >= 0 (0 disables tiling), got {tile}")
        if not self.path.is_file():
            raise ConfigError(f"{self.path}: no such ONNX file")
        self.engine = engine
        self.runner = _runner(self.path, engine, threads or 0)
        meta = self.runner.metadata()
        self.metadata = meta
        self.layout = _layout_from(meta) or _probe_layout(self.runner, self.path)
        if tile and tile < minimum_tile(overlap):
            raise ConfigError(f"tile {tile} too small for overlap {overlap}: use at least "
                              f"{minimum_tile(overlap)} (or 0: no tiling)")
        self.tile, self.overlap = tile, overlap
        self.anchor = meta.get("irsrgan.anchor") == "1" if anchor is None else anchor
        self.scale = self.layout.scale
        self._int8_warned = False

    def upscale(self, lr: np.ndarray, progress: ProgressFn | None = None) -> np.ndarray:
        """``(B, C, H, W)`` float32 in the unit range -> ``(B, C, H * s, W * s)`` (not
        anchored, not clamped), as :meth:`Upscaler.upscale <irsrgan.inference.Upscaler.upscale>`."""
        return np.concatenate([band for _, band in self.bands(lr, progress)], axis=2)

    def bands(self, lr: np.ndarray, progress: ProgressFn | None = None
              ) -> Iterator[tuple[int, np.ndarray]]:
        """:meth:`upscale` as ``(first HR row, rows)`` bands, top to bottom."""
        return channel_bands(np.asarray(lr, np.float32), self.runner, self.layout,
                             tile=self.tile, overlap=self.overlap, progress=progress)

    def upscale_image_rows(self, image: Image, *, range_mode: RangeMode = "auto"
                           ) -> ImageRows:
        """The output of ``image`` as lazily computed bands of rows in its dtype, layout and
        units (for :func:`~irsrgan.streaming.write_rows`: memory bounded by a row of tiles)."""
        if ("irsrgan.int8_gate" in self.metadata and image.dtype != np.uint8
                and not self._int8_warned):
            self._int8_warned = True
            log.warning("%s is quantised to int8 (calibrated on 8-bit frames); %s input loses "
                        "more than 8-bit does: export the float graph for it", self.path,
                        image.dtype)
        unit, vmap = image_unit(image, range_mode)
        out = unit_rows(image, vmap, self.scale,
                        ((row, band[0]) for row, band in self.bands(unit[None])))
        return anchored_rows(out, image) if self.anchor else out

    def upscale_image(self, image: Image, *, range_mode: RangeMode = "auto") -> Image:
        """The whole output of ``image`` in memory."""
        return self.upscale_image_rows(image, range_mode=range_mode).collect()


def _runner(path: Path, engine: str, threads: int):
    from .runtimes import OpenVinoRunner, OrtRunner

    try:
        __import__(engine)
    except ImportError:
        raise ConfigError(f"engine {engine!r} is not installed: pip install "
                          f"'irsrgan[{_EXTRAS[engine]}]'") from None
    cls = OrtRunner if engine == "onnxruntime" else OpenVinoRunner
    try:
        return cls(str(path), threads)
    except Exception as exc:  # the engines raise their own types for unreadable graphs
        raise ConfigError(f"{path}: {engine} cannot load this file as an ONNX model: "
                          f"{str(exc).strip().splitlines()[0] if str(exc).strip() else exc}"
                          ) from None


def _layout_from(meta: dict[str, str]) -> Layout | None:
    keys = ("irsrgan.scale", "irsrgan.in_channels", "irsrgan.out_channels",
            "irsrgan.size_multiple")
    if not all(k in meta for k in keys):
        return None
    try:
        return Layout(*(int(meta[k]) for k in keys))
    except ValueError:
        return None


def _probe_layout(run, path: Path) -> Layout:
    """Scale and channels from a 16x16 forward; the size multiple: the smallest of 1, 2, 4,
    8, 16 whose side 16 + m the graph accepts."""
    for channels in (1, 3):
        try:
            out = run(np.zeros((1, channels, 16, 16), np.float32))
            break
        except Exception:  # wrong channel count: the next
            continue
    else:
        raise ConfigError(f"{path}: not an image-to-image model (no 1- or 3-channel 16x16 "
                          "input runs)")
    if out.ndim != 4 or out.shape[-1] % 16 or out.shape[-1] != out.shape[-2]:
        raise ConfigError(f"{path}: not an upscaling model (16x16 in, {tuple(out.shape)} out)")
    scale = out.shape[-1] // 16
    for multiple in (1, 2, 4, 8, 16):
        try:
            got = run(np.zeros((1, channels, 16 + multiple, 16 + multiple), np.float32))
        except Exception:
            continue
        if got.shape[-1] == (16 + multiple) * scale:
            return Layout(scale, channels, out.shape[1], multiple)
    raise ConfigError(f"{path}: cannot tell which input sizes this model takes")
