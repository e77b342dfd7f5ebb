"""Engine choice: measured once per machine, model and tile shape, cached; a stale or corrupt
cache is measured again; a forced backend is obeyed; every engine gives the same output."""

from __future__ import annotations

import gc
import json
import sys
import time

import pytest
import torch

from irsrgan import engines
from irsrgan.errors import ConfigError
from irsrgan.inference import Upscaler
from irsrgan.models import create_model


@pytest.fixture(autouse=True)
def _measure(monkeypatch, tmp_path):
    monkeypatch.setenv("IRSRGAN_MEASURE_ENGINES", "1")
    monkeypatch.setenv("IRSRGAN_CACHE_DIR", str(tmp_path / "cache"))


def _model():
    torch.manual_seed(0)
    return create_model("compact", scale=2, num_features=8, num_convs=2)


def _x():
    return torch.rand(1, 1, 40, 52, generator=torch.Generator().manual_seed(0))


def test_fastest_engine_is_chosen():
    def sleeper(seconds):
        def run(x):
            time.sleep(seconds)
            return x
        return run

    factories = {"torch": lambda: sleeper(0.02), "onnxruntime": lambda: sleeper(0.001),
                 "openvino": lambda: None}  # cannot run here: not a candidate
    m, runners = engines.choose(_model(), (1, 1, 64, 64), factories)
    assert m.chosen == "onnxruntime" and m.measured and set(m.seconds) == {"torch",
                                                                           "onnxruntime"}
    assert m.seconds["torch"] > 0.015 and m.seconds["onnxruntime"] < 0.015
    assert set(runners) == {"torch", "onnxruntime"}


def test_auto_measures_once_then_reads_the_cache():
    first = Upscaler(_model(), device="cpu", tile=0)
    want = Upscaler(_model(), device="cpu", tile=0, backend="torch").upscale(_x())
    got = first.upscale(_x())
    assert [m.measured for m in first.measurements] == [True]
    assert first.backend == first.measurements[0].chosen
    assert (got - want).abs().max() < 1e-5
    entries = json.loads(engines.cache_path().read_text())["entries"]
    assert list(entries.values())[0]["chosen"] == first.backend

    second = Upscaler(_model(), device="cpu", tile=0)
    second.upscale(_x())
    assert [m.measured for m in second.measurements] == [False]
    assert second.backend == first.backend
    second.upscale(_x())  # the same tile shape again: no new lookup
    assert len(second.measurements) == 1


def test_stale_entry_is_measured_again():
    Upscaler(_model(), device="cpu", tile=0).upscale(_x())
    path = engines.cache_path()
    data = json.loads(path.read_text())
    (entry,) = data["entries"].values()
    entry["versions"]["torch"] = "1.0.0"  # measured under another torch
    entry["chosen"] = "torch"
    path.write_text(json.dumps(data))
    up = Upscaler(_model(), device="cpu", tile=0)
    up.upscale(_x())
    assert [m.measured for m in up.measurements] == [True]
    (entry,) = json.loads(path.read_text())["entries"].values()
    assert entry["versions"] == engines.versions()


def test_entry_measured_among_other_candidates_is_measured_again():
    """An engine ``auto`` did not time when the entry was written (newly installed, or newly
    admitted, as OpenVINO's int8 was) makes the entry stale: the cached winner was chosen
    without it."""
    Upscaler(_model(), device="cpu", tile=0).upscale(_x())
    path = engines.cache_path()
    data = json.loads(path.read_text())
    (entry,) = data["entries"].values()
    assert entry["candidates"] == sorted(entry["candidates"]) and "torch" in entry["candidates"]
    entry["candidates"] = ["torch"]  # measured when torch was the only candidate
    path.write_text(json.dumps(data))
    up = Upscaler(_model(), device="cpu", tile=0)
    up.upscale(_x())
    assert [m.measured for m in up.measurements] == [True]
    up = Upscaler(_model(), device="cpu", tile=0)
    up.upscale(_x())
    assert [m.measured for m in up.measurements] == [False]  # and cached again


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"version": 99, "entries": {}}'])
def test_corrupt_cache_is_ignored_and_rewritten(content):
    path = engines.cache_path()
    path.parent.mkdir(parents=True)
    path.write_text(content)
    up = Upscaler(_model(), device="cpu", tile=0)
    up.upscale(_x())
    assert [m.measured for m in up.measurements] == [True]
    assert json.loads(path.read_text())["version"] == engines.CACHE_VERSION


