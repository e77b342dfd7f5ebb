"""The server's job queue without HTTP: JobManager over a ModelCache of tiny models (submit,
progress, results, cancel, queue limit, expiry, failures, shutdown). No FastAPI needed."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from irsrgan.checkpoint import load_model, save_model
from irsrgan.errors import CheckpointError, ConfigError
from irsrgan.image import Image, decode_image
from irsrgan.inference import Upscaler
from irsrgan.models import create_model
from irsrgan.server.catalog import ModelCache, build_catalog
from irsrgan.server.jobs import JobManager, QueueFull
from irsrgan.server.settings import ServerConfig

OVERLAP = 4
WAIT_S = 30.0


def _tiny(path: Path, *, seed: int, scale: int = 2) -> Path:
    torch.manual_seed(seed)
    save_model(create_model("compact", scale=scale, num_features=8, num_convs=2), path)
    return path


@pytest.fixture(scope="module")
def model_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("models")
    return {"tiny-x2": _tiny(folder / "tiny-x2.safetensors", seed=1),
            "tiny-psnr-x2": _tiny(folder / "tiny-psnr-x2.safetensors", seed=0)}


def _manager(model_files, loader=load_model, **settings) -> JobManager:
    config = ServerConfig(models=tuple(str(p) for p in model_files.values()),
                          include_bundled=False, backend="torch", device="cpu",
                          overlap=OVERLAP, workers=1, preload=False, **settings)
    catalog, _ = build_catalog(config)
    return JobManager(ModelCache(catalog, config, loader), config)


def _gated_loader(gate: threading.Event):
    """Loads the real model; each forward pass waits while ``gate`` is closed."""

    def hook(_module, _inputs):
        assert gate.wait(timeout=WAIT_S), "the test never opened the gate"

    def load(path):
        model = load_model(path)
        model.register_forward_pre_hook(hook)
        return model

    return load


def _image(seed: int = 0, h: int = 24, w: int = 32) -> Image:
    return Image(np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8))


def _wait(job, until=("done", "failed", "cancelled")):
    end = time.monotonic() + WAIT_S
    while job.status not in until:
        assert time.monotonic() < end, f"job still {job.status}"
        time.sleep(0.01)
    return job


def test_a_job_gives_what_the_library_gives(model_files):
    manager = _manager(model_files)
    try:
        image = _image()
        job = manager.submit(image, "a.png", "tiny-x2", None, 24, "auto")
        _wait(job)
        assert job.status == "done" and job.error is None
        out = decode_image(job.result)
        ref = Upscaler(load_model(model_files["tiny-x2"]), device="cpu", tile=24,
                       overlap=OVERLAP, backend="torch").upscale_image(image)
        np.testing.assert_array_equal(out.pixels, ref.pixels)
        info = job.to_json()
        assert info["progress"]["fraction"] == 1.0 and info["progress"]["done"] >= 2
        assert info["output"] == {"width": 64, "height": 48, "format": "png", "dtype": "uint8",
                                  "filename": "a_x2.png", "media_type": "image/png"}
        assert job.preview is not None and job.preview_bicubic is not None
        assert job.metrics["hf_ratio"] > 0 and job.image is None  # the input is dropped
        assert manager.counts() == {"done": 1}
        manager.release(job)
        assert manager.get(job.id) is None and job.result is None
    finally:
        manager.shutdown()


def test_alpha_and_unknown_models(model_files):
    manager = _manager(model_files)
    try:
        job = _wait(manager.submit(_image(), "a.png", "tiny-x2", 0.333, None, "auto"))
        assert job.status == "done" and job.alpha == 0.33  # rounded to ALPHA_STEP
        assert job.key == ("tiny-psnr-x2+tiny-x2", 0.33)
        with pytest.raises(ConfigError, match="model must be one of"):
            manager.submit(_image(), "a.png", "nope", None, None, "auto")
        with pytest.raises(ConfigError, match="alpha must be a number in"):
            manager.submit(_image(), "a.png", "tiny-x2", 1.5, None, "auto")
        assert list(manager.jobs) == [job.id]  # refused requests leave no job
    finally:
        manager.shutdown()


def test_cancel_a_running_job_and_the_queue_limit(model_files):
    gate = threading.Event()
    manager = _manager(model_files, _gated_loader(gate), max_jobs=2)
    try:
        first = manager.submit(_image(0), "a.png", "tiny-x2", None, 24, "auto")
        second = manager.submit(_image(1), "b.png", "tiny-x2", None, 24, "auto")
        with pytest.raises(QueueFull, match="too many jobs: 2 are queued or running"):
            manager.submit(_image(2), "c.png", "tiny-x2", None, 24, "auto")
        _wait(first, until=("running",))
        manager.cancel(first)
        assert first.status == "cancelling"
        manager.cancel(second)  # still queued: cancelled at once
        assert second.status == "cancelled"
        gate.set()
        assert _wait(first).status == "cancelled" and first.result is None
        # finished jobs make room: the oldest is dropped for a new one
        third = manager.submit(_image(2), "c.png", "tiny-x2", None, 24, "auto")
        assert _wait(third).status == "done"
        assert len(manager.jobs) == 2 and third.id in manager.jobs
    finally:
        gate.set()
        manager.shutdown()


def test_finished_results_expire(model_files):
    manager = _manager(model_files, result_ttl=0.0)
    try:
        job = _wait(manager.submit(_image(), "a.png", "tiny-x2", None, None, "auto"))
        assert job.status == "done"
        assert manager.get(job.id) is None and job.result is None
    finally:
        manager.shutdown()


def test_a_broken_model_file_is_an_internal_failure(model_files):
    def broken(path):
        raise CheckpointError(f"{path.name}: truncated")

    manager = _manager(model_files, broken)
    try:
        job = _wait(manager.submit(_image(), "a.png", "tiny-x2", None, None, "auto"))
        assert job.status == "failed" and job.error_kind == "internal"
        assert job.error == "model tiny-x2 cannot be loaded: tiny-x2.safetensors: truncated"
    finally:
        manager.shutdown()


def test_shutdown_cancels_and_forgets_everything(model_files):
    gate = threading.Event()
    manager = _manager(model_files, _gated_loader(gate))
    job = manager.submit(_image(), "a.png", "tiny-x2", None, 24, "auto")
    queued = manager.submit(_image(1), "b.png", "tiny-x2", None, 24, "auto")
    _wait(job, until=("running",))
    threading.Timer(0.2, gate.set).start()
    manager.shutdown()
    assert manager.jobs == {} and manager.cache.keys() == []
    assert job.status == "cancelled" and queued.status in ("queued", "cancelled")
