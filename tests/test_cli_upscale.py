"""`irsrgan upscale` on files and folders: mirroring, bad files, skipping, read-only output."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from irsrgan.checkpoint import save_model
from irsrgan.cli import main
from irsrgan.image import Image, read_image, write_image
from irsrgan.models import create_model


@pytest.fixture
def model_file(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "tiny.safetensors"
    save_model(create_model("compact", scale=2, num_features=8, num_convs=2), path)
    return path


@pytest.fixture
def folder(tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    write_image(src / "a.png", Image(rng.integers(0, 256, (10, 12), dtype=np.uint8)))
    write_image(src / "sub" / "b.tif",
                Image(rng.integers(9000, 15000, (9, 7), dtype=np.uint16), "tiff"))
    (src / "sub" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (src / "notes.txt").write_text("not an image")
    return src


def test_folder_in_folder_out_with_a_corrupt_file(tmp_path, folder, model_file, capsys):
    out = tmp_path / "out"
    code = main(["upscale", str(folder), "-o", str(out), "--model", str(model_file), "--quiet"])
    assert code == 1  # one file failed
    err = capsys.readouterr().err
    assert "broken.png" in err and "2 written" in err and "1 failed" in err
    a = read_image(out / "a.png")
    b = read_image(out / "sub" / "b.tif")
    assert a.pixels.shape == (20, 24) and a.dtype == np.uint8
    assert b.pixels.shape == (18, 14) and b.dtype == np.uint16 and b.format == "tiff"
    assert not (out / "sub" / "broken.png").exists()
    assert not (out / "notes.txt").exists()
    assert [p.name for p in out.rglob(".*")] == []  # no temporary files left


def test_existing_outputs_are_skipped_unless_overwrite(tmp_path, folder, model_file, capsys):
    out = tmp_path / "out"
    (out).mkdir()
    (out / "a.png").write_bytes(b"keep me")
    main(["upscale", str(folder / "a.png"), "-o", str(out), "--model", str(model_file),
          "--quiet"])
    assert (out / "a.png").read_bytes() == b"keep me"
    assert "1 skipped" in capsys.readouterr().err
    assert main(["upscale", str(folder / "a.png"), "-o", str(out), "--model", str(model_file),
                 "--quiet", "--overwrite"]) == 0
    assert read_image(out / "a.png").pixels.shape == (20, 24)


def test_input_is_never_overwritten(tmp_path, folder, model_file, capsys):
    before = (folder / "a.png").read_bytes()
    code = main(["upscale", str(folder / "a.png"), "-o", str(folder), "--model",
                 str(model_file), "--quiet", "--overwrite"])
    assert code == 1 and "refusing to overwrite an input" in capsys.readouterr().err
    assert (folder / "a.png").read_bytes() == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_output_directory_as_user(tmp_path, folder, model_file, capsys):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        code = main(["upscale", str(folder / "a.png"), "-o", str(out), "--model",
                     str(model_file), "--quiet"])
    finally:
        out.chmod(0o755)
    assert code == 2 and "not writable" in capsys.readouterr().err


def test_read_only_output_directory(tmp_path, folder, model_file, capsys, monkeypatch):
    """As root, permissions do not stop writes; simulate the OS refusing the folder."""
    import irsrgan.batch as batch

    def refuse(folder):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(batch, "_try_write", refuse)
    code = main(["upscale", str(folder / "a.png"), "-o", str(tmp_path / "ro"), "--model",
                 str(model_file), "--quiet"])
    assert code == 2 and "not writable" in capsys.readouterr().err


def test_write_failure_is_reported_and_leaves_nothing(tmp_path, folder, model_file, capsys,
                                                      monkeypatch):
    import contextlib

    import irsrgan.image as image_mod

    @contextlib.contextmanager
    def refuse(path):
        raise PermissionError(13, "Permission denied")
        yield

    monkeypatch.setattr(image_mod, "atomic_file", refuse)
    out = tmp_path / "out"
    code = main(["upscale", str(folder / "a.png"), "-o", str(out), "--model",
                 str(model_file), "--quiet"])
    assert code == 1 and "Permission denied" in capsys.readouterr().err
    assert list(out.iterdir()) == []


def test_single_file_to_named_output(tmp_path, folder, model_file):
    dst = tmp_path / "result.png"
    assert main(["upscale", str(folder / "a.png"), "-o", str(dst), "--model", str(model_file),
                 "--quiet", "--tile", "0"]) == 0
    assert read_image(dst).pixels.shape == (20, 24)


def test_sample_and_unknown_model(tmp_path, model_file, capsys):
    assert main(["upscale", "--sample", "-o", str(tmp_path / "d"), "--model", str(model_file),
                 "--quiet"]) == 0
    out = read_image(tmp_path / "d" / "thermal-sample.png")
    assert out.dtype == np.uint16 and out.pixels.shape == (240, 320)
    assert main(["upscale", "--sample", "-o", str(tmp_path / "e"), "--model", "nope"]) == 2
    assert "neither a file nor a bundled model" in capsys.readouterr().err


def test_missing_input_is_reported_and_the_batch_goes_on(tmp_path, folder, model_file, capsys):
    """A missing input is one failure among the others, not the end of the batch."""
    out = tmp_path / "o"
    assert main(["upscale", str(tmp_path / "ghost.png"), str(folder / "a.png"), "-o", str(out),
                 "--model", str(model_file), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert f"FAILED {tmp_path / 'ghost.png'}: no such file or folder" in err
    assert sorted(p.name for p in out.iterdir()) == ["a.png"]


def test_interpolated_model_on_the_fly(tmp_path, folder, model_file):
    torch.manual_seed(5)
    other = tmp_path / "b.safetensors"
    save_model(create_model("compact", scale=2, num_features=8, num_convs=2), other)
    outs = []
    for alpha in ("0", "1"):
        dst = tmp_path / f"r{alpha}.png"
        main(["upscale", str(folder / "a.png"), "-o", str(dst), "--model", str(model_file),
              "--model-b", str(other), "--alpha", alpha, "--quiet", "--tile", "0"])
        outs.append(read_image(dst).pixels)
    ref = tmp_path / "ref.png"
    main(["upscale", str(folder / "a.png"), "-o", str(ref), "--model", str(model_file),
          "--quiet", "--tile", "0"])
    assert np.array_equal(outs[0], read_image(ref).pixels)
    assert not np.array_equal(outs[0], outs[1])


def test_backend_option_picks_the_engine_and_both_agree(tmp_path, folder, model_file,
                                                        monkeypatch):
    pytest.importorskip("onnxruntime")
    from irsrgan import inference

    used = []

    class Recording(inference.Upscaler):
        def upscale_image_rows(self, *a, **k):  # what the CLI calls (it writes band by band)
            used.append(self.backend)
            return super().upscale_image_rows(*a, **k)

    monkeypatch.setattr(inference, "Upscaler", Recording)  # what upscale_cmd imports to run
    outs = []
    for backend in ("torch", "onnxruntime"):
        dst = tmp_path / f"{backend}.tif"
        assert main(["upscale", str(folder / "sub" / "b.tif"), "-o", str(dst), "--model",
                     str(model_file), "--backend", backend, "--quiet"]) == 0
        outs.append(read_image(dst).pixels.astype(np.int64))
    assert used == ["torch", "onnxruntime"]
    assert outs[0].shape == (18, 14)
    assert np.abs(outs[0] - outs[1]).max() <= 1  # float32 engines, 16-bit output: within 1 count


def test_ensemble_option_is_the_upscalers_self_ensemble(tmp_path, folder, model_file):
    from irsrgan.checkpoint import load_model
    from irsrgan.inference import Upscaler

    outs = {}
    for flag in ([], ["--ensemble"]):
        dst = tmp_path / f"e{len(flag)}.tif"
        assert main(["upscale", str(folder / "sub" / "b.tif"), "-o", str(dst), "--model",
                     str(model_file), "--backend", "torch", "--quiet", "--no-consistency",
                     *flag]) == 0
        outs[bool(flag)] = read_image(dst).pixels
    ref = Upscaler(load_model(model_file), device="cpu", backend="torch", ensemble=True)
    expected = ref.upscale_image(read_image(folder / "sub" / "b.tif")).pixels
    assert np.array_equal(outs[True], expected)
    assert not np.array_equal(outs[True], outs[False])