def test_other_tile_shapes_and_models_are_measured_on_their_own():
    up = Upscaler(_model(), device="cpu", tile=0)
    up.upscale(_x())
    up.upscale(torch.rand(1, 1, 100, 30))
    torch.manual_seed(1)
    other = Upscaler(create_model("compact", scale=2, num_features=8, num_convs=2),
                     device="cpu", tile=0)
    other.upscale(_x())
    assert [m.measured for m in up.measurements + other.measurements] == [True, True, True]
    assert len(json.loads(engines.cache_path().read_text())["entries"]) == 3


@pytest.mark.parametrize("backend", ["torch", "onnxruntime", "openvino"])
def test_forced_backend_is_obeyed_without_measuring(backend):
    if not engines.installed(backend):
        pytest.skip(f"{backend} is not installed (optional extra)")
    up = Upscaler(_model(), device="cpu", tile=0, backend=backend)
    got = up.upscale(_x())
    want = Upscaler(_model(), device="cpu", tile=0, backend="torch").upscale(_x())
    assert up.backend == backend and up.measurements == []
    assert not engines.cache_path().exists()
    assert (got - want).abs().max() < 1e-5


def _signal_stack_is_sound() -> bool:
    """Whether this thread's alternate signal stack is off or lies in mapped memory (the
    kernel cannot deliver a signal onto an unmapped one: the process gets SIGSEGV)."""
    import ctypes

    class Stack(ctypes.Structure):
        _fields_ = [("sp", ctypes.c_void_p), ("flags", ctypes.c_int), ("size", ctypes.c_size_t)]

    stack = Stack()
    assert ctypes.CDLL(None, use_errno=True).sigaltstack(None, ctypes.byref(stack)) == 0
    if stack.flags & 2 or not stack.sp:  # SS_DISABLE
        return True
    with open("/proc/self/maps") as maps:
        spans = [[int(a, 16) for a in line.split()[0].split("-")] for line in maps]
    return any(lo <= stack.sp and stack.sp + stack.size <= hi for lo, hi in spans)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sigaltstack, /proc: Linux")
def test_openvino_runners_released_in_any_order_leave_a_sound_signal_stack():
    """OpenVINO's CPU plugin swaps the thread's signal stack for its own and unmaps it when
    released: two plugins released first-made-first left it unmapped, and the next signal
    with a Python handler (SIGCHLD after a subprocess) crashed the process. All runners share
    one Core, hence one plugin, kept for the process's life."""
    if not engines.installed("openvino"):
        pytest.skip("openvino is not installed (optional extra)")
    onnx = engines.export_onnx_bytes(_model())
    first = engines.OpenVinoRunner(onnx, 1)
    second = engines.OpenVinoRunner(onnx, 1)
    assert first.compiled is not second.compiled
    del first  # the first made, released first: the order that broke
    gc.collect()
    assert _signal_stack_is_sound()
    del second
    gc.collect()
    assert _signal_stack_is_sound()


def test_forced_engine_that_is_not_installed_names_the_extra(monkeypatch):
    monkeypatch.setattr(engines, "installed", lambda name: name == "torch")
    with pytest.raises(ConfigError, match=r"irsrgan\[openvino\]"):
        Upscaler(_model(), device="cpu", backend="openvino")
    up = Upscaler(_model(), device="cpu", tile=0)  # auto: torch is the only candidate
    up.upscale(_x())
    assert up.backend == "torch" and set(up.measurements[0].seconds) == {"torch"}


def test_measuring_off_takes_the_model_preference(monkeypatch):
    monkeypatch.setenv("IRSRGAN_MEASURE_ENGINES", "0")
    up = Upscaler(_model(), device="cpu", tile=0)  # CompactNet.cpu_backend = "torch"
    up.upscale(_x())
    assert up.backend == "torch" and up.measurements == []
    assert not engines.cache_path().exists()


def test_bench_command_prints_the_measurement(tmp_path, capsys):
    from irsrgan.checkpoint import save_model
    from irsrgan.cli import main

    save_model(_model(), tmp_path / "tiny.safetensors")
    args = ["bench", "--model", str(tmp_path / "tiny.safetensors"), "--size", "52x40"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "measured now" in out and "<- auto" in out and "ms/tile" in out
    assert main(args) == 0 and "from the cache" in capsys.readouterr().out
    assert main([*args, "--again"]) == 0 and "measured now" in capsys.readouterr().out
