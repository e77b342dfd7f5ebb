"""``irsrgan degrade``: bit depth, names, skipping, failures, preview, determinism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from irsrgan.cli import main
from irsrgan.image import read_image

from .conftest import SHARED_DATA
from .conftest import write_test_image as _write

DATA = SHARED_DATA


pytestmark = pytest.mark.usefixtures("one_thread")




@pytest.fixture()
def hr_dir(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    root = tmp_path / "hr"
    _write(root / "a.png", rng.integers(0, 256, (32, 40), dtype=np.uint8))
    _write(root / "sub" / "b.jpg", rng.integers(0, 256, (34, 41), dtype=np.uint8), "jpeg")
    raw = (14000 + 1000 * rng.random((36, 44))).astype(np.uint16)
    _write(root / "c16.png", raw)
    _write(root / "d16.tif", raw[:32, :32].copy(), "tiff")
    return root


def test_degrade_folder_keeps_names_formats_and_bit_depth(hr_dir, tmp_path, capsys):
    out = tmp_path / "lr"
    rc = main(["degrade", str(hr_dir), "-o", str(out), "--scale", "4", "--preset", "thermal"])
    assert rc == 0
    assert "degraded 4, skipped 0 existing, failed 0" in capsys.readouterr().out
    shapes = {"a.png": (8, 10), "sub/b.jpg": (8, 10), "c16.png": (9, 11), "d16.tif": (8, 8)}
    for name, shape in shapes.items():
        img = read_image(out / name)
        src = read_image(hr_dir / name)
        assert img.pixels.shape == shape, name
        assert img.dtype == src.dtype and img.format == src.format, name
    c16 = read_image(out / "c16.png").pixels
    src16 = read_image(hr_dir / "c16.png").pixels
    assert c16.dtype == np.uint16
    # raw counts stay raw counts: inside the HR's range, not stretched to 0..65535
    assert src16.min() <= c16.min() and c16.max() <= src16.max()
    assert c16.max() - c16.min() > 200
    assert tifffile.imread(out / "d16.tif").dtype == np.uint16


def test_16bit_values_follow_the_hr(tmp_path):
    ramp = np.tile(np.linspace(14000, 15000, 64), (64, 1)).astype(np.uint16)
    _write(tmp_path / "r.png", ramp)
    assert main(["degrade", str(tmp_path / "r.png"), "-o", str(tmp_path / "o.png"),
                 "-s", "2", "-p", "bicubic"]) == 0
    lr = read_image(tmp_path / "o.png").pixels.astype(np.float64)
    expected = ramp[::2].astype(np.float64).reshape(32, 32, 2).mean(axis=2)
    assert np.abs(lr - expected)[:, 2:-2].max() <= 1.0  # bicubic of a ramp: the ramp


def test_existing_outputs_skipped_unless_overwrite(hr_dir, tmp_path, capsys):
    out = tmp_path / "lr"
    args = ["degrade", str(hr_dir), "-o", str(out), "-s", "2", "-p", "thermal", "--seed", "1"]
    assert main(args) == 0
    marker = out / "a.png"
    _write(marker, np.zeros((3, 3), np.uint8))
    capsys.readouterr()
    assert main(args) == 0
    assert "degraded 0, skipped 4" in capsys.readouterr().out
    assert read_image(marker).pixels.shape == (3, 3)
    assert main([*args, "--overwrite"]) == 0
    assert read_image(marker).pixels.shape == (16, 20)


def test_same_seed_same_files_other_seed_differs(hr_dir, tmp_path):
    runs = {}
    for tag, seed in (("x", 3), ("y", 3), ("z", 4)):
        out = tmp_path / tag
        assert main(["degrade", str(hr_dir), "-o", str(out), "-s", "2", "-p", "thermal",
                     "--seed", str(seed)]) == 0
        runs[tag] = read_image(out / "c16.png").pixels
    assert np.array_equal(runs["x"], runs["y"])
    assert not np.array_equal(runs["x"], runs["z"])


def test_bad_file_reported_rest_processed(hr_dir, tmp_path, capsys):
    (hr_dir / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    _write(hr_dir / "tiny.png", np.zeros((2, 2), np.uint8))
    out = tmp_path / "lr"
    rc = main(["degrade", str(hr_dir), "-o", str(out), "-s", "4"])
    cap = capsys.readouterr()
    assert rc == 1
    assert "FAILED" in cap.err and "broken.png" in cap.err
    assert "tiny.png: 2x2 is smaller" in cap.err
    assert "degraded 4, skipped 0 existing, failed 2" in cap.out
    assert (out / "a.png").exists() and not (out / "broken.png").exists()


def test_preview_grid(hr_dir, tmp_path, capsys):
    prev = tmp_path / "p" / "grid.png"
    rc = main(["degrade", str(hr_dir / "a.png"), "-s", "2", "-p", "thermal", "--preview",
               str(prev), "--preview-draws", "5"])
    assert rc == 0
    grid = read_image(prev).pixels
    # HR + 5 draws = 6 tiles of 32x40 in rows of 4 with 4 px gaps: 2 rows
    assert grid.shape == (2 * 32 + 4, 4 * 40 + 3 * 4)
    assert grid.dtype == np.uint8
    tiles = [grid[r * 36: r * 36 + 32, c * 44: c * 44 + 40][14:, :] for r, c in
             ((0, 1), (0, 2), (0, 3), (1, 0))]
    assert any(not np.array_equal(tiles[0], t) for t in tiles[1:])  # the draws differ
    assert not any(Path(tmp_path).glob("lr*"))


@pytest.mark.parametrize("argv,match", [
    (["-s", "2"], "give -o OUTPUT"),
    (["-s", "2", "-o", "X", "-p", "nope"], "unknown preset 'nope'"),
    (["-s", "0", "-o", "X"], "--scale must be >= 1"),
    (["-s", "2", "--preview", "p.jpg"], "must be a .png"),
])
def test_user_errors_exit_2(hr_dir, tmp_path, capsys, argv, match):
    argv = [a.replace("X", str(tmp_path / "o")) for a in argv]
    assert main(["degrade", str(hr_dir), *argv]) == 2
    assert match in capsys.readouterr().err


def test_missing_input(tmp_path, capsys):
    assert main(["degrade", str(tmp_path / "none"), "-o", str(tmp_path / "o"), "-s", "2"]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.skipif(not (DATA / "flir-radiometric" / "raw16").is_dir(),
                    reason="../shared/data is absent")
def test_real_raw16_frame_stays_in_raw_counts(tmp_path):
    src = DATA / "flir-radiometric" / "raw16" / "10_-_IR_Fussbodenheizung_raw16.png"
    out = tmp_path / "o.png"
    assert main(["degrade", str(src), "-o", str(out), "-s", "4", "-p", "thermal"]) == 0
    hr, lr = read_image(src).pixels, read_image(out).pixels
    assert lr.dtype == np.uint16 and lr.shape == (60, 80)
    assert hr.min() <= lr.min() and lr.max() <= hr.max()
    assert abs(float(lr.mean()) - float(hr.mean())) < 0.02 * (int(hr.max()) - int(hr.min()))


def test_the_library_degrades_files_as_the_command_does(hr_dir, tmp_path):
    """irsrgan.degrade_files.degrade_files is what `irsrgan degrade` runs: same files, same
    pixels, no printing; a second call skips what exists."""
    from irsrgan.degradations import get_preset
    from irsrgan.degrade_files import degrade_files

    assert main(["degrade", str(hr_dir), "-o", str(tmp_path / "cli"), "--scale", "2",
                 "--preset", "thermal", "--seed", "3"]) == 0
    result = degrade_files(hr_dir, tmp_path / "lib", 2, get_preset("thermal"), seed=3)
    assert result.ok and len(result.done) == 4
    for name in ("a.png", "sub/b.jpg", "c16.png", "d16.tif"):
        np.testing.assert_array_equal(read_image(tmp_path / "lib" / name).pixels,
                                      read_image(tmp_path / "cli" / name).pixels)
    again = degrade_files(hr_dir, tmp_path / "lib", 2, get_preset("thermal"), seed=3)
    assert len(again.skipped) == 4 and not again.done
