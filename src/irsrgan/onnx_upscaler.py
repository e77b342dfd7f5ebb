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

The default model's denoise pair comes whole: ``irsrgan export`` of a model that names a robust
end writes both ends into one file (:mod:`irsrgan.onnx_pair`), and this upscaler picks the
strength per image as ``irsrgan upscale`` does with the PyTorch weights
(:mod:`irsrgan.strength`: ``auto`` for 8-bit images, from the degradation detector run in
NumPy, :mod:`irsrgan.detection`; the faithful end for 16-bit and float ones; or a fixed
strength), and level-anchors the output above strength 0 as the pair does
(:func:`irsrgan.consistency.anchored_rows`). A graph exported at one strength
(``irsrgan export --denoise S``) records whether it is anchored. What needs PyTorch stays out:
interpolating other models (``--model-b``), the self-ensemble, clips.

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

from . import onnx_pair
from .consistency import anchored_rows
from .errors import ConfigError
from .image import Image, RangeMode, image_unit
from .streaming import ImageRows, unit_rows
from .strength import (
    Strength,
    anchors,
    auto_strength,
    default_strength,
    judged_frame,
    parse_strength,
    quantise,
)
from .tiling import CPU_TILE, Layout, ProgressFn, channel_bands, check_overlap, minimum_tile

log = logging.getLogger(__name__)

