"""ONNX Runtime and OpenVINO sessions on the CPU, NumPy in and NumPy out (no PyTorch).

A runner is a callable ``(B, C, h, w) float32 -> (B, C', h * s, w * s) float32`` around one
compiled ONNX graph. :mod:`irsrgan.engines` times them against PyTorch for the
:class:`~irsrgan.inference.Upscaler`; :class:`~irsrgan.onnx_upscaler.OnnxUpscaler` runs them
on their own, without importing PyTorch.
"""

from __future__ import annotations

import threading
from typing import Literal

import numpy as np

#: the CPU engines' names (:mod:`irsrgan.engines` chooses among them)
EngineName = Literal["auto", "torch", "onnxruntime", "openvino", "onnxruntime-int8",
                     "openvino-int8"]
FLOAT_ENGINES = ("torch", "onnxruntime", "openvino")
INT8_ENGINES = ("onnxruntime-int8", "openvino-int8")
ENGINES = FLOAT_ENGINES + INT8_ENGINES
#: the pip extra that brings each ONNX engine's package
EXTRAS = {"onnxruntime": "onnx", "openvino": "openvino"}


class OrtRunner:
    """An ONNX model run by ONNX Runtime on the CPU."""

    def __init__(self, onnx: bytes | str, threads: int) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(onnx, opts, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(batch, dtype=np.float32)
        return self.session.run(None, {self.input: x})[0]

    def metadata(self) -> dict[str, str]:
        """The graph's ``metadata_props`` (what :func:`irsrgan.export.export_onnx` wrote)."""
        return dict(self.session.get_modelmeta().custom_metadata_map)


_openvino_core = None
_openvino_lock = threading.Lock()


def openvino_core():
    """The process's one ``openvino.Core``, made on first use and never released.

    Each Core loads its own CPU plugin, and each CPU plugin swaps the calling thread's
    signal stack (``sigaltstack``) for one of its own and, when destroyed, unmaps it, putting
    back the one it replaced only if its own is still the thread's. Two plugins released in
    the order they were made (a Core per runner, the loser of ``auto``'s timing released
    first) thus left the thread's signal stack pointing at unmapped memory: the next signal
    with a Python handler (SIGCHLD, installed by torch's DataLoader, when a subprocess ended)
    killed the process with SIGSEGV. One Core, kept for the process's life, makes one plugin
    and never unmaps its stack."""
    global _openvino_core
    with _openvino_lock:
        if _openvino_core is None:
            import openvino as ov

            _openvino_core = ov.Core()
        return _openvino_core


class OpenVinoRunner:
    """An ONNX model compiled by OpenVINO for the CPU, in float32 (no automatic bf16)."""

    def __init__(self, onnx: bytes | str, threads: int) -> None:
        core = openvino_core()
        graph = core.read_model(onnx) if isinstance(onnx, str) else core.read_model(onnx, b"")
        rt = graph.get_rt_info()
        self._metadata = ({k: v.astype(str) for k, v in rt["framework"].items()}
                          if graph.has_rt_info(["framework"]) else {})
        self.compiled = core.compile_model(graph, "CPU", {
            "INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": "f32",
        })
        self.request = self.compiled.create_infer_request()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(batch, dtype=np.float32)
        return np.array(self.request.infer({0: x})[0], copy=True)

    def metadata(self) -> dict[str, str]:
        """The graph's ``metadata_props`` (what :func:`irsrgan.export.export_onnx` wrote)."""
        return dict(self._metadata)


def open_runner(package: str, graph: bytes | str, threads: int) -> OrtRunner | OpenVinoRunner:
    """A runner on ``graph`` (serialised, or a file's path) with the engine ``package``
    (``onnxruntime`` or ``openvino``)."""
    cls = OrtRunner if package == "onnxruntime" else OpenVinoRunner
    return cls(graph, threads)
