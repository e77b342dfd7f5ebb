"""The Upscaler: one inference path for the CLI, the server, validation and evaluation.

A model (PyTorch, or exported once to ONNX Runtime or OpenVINO, whichever ``auto`` measured
fastest here) run over overlapping tiles and blended without seams by :mod:`irsrgan.tiling`,
on CPU, CUDA or MPS; images in their own dtype and units in and out.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterable, Iterator
from typing import Literal

import numpy as np
import psutil
import torch
from torch import nn

from . import engines, tiling
from .engines import ENGINES, EngineName
from .errors import ConfigError, ImageError
from .image import (
    Image,
    RangeMode,
    ValueMap,
    from_tensor,
    to_tensor,
    value_map_for,
)
from .models import Generator, MultiFrameNet, require_generator
from .streaming import ImageRows, unit_rows
from .tiling import CPU_TILE, ProgressFn

log = logging.getLogger(__name__)

DeviceName = Literal["auto", "cpu", "cuda", "mps"]


def pick_device(
    device: str | torch.device | None = "auto", *, local_rank: int | None = None
) -> torch.device:
    """``auto`` picks CUDA, then MPS, then CPU. ``local_rank`` (one of several processes under
    ``torchrun``): ``auto`` takes that process's GPU, ``cuda:local_rank``, and never MPS
    (the processes then talk through gloo, on the CPU)."""
    if device is None or str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda") if local_rank is None else torch.device("cuda", local_rank)
        mps = getattr(torch.backends, "mps", None)
        if local_rank is None and mps and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise ConfigError(
            f"device must be auto, cpu, cuda, cuda:N or mps, got {str(device)!r}"
        ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {str(device)!r} requested but CUDA is not available")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(f"device {str(device)!r}: there are {torch.cuda.device_count()} "
                          "CUDA devices")
    if dev.type == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise ConfigError("device 'mps' requested but MPS is not available")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"device must be auto, cpu, cuda, cuda:N or mps, got {str(device)!r}")
    return dev


class Upscaler:
    """Upscale tensors or images with a generator, tiled, on CPU, CUDA or MPS.

    Args:
        model: a :class:`~irsrgan.models.Generator` (from ``load_model`` or ``create_model``):
            its ``scale``, channels, ``size_multiple`` and ``cpu_backend`` are used; anything
            else is refused with a :class:`~irsrgan.errors.ConfigError`.
        device: ``"auto"`` (CUDA, MPS, else CPU), ``"cpu"``, ``"cuda"``, ``"mps"``.
        tile: LR tile side in pixels; ``None`` chooses it from available memory; ``0`` disables
            tiling (the whole image in one forward).
        overlap: LR context pixels on each side of a tile (and reflect padding at borders).
        batch_size: tiles per forward pass (default 1 on CPU, where batching gains nothing,
            4 on GPU).
        half: float16 on GPU (ignored with a warning on CPU); ``precision="fp16"``.
        precision: ``"fp32"``, ``"fp16"`` or ``"bf16"`` (GPU only; bf16 where the GPU has it;
            default: fp16 with ``half``, else fp32).
        compile: ``torch.compile`` the model on GPU (minutes of compiling on first use, then
            faster: for long-lived servers and benchmarks; ignored on CPU).
        channels_last: use the channels-last memory format (faster convolutions on CPU).
        backend: on CPU, ``"auto"`` takes the engine measured fastest on this machine for
            this model and tile shape (:mod:`irsrgan.engines`: timed once on the first tiles,
            then cached per machine, weights and engine versions; with
            ``IRSRGAN_MEASURE_ENGINES=0`` the model's recorded preference
            ``model.cpu_backend``); ONNX Runtime and OpenVINO run the model exported to ONNX
            once, in memory, and only when installed; GPUs always use PyTorch. ``"torch"``,
            ``"onnxruntime"`` or ``"openvino"`` force one. ``"onnxruntime-int8"`` and
            ``"openvino-int8"`` run the graph quantised to int8 (:mod:`irsrgan.quantize`:
            1.4-2x the fastest float engine on a 2-core VNNI CPU, 0.03-0.05 dB lower PSNR for
            the shipped x4 models, 0.5 dB for the x2 one); ``auto`` times
            ``"onnxruntime-int8"`` and ``"openvino-int8"`` too, but only for
            8-bit images (or ``upscale(..., eight_bit=True)``) and models that passed the
            int8 gate (``quantize.passes_gate``).
        ensemble: self-ensemble: average the model's outputs over the 8 flips and 90-degree
            rotations of each tile (8x the time; on hit-uav/val, +0.12 dB for the shipped PSNR
            model on clean input, nothing on degraded input; it smooths a GAN model's texture
            as much as interpolating halfway to its PSNR model; docs/RESULTS.md).

    A one-channel model upscales colour input channel by channel; a colour model given gray
    input sees the gray replicated and its output is averaged back to one channel.
    """

    def __init__(
        self,
        model: Generator,
        *,
        device: str | torch.device | None = "auto",
        tile: int | None = None,
        overlap: int = 16,
        batch_size: int | None = None,
        half: bool = False,
        precision: Literal["fp32", "fp16", "bf16"] | None = None,
        compile: bool = False,
        channels_last: bool = True,
        backend: EngineName = "auto",
        ensemble: bool = False,
    ) -> None:
        require_generator(model)
        if tile is not None and tile < 0:
            raise ConfigError(f"tile must be >= 0 (0 disables tiling), got {tile}")
        tiling.check_overlap(overlap)
        self.device = pick_device(device)
        if batch_size is None:
            batch_size = 1 if self.device.type == "cpu" else 4
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        precision = precision or ("fp16" if half else "fp32")
        dtypes = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
        if precision not in dtypes:
            raise ConfigError(f"precision must be 'fp32', 'fp16' or 'bf16', got {precision!r}")
        if precision != "fp32" and self.device.type == "cpu":
            log.warning("%s is only used on GPU; running float32 on CPU", precision)
            precision = "fp32"
        if (precision == "bf16" and self.device.type == "cuda"
                and not torch.cuda.is_bf16_supported()):
            raise ConfigError(f"precision 'bf16': {torch.cuda.get_device_name(self.device)} "
                              "does not support bfloat16; use 'fp16'")
        self.precision = precision
        self.dtype = dtypes[precision]
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.model = model.eval().to(self.device, self.dtype, memory_format=self.memory_format)
        for p in self.model.parameters():
            p.requires_grad_(False)
        self._compiled = (torch.compile(self.model, dynamic=True)
                          if compile and self.device.type != "cpu" else None)
        self.scale = model.scale
        self.multiple = model.size_multiple
        self.overlap = overlap
        self.tile = tile
        self.batch_size = batch_size
        self.ensemble = ensemble
        if backend not in ("auto", *ENGINES):
            raise ConfigError(f"backend must be one of {', '.join(('auto', *ENGINES))}; "
                              f"got {backend!r}")
        self._runners: dict[str, engines.Runner] = {}  # the non-torch engines built
        self._onnx: bytes | None = None
        self._chosen: dict[str, str] = {}  # tile shape class -> engine, for auto
        #: what ``auto`` measured or read from the cache (:class:`~irsrgan.engines.Measurement`)
        self.measurements: list[engines.Measurement] = []
        self.remeasure = False  # auto: measure even where the cache has an entry
        self._eight_bit_input = False  # auto may time the int8 engines (an 8-bit image)
        self._int8_gate: bool | None = None  # quantize.passes_gate(model), once
        if self.device.type != "cpu":
            backend = "torch"  # GPUs always run PyTorch
        elif backend == "auto" and not engines.measuring():
            backend = model.cpu_backend
            if backend != "torch" and self._build(backend, required=False) is None:
                backend = "torch"
        elif backend != "auto" and backend != "torch":
            self._build(backend, required=True)
        self._fixed: str | None = None if backend == "auto" else backend
        self._last = self._fixed or "auto"

    @property
    def backend(self) -> str:
        """The engine forced, or the one ``auto`` chose for the last tiles (``auto`` before
        the first)."""
        return self._last

    def _build(self, engine: str, *, required: bool) -> engines.Runner | None:
        """The ONNX Runtime or OpenVINO runner (the model exported once, shared by both)."""
        if engine not in self._runners:
            def onnx() -> bytes:
                if self._onnx is None:
                    self._onnx = engines.export_onnx_bytes(self.model)
                    # the export left the weights contiguous: back to this Upscaler's format
                    self.model.to(memory_format=self.memory_format)
                return self._onnx

            runner = engines.create_runner(engine, self.model, required=required, onnx=onnx)
            if runner is None:
                return None
            self._runners[engine] = runner
        return self._runners[engine]

    def _torch_forward(self, batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            x = torch.from_numpy(batch).to(self.device, self.dtype)
            x = x.contiguous(memory_format=self.memory_format)
            model = self.model if self._compiled is None else self._compiled
            return model(x).float().cpu().numpy()

    def _int8_candidates(self) -> bool:
        """``auto`` may time the int8 engines: an 8-bit image and a model past the gate."""
        if not self._eight_bit_input:
            return False
        if self._int8_gate is None:
            from .quantize import passes_gate

            self._int8_gate = passes_gate(self.model)
        return self._int8_gate

    def _input_of(self, image: Image) -> contextlib.AbstractContextManager[None]:
        """While computing ``image``'s output: whether it is 8-bit (for ``auto``'s int8)."""
        return self._input_bits(image.dtype == np.uint8)

    @contextlib.contextmanager
    def _input_bits(self, eight_bit: bool) -> Iterator[None]:
        was, self._eight_bit_input = self._eight_bit_input, bool(eight_bit)
        try:
            yield
        finally:
            self._eight_bit_input = was

    def _engine_for(self, shape: tuple[int, ...]) -> str:
        if self._fixed is not None:
            return self._fixed
        int8 = self._int8_candidates()
        key = engines.shape_class(shape) + ("|int8" if int8 else "")
        if key not in self._chosen:
            factories = {"torch": lambda: self._torch_forward}
            names = engines.FLOAT_ENGINES[1:] + (engines.AUTO_INT8_ENGINES if int8 else ())
            for name in names:
                if engines.installed(name):
                    factories[name] = lambda name=name: self._build(name, required=False)
            measurement, runners = engines.choose(self.model, tuple(shape), factories,
                                                 remeasure=self.remeasure)
            # keep the winner only: the losers' sessions would hold memory for nothing
            for name in set(self._runners) - set(self._chosen.values()) - {measurement.chosen}:
                del self._runners[name]
            if measurement.chosen != "torch":
                self._runners[measurement.chosen] = runners[measurement.chosen]
            self._chosen[key] = measurement.chosen
            self.measurements.append(measurement)
        return self._chosen[key]

    # ------------------------------------------------------------------ public API
    @torch.inference_mode()
    def upscale(self, lr: torch.Tensor, progress: ProgressFn | None = None, *,
                eight_bit: bool | None = None) -> torch.Tensor:
        """``(B, C, H, W)`` float in [0, 1] -> ``(B, C, H * s, W * s)`` float32 on the CPU.

        Output is not clamped (clamping belongs to the conversion to an image).
        ``eight_bit=True`` says the tensor holds 8-bit levels, so that ``auto`` may time the
        int8 engines (:meth:`upscale_image` says it for uint8 images).
        """
        if eight_bit is not None:
            with self._input_bits(eight_bit):
                return self.upscale(lr, progress)
        if lr.ndim != 4:
            raise ImageError(f"lr must be (B, C, H, W), got {tuple(lr.shape)}")
        return torch.from_numpy(self._run(_array(lr), progress))

    def upscale_image(
        self, image: Image, *, range_mode: RangeMode = "auto", progress: ProgressFn | None = None
    ) -> Image:
        """Upscale an :class:`~irsrgan.image.Image`; the result keeps its dtype and layout."""
        lr, vmap = to_tensor(image, range_mode)
        with self._input_of(image):
            sr = self.upscale(lr, progress)
        return from_tensor(sr, image, vmap)

    def upscale_bands(self, lr: torch.Tensor) -> Iterator[tuple[int, torch.Tensor]]:
        """Like :meth:`upscale`, as ``(first HR row, rows (B, C, n, W * s))`` bands from top
        to bottom, so that a caller can write the output without holding it (memory bounded
        by a row of tiles). The bands, stacked, equal :meth:`upscale`'s output."""
        if lr.ndim != 4:
            raise ImageError(f"lr must be (B, C, H, W), got {tuple(lr.shape)}")
        for row, band in self._run_bands(_array(lr)):
            yield row, torch.from_numpy(band)

    def upscale_image_rows(self, image: Image, *, range_mode: RangeMode = "auto") -> ImageRows:
        """:meth:`upscale_image` as an :class:`~irsrgan.streaming.ImageRows`: the output's
        rows computed lazily, band by band, for :func:`~irsrgan.streaming.write_rows`."""
        lr, vmap = to_tensor(image, range_mode)

        def bands() -> Iterator[tuple[int, torch.Tensor]]:
            # inference mode around each step only: a generator suspended inside the `with`
            # would leave autograd off in its consumer (and in everything after it, until the
            # generator is collected)
            source = self.upscale_bands(lr)
            while True:
                with torch.inference_mode(), self._input_of(image):
                    item = next(source, None)
                if item is None:
                    return
                yield item[0], item[1][0]

        return unit_rows(image, vmap, self.scale, bands())

    def upscale_frames(
        self,
        frames: Iterable[Image],
        *,
        range_mode: RangeMode = "auto",
        value_map: ValueMap | None = None,
        temporal: float = 0.0,
        anchor: bool = False,
    ) -> Iterator[Image]:
        """Upscale a sequence, one frame at a time: an iterator of images in, one out.

        Memory does not depend on the sequence's length. Every frame goes through the same
        value map, so that the model sees a scene's values the same way in every frame
        (per-frame stretching would turn a change of the frame's extremes into a change of
        every pixel): ``value_map`` when given, else the map :func:`~irsrgan.image.value_map_for`
        chooses for the first frame (8-bit: its dtype; 16-bit and float: its min..max, later
        frames may go past [0, 1] and come back exactly). ``range_mode="stretch"`` stretches
        each frame on its own instead, as :meth:`upscale_image` does for stills.

        ``temporal`` (0 to 1) blends each output with the previous one carried forward where
        the input does not move (:class:`irsrgan.sequences.temporal.TemporalBlend`).

        ``anchor`` level-anchors each output to its LR frame before the blend
        (:func:`irsrgan.denoise.anchored_tensor`), as the denoise pair anchors stills at
        strengths above 0: a clip through ``pair.upscaler_for(S)`` then matches
        :meth:`DenoiseUpscaler.upscale_image <irsrgan.denoise.DenoiseUpscaler.upscale_image>`
        at S frame by frame (the CLI's streamed stills anchor after rounding, so saturated
        pixels may differ by a level).
        """
        from .sequences.temporal import TemporalBlend

        per_frame = range_mode == "stretch" and value_map is None
        if temporal and per_frame:
            raise ConfigError("temporal blending needs one value map for the clip, not "
                             "range_mode='stretch'")
        blend = TemporalBlend(temporal) if temporal else None
        if isinstance(self.model, MultiFrameNet):
            if per_frame:
                raise ConfigError("a multi-frame model reads each frame with its neighbours: "
                                  "it needs one value map for the clip, not "
                                  "range_mode='stretch'")
            if anchor:
                raise ConfigError("anchor is for the single-frame denoise pair, not a "
                                  "multi-frame model")
            yield from self._upscale_windows(self._clip_units(frames, range_mode, value_map),
                                             blend)
            return
        if per_frame:
            for image in frames:
                lr, vmap = to_tensor(image, "stretch")
                yield from_tensor(self._clip_frame(lr, image, anchor), image, vmap)
            return
        for image, unit, vmap in self._clip_units(frames, range_mode, value_map):
            lr = torch.from_numpy(unit)[None]
            sr = self._clip_frame(lr, image, anchor)
            if blend is not None:
                sr = blend(lr, sr)
            yield from_tensor(sr, image, vmap)

    def _clip_frame(self, lr: torch.Tensor, image: Image, anchor: bool) -> torch.Tensor:
        """One frame of :meth:`upscale_frames` (anchored to ``lr`` when asked)."""
        from .denoise import anchored_tensor

        with self._input_of(image):
            sr = self.upscale(lr)
        return anchored_tensor(sr, lr) if anchor else sr

    @staticmethod
    def _clip_units(frames: Iterable[Image], range_mode: RangeMode, vmap: ValueMap | None
                    ) -> Iterator[tuple[Image, np.ndarray, ValueMap]]:
        """``(image, model-space frame (C, h, w), the clip's value map)`` per frame: ``vmap``,
        or the map :func:`~irsrgan.image.value_map_for` chooses for the first frame."""
        for image in frames:
            chans = image.channels()
            if vmap is None:
                vmap = value_map_for(chans, range_mode)
            unit = vmap.to_unit(chans)
            bad = ~np.isfinite(unit)
            if bad.any():  # NaN marks invalid pixels: the mean in, NaN out (as to_tensor)
                unit[bad] = float(unit[~bad].mean()) if (~bad).any() else 0.0
            yield image, unit, vmap

    def _upscale_windows(self, units: Iterator[tuple[Image, np.ndarray, ValueMap]],
                         blend) -> Iterator[Image]:
        """:meth:`upscale_frames` for a multi-frame model: frame ``t`` from its window
        (:func:`irsrgan.windows.upscale_windows`)."""
        from .windows import upscale_windows

        pending: list[tuple[Image, ValueMap]] = []  # frames read ahead of the output

        def frames_only() -> Iterator[np.ndarray]:
            for image, unit, vmap in units:
                pending.append((image, vmap))
                yield unit

        model = self.model
        for lr, sr in upscale_windows(frames_only(), model.frames, model.align, self.upscale):
            if blend is not None:
                sr = blend(lr, sr)
            image, vmap = pending.pop(0)
            yield from_tensor(sr, image, vmap)

    # ------------------------------------------------------------------ internals
    @property
    def layout(self) -> tiling.Layout:
        """The model's scale, channels and size multiple, as :mod:`irsrgan.tiling` takes them."""
        return tiling.Layout(self.scale, self.model.in_channels, self.model.out_channels,
                             self.multiple)

    def _channel_bands(self, lr: np.ndarray, tile: int, progress: ProgressFn | None
                       ) -> Iterator[tuple[int, np.ndarray]]:
        return tiling.channel_bands(lr, self._forward, self.layout, tile=tile,
                                    overlap=self.overlap, batch_size=self.batch_size,
                                    progress=progress)

    def _run(self, lr: np.ndarray, progress: ProgressFn | None) -> np.ndarray:
        tile = self.tile_for(lr.shape[1])
        while True:
            try:
                return tiling.upscale(lr, self._forward, self.layout, tile=tile,
                                      overlap=self.overlap, batch_size=self.batch_size,
                                      progress=progress)
            except torch.cuda.OutOfMemoryError:
                if tile == 0:
                    tile = max(lr.shape[-2:])
                new = max(self.minimum_tile(), tile // 2)
                if new >= tile:
                    raise
                log.warning("out of GPU memory with tile %d, retrying with %d", tile, new)
                torch.cuda.empty_cache()
                tile = new

    def _run_bands(self, lr: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        """:func:`tiling.channel_bands` with the tile halved on GPU out-of-memory before the
        first band."""
        tile = self.tile_for(lr.shape[1])
        while True:
            bands = self._channel_bands(lr, tile, None)
            try:
                first = next(bands)
            except StopIteration:
                return
            except torch.cuda.OutOfMemoryError:
                new = max(self.minimum_tile(), (tile or max(lr.shape[-2:])) // 2)
                if new >= (tile or max(lr.shape[-2:])):
                    raise
                log.warning("out of GPU memory with tile %d, retrying with %d", tile, new)
                torch.cuda.empty_cache()
                tile = new
                continue
            yield first
            yield from bands
            return

    def minimum_tile(self) -> int:
        """Smallest tile whose cores stay wider than the blend band."""
        return tiling.minimum_tile(self.overlap)

    def tile_for(self, channels: int = 1) -> int:
        """The tile side this Upscaler runs ``channels``-channel input with: the one given, or
        :meth:`auto_tile`'s (0: no tiling)."""
        return self.tile if self.tile is not None else self.auto_tile(channels)

    def auto_tile(self, channels: int = 1) -> int:
        """A tile side from the memory the device has free (a quarter of it, at most 1 GiB on
        CPU) and a per-pixel estimate of the model's activations; at most 256 on CPU."""
        width = max(
            (m.out_channels for m in self.model.modules() if isinstance(m, nn.Conv2d)),
            default=64,
        )
        bytes_per_lr_px = 4 * width * (4 + self.scale**2) * self.batch_size
        if self.device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(self.device)
            budget = free // 4
        else:
            budget = min(psutil.virtual_memory().available // 4, 1 << 30)
        side = int(math.sqrt(budget / bytes_per_lr_px))
        # On CPU, tiles that keep activations near the caches run faster than whole images
        # (benchmarks/upscale_speed.py); GPUs prefer large tiles.
        cap = CPU_TILE if self.device.type == "cpu" else 1024
        side = max(self.minimum_tile(), min(cap, side))
        return side - side % max(8, self.multiple)

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        if not self.ensemble:
            return self._forward_once(batch)
        total = None
        for k in range(4):  # the 8 symmetries of the square, each undone on the output
            for flip in (False, True):
                x = np.rot90(batch, k, (2, 3))
                y = self._forward_once(np.ascontiguousarray(x[..., ::-1] if flip else x))
                y = np.rot90(y[..., ::-1] if flip else y, -k, (2, 3))
                total = y if total is None else total + y
        return total / np.float32(8)

    def _forward_once(self, batch: np.ndarray) -> np.ndarray:
        engine = self._engine_for(batch.shape)
        self._last = engine
        if engine != "torch":
            return self._runners[engine](batch)
        return self._torch_forward(batch)


def _array(lr: torch.Tensor) -> np.ndarray:
    """A float32 CPU view (or copy) of a tensor, for :mod:`irsrgan.tiling`."""
    return lr.detach().to("cpu", torch.float32).numpy()