ENGINES = ("onnxruntime", "openvino")


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
            (``irsrgan.anchor``, set by ``irsrgan export --denoise S`` with S above 0; a pair
            file: at every strength above 0). ``False``: never.
        strength: for a pair file, ``"auto"`` or a number in [0, 1] for every image; default:
            :func:`irsrgan.strength.default_strength` per image (``auto`` for 8-bit images, 0
            for 16-bit and float ones). Other files take none.

    ``last_strength`` is the strength the most recent image of a pair file used.
    """

    #: at most this many compiled strengths above 0 of a pair file are kept (strength 0, the
    #: file as stored, always is)
    CACHED_STRENGTHS = 3

    def __init__(self, path: str | os.PathLike, *, engine: str = "onnxruntime",
                 tile: int = CPU_TILE, overlap: int = 16, threads: int | None = None,
                 anchor: bool | None = None, strength: Strength | str | None = None) -> None:
        self.path = Path(path)
        if engine not in ENGINES:
            raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
        check_overlap(overlap)
        if tile < 0:
            raise ConfigError(f"tile must be >= 0 (0 disables tiling), got {tile}")
        if not self.path.is_file():
            raise ConfigError(f"{self.path}: no such ONNX file")
        self.engine = engine
        self.threads = threads or 0
        self.runner = _runner(self.path, engine, self.threads)
        meta = self.runner.metadata()
        self.metadata = meta
        self.pair = onnx_pair.is_pair(meta)
        if strength is not None and not self.pair:
            fixed = meta.get("irsrgan.denoise")
            raise ConfigError(f"{self.path}: a denoise strength needs a pair file (`irsrgan "
                              "export` of a model that names a robust end, as the default "
                              "does); this file is " + (
                                  f"the pair exported at the fixed strength {fixed}" if fixed
                                  else "one model"))
        self.strength = None if strength is None else parse_strength(strength)
        self.last_strength: float | None = None
        self.last_auto = False
        self._pair_graph = None  # a pair file's graph, read when a strength above 0 is needed
        self._runners: dict[float, object] = {}  # strengths above 0, most recent last
        self.layout = _layout_from(meta) or _probe_layout(self.runner, self.path)
        if tile and tile < minimum_tile(overlap):
            raise ConfigError(f"tile {tile} too small for overlap {overlap}: use at least "
                              f"{minimum_tile(overlap)} (or 0: no tiling)")
        self.tile, self.overlap = tile, overlap
        self.anchor = (anchor if anchor is not None
                       else self.pair or meta.get("irsrgan.anchor") == "1")
        self.scale = self.layout.scale
        self._int8_warned = False

    def upscale(self, lr: np.ndarray, progress: ProgressFn | None = None, *,
                strength: Strength | str | None = None) -> np.ndarray:
        """``(B, C, H, W)`` float32 in the unit range -> ``(B, C, H * s, W * s)`` (not
        anchored, not clamped), as :meth:`Upscaler.upscale <irsrgan.inference.Upscaler.upscale>`.
        A pair file runs at ``strength``, else the upscaler's, else ``auto`` (judged on a
        ``(1, C, H, W)`` LR); ``last_strength`` says which. Unlike
        :meth:`DenoiseUpscaler.upscale <irsrgan.denoise.DenoiseUpscaler.upscale>` the output is
        never level-anchored here; :meth:`upscale_image_rows` anchors as the pair does."""
        lr = np.asarray(lr, np.float32)
        if self.pair:
            requested = parse_strength(strength if strength is not None
                                       else self.strength if self.strength is not None
                                       else "auto")
            if requested == "auto" and (lr.ndim != 4 or lr.shape[0] != 1):
                raise ConfigError(f"lr must be (1, C, H, W) for auto strength, got "
                                  f"{tuple(lr.shape)}")
            self.last_strength, self.last_auto = self._strength(lr[0], requested)
        elif strength is not None:
            raise ConfigError(f"{self.path}: one model, no denoise strength to set")
        return np.concatenate([band for _, band in self.bands(
            lr, progress, strength=self.last_strength if self.pair else 0.0)], axis=2)

    def bands(self, lr: np.ndarray, progress: ProgressFn | None = None, *,
              strength: float = 0.0) -> Iterator[tuple[int, np.ndarray]]:
        """:meth:`upscale` as ``(first HR row, rows)`` bands, top to bottom, a pair file at the
        ``strength`` given here (default 0, the faithful end: nothing is decided here)."""
        return channel_bands(np.asarray(lr, np.float32), self.runner_at(strength), self.layout,
                             tile=self.tile, overlap=self.overlap, progress=progress)

    def runner_at(self, strength: float):
        """The compiled graph at ``strength`` (rounded to the pair's step; one model: only 0):
        the file itself at 0, else one of the :data:`CACHED_STRENGTHS` most recently used."""
        key = quantise(strength)
        if key == 0.0:
            return self.runner
        if not self.pair:
            raise ConfigError(f"{self.path}: one model, no denoise strength to set")
        if key in self._runners:
            self._runners[key] = self._runners.pop(key)  # most recently used: last
            return self._runners[key]
        if self._pair_graph is None:
            self._pair_graph = onnx_pair.load(self.path)
        while len(self._runners) >= self.CACHED_STRENGTHS:
            self._runners.pop(next(iter(self._runners)))  # the least recently used
        self._runners[key] = _runner(onnx_pair.at_strength(self._pair_graph, key),
                                     self.engine, self.threads, self.path)
        return self._runners[key]

    def image_strength(self, unit: np.ndarray, dtype: np.dtype) -> tuple[float, bool]:
        """The strength a pair file uses for an image whose LR in the unit range is ``unit``
        ``(C, H, W)`` (and whose dtype is ``dtype``: the upscaler's strength, else ``auto``
        for 8-bit images and 0 for others), and whether it was ``auto``; 0 for one model. As
        :func:`irsrgan.denoise.strength_for` decides it with the PyTorch weights."""
        if not self.pair:
            return 0.0, False
        return self._strength(unit, default_strength(self.strength, dtype))

    def _strength(self, unit: np.ndarray, requested: Strength) -> tuple[float, bool]:
        """``requested`` as a number (``auto``: the detector's verdict on ``unit`` ``(C, H,
        W)``, the channels' mean), rounded to the pair's step, and whether it was ``auto``."""
        if requested != "auto":
            return quantise(requested), False
        from .detection import probability

        return quantise(auto_strength(probability(judged_frame(unit), scale=self.scale))), True

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
        strength, self.last_auto = self.image_strength(unit, image.dtype)
        self.last_strength = strength if self.pair else None
        out = unit_rows(image, vmap, self.scale, ((row, band[0]) for row, band in
                                                  self.bands(unit[None], strength=strength)))
        anchored = self.anchor and (anchors(strength) if self.pair else True)
        return anchored_rows(out, image) if anchored else out

    def upscale_image(self, image: Image, *, range_mode: RangeMode = "auto") -> Image:
        """The whole output of ``image`` in memory."""
        return self.upscale_image_rows(image, range_mode=range_mode).collect()


def _runner(graph: Path | bytes, engine: str, threads: int, path: Path | None = None):
    """A runner for ``graph`` (a file, or a serialised graph read from ``path``)."""
    from .runtimes import EXTRAS, open_runner

    path = graph if path is None else path
    try:
        __import__(engine)
    except ImportError:
        raise ConfigError(f"engine {engine!r} is not installed: pip install "
                          f"'irsrgan[{EXTRAS[engine]}]'") from None
    try:
        return open_runner(engine, graph if isinstance(graph, bytes) else str(graph), threads)
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
