from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from irsrgan.image import Image, write_image

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

#: What "the same" means for each kind of number the tests compare, in one table (absolute
#: tolerances; unit-range values unless said otherwise).
TOL = {
    # one PSNR reached along two paths (training's validation, evaluate, metrics)
    "psnr_db": 1e-6,
    # float32 values of one computation done two ways (sums in another order, a crop taken
    # before or after): validation's and evaluate's LR/HR, per-channel upscaling
    "reordered": 1e-6,
    # a network's output computed two ways in float32: padded vs plain forward, a
    # self-ensemble by hand
    "network": 1e-5,
    # tiled vs whole-image output, and ONNX Runtime vs PyTorch: blend weights and another
    # engine's kernels
    "tiled": 1e-4,
    # weights after a resumed run vs one that ran through
    "resume": 1e-6,
    # weights after 2 DDP processes vs 1 (all-reduce sums gradients in another order)
    "ddp": 1e-5,
    # an exported ONNX graph vs PyTorch
    "onnx": 1e-3,
}


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(2)
    yield


@pytest.fixture(autouse=True)
def _engines(tmp_path_factory, monkeypatch):
    """The same engine in every test (the model's recorded preference, not a timing on a
    shared machine), and no engine cache written to the home folder; tests/test_engines.py
    turns measuring on."""
    monkeypatch.setenv("IRSRGAN_MEASURE_ENGINES", "0")
    monkeypatch.setenv("IRSRGAN_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


def require_shared_data(sub: str = "") -> Path:
    path = SHARED_DATA / sub
    if not path.exists():
        pytest.skip(f"needs the real thermal data at {path} (../shared/data beside the repo)")
    return path


@pytest.fixture()
def one_thread():
    """Many small tensor ops: one thread (as in a DataLoader worker) avoids thread contention
    on a shared CPU (2 threads under load made some tests 20x slower)."""
    torch.set_num_threads(1)
    yield


def write_test_image(path: Path, pixels: np.ndarray, fmt: str = "png") -> Path:
    """Write ``pixels`` (gray or RGB) as an image file, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    layout = "gray" if pixels.ndim == 2 else "rgb"
    write_image(path, Image(pixels=pixels, format=fmt, layout=layout))
    return path
