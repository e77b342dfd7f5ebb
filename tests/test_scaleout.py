"""`irsrgan upscale` under torchrun: two CPU processes write the same files, byte for byte, as
one process; rank 0 prints the combined summary; a rerun finishes only what is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from irsrgan.batch import BatchResult
from irsrgan.checkpoint import save_model
from irsrgan.cli import main
from irsrgan.image import Image, write_image
from irsrgan.models import create_model


def _torchrun(args: list[str]) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
           "--rdzv-backend=c10d", "--rdzv-endpoint=localhost:0", "-m", "irsrgan", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def job(tmp_path):
    torch.manual_seed(0)
    model = tmp_path / "tiny.safetensors"
    save_model(create_model("compact", scale=2, num_features=8, num_convs=2), model)
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(4):
        write_image(src / f"{i}.png", Image(rng.integers(0, 256, (12 + i, 15), dtype=np.uint8)))
    write_image(src / "sub" / "t.tif",
                Image(rng.integers(9000, 15000, (9, 7), dtype=np.uint16), "tiff"))
    (src / "sub" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    return src, model


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_two_processes_write_what_one_writes(tmp_path, job, capsys):
    src, model = job
    assert main(["upscale", str(src), "-o", str(tmp_path / "one"), "--model", str(model),
                 "--quiet"]) == 1  # the broken file
    run = _torchrun(["upscale", str(src), "-o", str(tmp_path / "two"), "--model", str(model),
                     "--quiet"])
    assert run.returncode != 0  # every process reports the failure
    one, two = _files(tmp_path / "one"), _files(tmp_path / "two")
    assert len(one) == 5 and one == two
    # rank 0 alone prints the summary, for both processes
    assert run.stderr.count("5 written, 0 skipped") == 1 and "1 failed" in run.stderr
    assert "broken.png" in run.stderr and "images/s" in run.stderr

    (tmp_path / "two" / "2.png").unlink()
    rerun = _torchrun(["upscale", str(src), "-o", str(tmp_path / "two"), "--model", str(model),
                       "--quiet"])
    assert "1 written, 4 skipped" in rerun.stderr
    assert _files(tmp_path / "two") == one


def test_combined_result_adds_up_the_processes():
    a, b = BatchResult(), BatchResult()
    a.done, a.seconds, a.output_pixels = [Path("x.png")], 2.0, 100
    b.failed, b.seconds = [(Path("y.png"), "broken")], 3.0
    both = BatchResult.combined([a.to_json(), b.to_json()])
    assert [p.name for p in both.done] == ["x.png"] and both.failed[0][1] == "broken"
    assert (both.seconds, both.output_pixels, both.ok) == (3.0, 100, False)
