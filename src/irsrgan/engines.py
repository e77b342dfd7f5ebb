"""CPU inference engines for the Upscaler, and the measured choice between them.

Engines: ``torch`` (eager, channels-last), ``onnxruntime`` (the ``onnx`` extra) and ``openvino``
(the ``openvino`` extra); the two others run the model exported to ONNX once, in memory.
``onnxruntime-int8`` and ``openvino-int8`` run the same graph quantised to int8
(:mod:`irsrgan.quantize`); ``auto`` times both (:data:`AUTO_INT8_ENGINES`) where the model
passed the int8 gate and the input is 8-bit. Which is fastest depends on the CPU, the
architecture and the tile size (on one 2-core AVX2 machine OpenVINO led by 1.4x, on an AVX-512
one the three tied on small inputs), so ``auto`` does not guess: :func:`choose` times every
installed engine on the tile shape the Upscaler is about to run (interleaved rounds, medians, a
few forwards) and remembers the winner in a small JSON file in the user cache directory, keyed
by machine, model weights, tile shape and engine versions. A corrupt file is ignored (and
rewritten); an entry measured with other versions of torch or the engines, or among other
candidate engines, is stale and measured
again. ``irsrgan bench`` prints the measurements. ``IRSRGAN_MEASURE_ENGINES=0`` turns measuring
off: ``auto`` then takes the model's recorded preference (``model.cpu_backend``), the same
engine every run.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .errors import ConfigError
from .models import Generator
from .runtimes import (  # noqa: F401 (re-exported)
    ENGINES,
    EXTRAS,
    FLOAT_ENGINES,
    INT8_ENGINES,
    EngineName,
    OpenVinoRunner,
    OrtRunner,
    open_runner,
)

log = logging.getLogger(__name__)

#: the int8 engines ``auto`` times. OpenVINO's int8 was left out for a while: timed beside
#: OpenVINO's float, a later subprocess's SIGCHLD crashed the process (two OpenVINO Cores
#: released in the wrong order unmapped the thread's signal stack;
#: :func:`irsrgan.runtimes.openvino_core`)
AUTO_INT8_ENGINES = ("onnxruntime-int8", "openvino-int8")
#: ``(B, C, h, w) float32 -> (B, C', h * s, w * s)``, NumPy in and out (:mod:`irsrgan.runtimes`)
Runner = Callable[[np.ndarray], np.ndarray]
CACHE_VERSION = 1
#: ``auto`` takes an int8 engine only when it is this much faster than the fastest float one:
#: int8 costs a little PSNR, which a tie within the timing noise is not worth
INT8_MARGIN = 0.10


def package(engine: str) -> str:
    """The package that runs ``engine`` (``openvino-int8`` -> ``openvino``)."""
    return engine.removesuffix("-int8")


def installed(engine: str) -> bool:
    """Whether ``engine``'s packages can be imported (torch always can; int8 also needs
    ONNX Runtime, which quantises the graph)."""
    if engine == "torch":
        return True
    import importlib.util

    needed = {package(engine)} | ({"onnxruntime"} if engine in INT8_ENGINES else set())
    return all(importlib.util.find_spec(name) is not None for name in needed)


def measuring() -> bool:
    """``auto`` measures unless ``IRSRGAN_MEASURE_ENGINES=0``."""
    return os.environ.get("IRSRGAN_MEASURE_ENGINES", "1").strip().lower() not in ("0", "no",
                                                                               "false", "off")


# --------------------------------------------------------------------------- the engines
def export_onnx_bytes(model: Generator) -> bytes:
    """``model`` as ONNX with dynamic batch, height and width (float32, in memory), traced on
    an input of its channels and a side of 16 times its size multiple."""
    m = model.size_multiple
    example = torch.zeros(1, model.in_channels, 16 * m, 16 * m)
    buf = io.BytesIO()
    cpu_model = model.float().to(memory_format=torch.contiguous_format)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            cpu_model, (example,), buf, input_names=["lr"], output_names=["sr"],
            dynamic_axes={"lr": {0: "b", 2: "h", 3: "w"}, "sr": {0: "b", 2: "H", 3: "W"}},
            opset_version=17, dynamo=False,
        )
    return buf.getvalue()


def create_runner(engine: str, model: Generator, *, required: bool,
                  onnx: Callable[[], bytes] | None = None) -> Runner | None:
    """A runner for ``onnxruntime`` or ``openvino`` (``-int8``: on the quantised graph);
    ``None`` (or, when ``required``, an error naming the missing extra or the export problem)
    where it cannot run this model. ``onnx`` gives the float32 graph (exported here if not)."""
    if not installed(engine):
        if required:
            extras = sorted({EXTRAS[package(engine)]}
                            | ({"onnx"} if engine in INT8_ENGINES else set()))
            raise ConfigError(f"backend {engine!r} needs: pip install "
                              f"'irsrgan[{','.join(extras)}]'")
        return None
    try:
        data = onnx() if onnx is not None else export_onnx_bytes(model)
        if engine in INT8_ENGINES:
            from .quantize import int8_onnx

            data = int8_onnx(model, data)
        return open_runner(package(engine), data, torch.get_num_threads())
    except Exception as exc:  # any export or compile problem: the caller falls back
        if required:
            raise ConfigError(f"cannot run this model with {engine}: {exc}") from exc
        log.debug("%s unavailable for this model (%s)", engine, exc)
        return None


# --------------------------------------------------------------------------- measuring
def machine_id() -> str:
    """The CPU model, its logical cores and the thread count in use."""
    name = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    return f"{name}|{os.cpu_count()} cpus|{torch.get_num_threads()} threads"


def model_id(model: Generator) -> str:
    """A digest of the model's class and weights (the same weights give the same id)."""
    h = hashlib.sha256(type(model).__name__.encode())
    for key, value in model.state_dict().items():
        h.update(key.encode())
        h.update(str(tuple(value.shape)).encode())
        h.update(value.detach().float().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def versions() -> dict[str, str]:
    """torch's and each installed engine's version: an entry measured under others is stale."""
    out = {"torch": torch.__version__}
    for engine in ("onnxruntime", "openvino"):  # the int8 engines: the same packages
        if installed(engine):
            try:
                out[engine] = __import__(engine).__version__
            except Exception:  # a broken install: not a candidate either
                out[engine] = "broken"
    return out


def shape_class(shape: tuple[int, ...]) -> str:
    """Batch, channels and the tile's longer side rounded up to a power of two (at least 32):
    the near-equal tiles of one image fall in one class, so one measurement serves them all."""
    b, c, h, w = shape
    side = 32
    while side < max(h, w):
        side *= 2
    return f"{b}x{c}x{side}"


def cache_path() -> Path:
    """``$IRSRGAN_CACHE_DIR`` or ``$XDG_CACHE_HOME/irsrgan`` or ``~/.cache/irsrgan``, then
    ``engines.json``."""
    folder = os.environ.get("IRSRGAN_CACHE_DIR")
    if not folder:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
        folder = os.path.join(base, "irsrgan")
    return Path(folder) / "engines.json"


def _load(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable engine cache %s (%s); measuring again", path, exc)
        return {}
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION \
            or not isinstance(data.get("entries"), dict):
        log.warning("ignoring engine cache %s of another format; measuring again", path)
        return {}
    return data["entries"]


def _save(path: Path, entries: dict) -> None:
    from .image import atomic_write_bytes

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, json.dumps({"version": CACHE_VERSION, "entries": entries},
                                            indent=1, sort_keys=True).encode())
    except OSError as exc:  # a read-only home: measure again next time, say so once
        log.warning("cannot write engine cache %s: %s", path, exc.strerror or exc)


@dataclass(frozen=True)
class Measurement:
    """Median seconds per forward of each engine on one tile shape, and the choice."""

    key: str
    seconds: Mapping[str, float]
    chosen: str
    measured: bool  # False: read from the cache


def _valid(entry: object, vers: dict[str, str], candidates: list[str]) -> bool:
    """A cache entry measured under these versions, among these candidates (a new candidate,
    e.g. an engine ``auto`` did not time before, makes it stale)."""
    return (isinstance(entry, dict) and entry.get("versions") == vers
            and entry.get("candidates") == candidates
            and isinstance(entry.get("seconds"), dict) and entry.get("chosen") in ENGINES
            and entry["chosen"] in entry["seconds"]
            and all(isinstance(v, (int, float)) for v in entry["seconds"].values()))


def time_engines(runners: Mapping[str, Runner], example: np.ndarray, *,
                 budget_s: float = 4.0, max_rounds: int = 5) -> dict[str, float]:
    """Median seconds per forward of each runner on ``example``: one warm-up forward each,
    then interleaved rounds (every engine once per round) while the budget lasts (at least
    two rounds)."""
    spent = time.perf_counter()
    for run in runners.values():
        run(example)
    times: dict[str, list[float]] = {name: [] for name in runners}
    for rounds in range(max_rounds):
        for name, run in runners.items():
            t = time.perf_counter()
            run(example)
            times[name].append(time.perf_counter() - t)
        if rounds >= 1 and time.perf_counter() - spent > budget_s:
            break
    return {name: statistics.median(v) for name, v in times.items()}


def winner(seconds: Mapping[str, float]) -> str:
    """The fastest float engine, unless an int8 one beats it by :data:`INT8_MARGIN`."""
    floats = {k: v for k, v in seconds.items() if k not in INT8_ENGINES}
    best = min(floats, key=floats.get)
    ints = {k: v for k, v in seconds.items() if k in INT8_ENGINES}
    if ints:
        fastest = min(ints, key=ints.get)
        if ints[fastest] < floats[best] * (1 - INT8_MARGIN):
            return fastest
    return best


def choose(model: Generator, shape: tuple[int, ...],
           factories: Mapping[str, Callable[[], Runner | None]], *,
           remeasure: bool = False) -> tuple[Measurement, dict[str, Runner]]:
    """The fastest engine for ``model`` on tiles of ``shape``, from the cache or measured.

    ``factories`` builds each candidate's runner (``None``: cannot run here); the cache entry
    is kept per set of candidates (with or without the int8 engines). Returns the measurement
    and the runners built (measuring builds all; a cache hit only the chosen)."""
    vers = versions()
    key = "|".join([machine_id(), model_id(model), shape_class(shape)])
    if any(name in INT8_ENGINES for name in factories):
        key += "|int8"
    path = cache_path()
    entries = _load(path)
    entry = entries.get(key)
    candidates = sorted(factories)
    if not remeasure and _valid(entry, vers, candidates):
        runner = factories[entry["chosen"]]() if entry["chosen"] in factories else None
        if runner is not None:
            return Measurement(key, entry["seconds"], entry["chosen"], False), \
                {entry["chosen"]: runner}
    if entry is not None and not remeasure:
        log.info("engine cache entry for this model is stale; measuring again")
    runners = {name: r for name, make in factories.items() if (r := make()) is not None}
    example = np.random.default_rng(0).random(shape, dtype=np.float32)
    seconds = time_engines(runners, example)
    chosen = winner(seconds)
    log.info("engines on %s tiles: %s -> %s", shape_class(shape),
             ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in seconds.items()), chosen)
    entries = _load(path)  # another process may have written meanwhile
    entries[key] = {"versions": vers, "candidates": candidates, "seconds": seconds,
                    "chosen": chosen,
                    "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    _save(path, entries)
    return Measurement(key, seconds, chosen, True), runners
