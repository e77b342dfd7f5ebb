"""int8 on the CPU: the generator's ONNX graph quantised after training, and the gate that
decides where ``auto`` may use it.

:func:`int8_onnx` turns a generator into an ONNX Runtime QDQ graph (static post-training
quantisation: int8 weights per output channel, uint8 activations). Each activation's range is
its min and max over all the calibration crops: narrower ranges (the crops' mean min/max, a
percentile) are closer to float32 on average but clip the extremes, hot spots included, by
up to 9 to 29 8-bit levels on other training crops against 4 (``python
scripts/int8_calibration_methods.py``). The crops are bundled
(``weights/int8/calibration-lr.npy``: 32 LR crops of HIT-UAV *training* frames, made by
``scripts/make_int8_calibration.py``). Only the convolutions are
quantised, and not the two at each end (:data:`FLOAT_LAYERS`; they are the most sensitive, and
the first reads the input): the input, the output and the nearest-upsampled skip stay float,
so what int8 changes is the residual the network adds, never the input's own levels (a 16-bit
input's fine steps go through the skip exactly).
ONNX Runtime runs the graph with its int8 kernels (VNNI where the CPU has it); OpenVINO reads
the same graph and runs it in int8 too. The graph is built once per weights, engine version
and recipe (a few seconds) and kept in the user cache directory beside ``engines.json``; a
cached file that does not load is rebuilt.

The quantised network is not the float one: it loses some PSNR. ``auto`` therefore considers
int8 (``engines.AUTO_INT8_ENGINES``) only where a measurement says the loss is
small: the model's weights are
listed as passed in ``weights/int8/gate.json`` (written by ``python scripts/int8_gate.py``:
mean PSNR on the 85 hit-uav/val frames, int8 within :data:`GATE_DB` of float32), and the
input is 8-bit: a 16-bit or radiometric input keeps float32 (its values pass the skip
exactly in int8 too, but its residual would be computed from uint8 activations).
``--backend onnxruntime-int8`` or ``openvino-int8`` forces int8 for any model and input.
"""

from __future__ import annotations

import json
import logging
import tempfile
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from .errors import ConfigError
from .models import Generator

log = logging.getLogger(__name__)

#: ONNX Runtime's calibration method and its options: the min/max over all crops
CALIBRATION = ("MinMax", {})
#: convolutions kept in float32 at each end of the graph
FLOAT_LAYERS = 2
#: part of the cached graph's name: bump it when the recipe (calibration, crops, layers) changes
RECIPE = 2
#: ``auto`` uses int8 only where the mean PSNR on hit-uav/val is at most this far below fp32
GATE_DB = 0.05


def _bundled(name: str) -> Path:
    return Path(str(resources.files("irsrgan") / "weights" / "int8" / name))


def calibration_crops() -> np.ndarray:
    """The bundled calibration LR crops as ``(N, 1, 64, 64)`` float32 in [0, 1]."""
    crops = np.load(_bundled("calibration-lr.npy"), allow_pickle=False)
    return (crops.astype(np.float32) / 255.0)[:, None]


def _not_onnxruntime(record: logging.LogRecord) -> bool:
    """Drops the records ONNX Runtime's quantiser logs on the root logger (advice to
    pre-process the model); anything else, from any thread, still goes through."""
    return "onnxruntime" not in record.pathname


def quantize_onnx(onnx_fp32: bytes, crops: np.ndarray,
                  calibration: tuple[str, dict] | None = None) -> bytes:
    """``onnx_fp32`` as a QDQ int8 graph calibrated on ``crops`` (``(N, C, h, w)`` float32):
    every convolution but :data:`FLOAT_LAYERS` at each end, weights per channel;
    ``calibration`` is ONNX Runtime's method and options (default: :data:`CALIBRATION`).
    The first convolution stays float so that the graph's input is never quantised (the skip
    connection reads it too)."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    method, options = calibration or CALIBRATION
    graph = onnx.load_from_string(onnx_fp32)
    convs = [node.name for node in graph.graph.node if node.op_type == "Conv"]
    if len(convs) <= 2 * FLOAT_LAYERS:
        raise ConfigError(f"int8: the model's graph has {len(convs)} convolutions, too few to "
                          f"quantise any but the {FLOAT_LAYERS} kept float at each end")
    kept_float = convs[:FLOAT_LAYERS] + convs[len(convs) - FLOAT_LAYERS:]
    input_name = graph.graph.input[0].name

    class Crops(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(crops)

        def get_next(self):
            item = next(self.items, None)
            return None if item is None else {input_name: np.ascontiguousarray(item[None])}

    with tempfile.TemporaryDirectory(prefix="irsrgan-int8-") as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        src.write_bytes(onnx_fp32)
        root = logging.getLogger()  # onnxruntime.quantization logs its advice to it
        root.addFilter(_not_onnxruntime)
        try:
            quantize_static(str(src), str(dst), Crops(), quant_format=QuantFormat.QDQ,
                            per_channel=True, activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8, op_types_to_quantize=["Conv"],
                            nodes_to_exclude=kept_float,
                            calibrate_method=getattr(CalibrationMethod, method),
                            extra_options=dict(options))
        finally:
            root.removeFilter(_not_onnxruntime)
        return dst.read_bytes()


def int8_onnx(model: Generator, onnx_fp32: bytes | None = None) -> bytes:
    """The int8 QDQ graph of ``model``: from the cache, or quantised now and cached."""
    import onnx
    import onnxruntime

    from . import engines
    from .image import atomic_write_bytes

    path = engines.cache_path().parent / "int8" / (
        f"{engines.model_id(model)}-r{RECIPE}-ort{onnxruntime.__version__}.onnx")
    if path.is_file():
        data = path.read_bytes()
        try:  # parsed and checked, not compiled: the runner compiles it once, after this
            onnx.checker.check_model(onnx.load_from_string(data))
            return data
        except Exception as exc:  # a truncated or foreign file: quantise again
            log.warning("ignoring unloadable int8 cache %s (%s)", path, exc)
    data = quantize_onnx(onnx_fp32 if onnx_fp32 is not None else engines.export_onnx_bytes(model),
                         calibration_crops())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data)
    except OSError as exc:  # a read-only home: quantise again next time
        log.warning("cannot write int8 cache %s: %s", path, exc.strerror or exc)
    return data


@lru_cache(maxsize=1)
def gate_entries() -> dict[str, dict]:
    """``weights/int8/gate.json``'s entries by model id (empty where the file is absent)."""
    path = _bundled("gate.json")
    try:
        entries = json.loads(path.read_text())["entries"]
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring unreadable int8 gate %s (%s)", path, exc)
        return {}
    return entries if isinstance(entries, dict) else {}


def passes_gate(model: Generator) -> bool:
    """Whether ``model``'s weights were measured within :data:`GATE_DB` in int8."""
    from .engines import model_id

    entry = gate_entries().get(model_id(model))
    return isinstance(entry, dict) and entry.get("passed") is True
