"""Outputs written band by band: the same pixels as whole images, no partial files, and the
pipelined batch (decode ahead, encode behind) giving the same files as one image at a time."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from irsrgan.batch import FileJob, run_batch
from irsrgan.image import Image, read_image, write_image
from irsrgan.inference import Upscaler
from irsrgan.models import create_model
from irsrgan.streaming import ImageRows, write_rows


@pytest.fixture(scope="module")
def upscaler():
    torch.manual_seed(0)
    model = create_model("compact", scale=2, num_features=8, num_convs=3)
    return Upscaler(model, tile=40, overlap=8, device="cpu")


def test_bands_stack_to_the_whole_output(upscaler):
    x = torch.rand(2, 1, 101, 59, generator=torch.Generator().manual_seed(3))
    bands = list(upscaler.upscale_bands(x))
    assert len(bands) > 2  # several rows of tiles
    assert [row for row, _ in bands] == [0] + list(np.cumsum([b.shape[2] for _, b in bands])[:-1])
    stacked = torch.cat([b for _, b in bands], dim=2)
    assert torch.equal(stacked, upscaler.upscale(x))


def _images():
    rng = np.random.default_rng(0)
    nan = (20 + 10 * rng.random((70, 45))).astype(np.float32)
    nan[5:9, 3] = np.nan
    return [
        Image((rng.random((70, 45)) * 65535).astype(np.uint16), "png", "gray"),
        Image((rng.random((70, 45, 3)) * 255).astype(np.uint8), "png", "rgb"),
        Image((rng.random((70, 45, 4)) * 255).astype(np.uint8), "png", "rgba"),
        Image((rng.random((70, 45, 2)) * 255).astype(np.uint8), "png", "gray-alpha"),
        Image((rng.random((70, 45)) * 65535).astype(np.uint16), "tiff", "gray",
              tiff_tags={"resolution": (72.0, 72.0), "Software": "cam"}),
        Image((rng.random((70, 45, 3)) * 65535).astype(np.uint16), "tiff", "rgb"),
        Image(nan, "tiff", "gray"),
        Image((rng.random((70, 45)) * 255).astype(np.uint8), "jpeg", "gray"),  # collected
    ]


@pytest.mark.parametrize("index", range(8))
def test_streamed_file_reads_back_as_the_whole_image_written(tmp_path, upscaler, index):
    image = _images()[index]
    whole = upscaler.upscale_image(image)
    write_image(tmp_path / f"whole.{image.format}", whole)
    write_rows(tmp_path / f"rows.{image.format}", upscaler.upscale_image_rows(image))
    got = read_image(tmp_path / f"rows.{image.format}")
    want = read_image(tmp_path / f"whole.{image.format}")
    np.testing.assert_array_equal(got.pixels, want.pixels)
    assert (got.layout, got.tiff_tags) == (want.layout, want.tiff_tags)


def test_a_failure_while_computing_leaves_no_file(tmp_path):
    def bands():
        yield np.zeros((4, 8), np.uint16)
        raise RuntimeError("model failed")

    dst = tmp_path / "out.png"
    dst.write_bytes(b"old")
    rows = ImageRows(Image(np.zeros((0, 8), np.uint16)), 8, bands())
    with pytest.raises(RuntimeError, match="model failed"):
        write_rows(dst, rows)
    assert dst.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_too_few_rows_is_an_error_and_leaves_no_file(tmp_path):
    rows = ImageRows(Image(np.zeros((0, 8), np.uint8)), 9, iter([np.zeros((4, 8), np.uint8)]))
    with pytest.raises(ValueError, match="bands hold 4 rows, expected 9"):
        write_rows(tmp_path / "out.tiff", rows)
    assert list(tmp_path.iterdir()) == []


def test_pipelined_batch_writes_what_one_at_a_time_writes(tmp_path, upscaler):
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(1)
    for i in range(5):
        px = rng.integers(9000, 15000, (30 + i, 41), dtype=np.uint16)
        write_image(src / f"{i}.png", Image(px))
    (src / "3.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    jobs = [FileJob(p, tmp_path / "out" / p.name, p.name) for p in sorted(src.iterdir())]
    result = run_batch(jobs, lambda image, job: upscaler.upscale_image_rows(image),
                       progress=False)
    assert len(result.done) == 4 and [p.name for p, _ in result.failed] == ["3.png"]
    assert result.output_pixels == sum(4 * (30 + i) * 41 for i in (0, 1, 2, 4))
    assert "images/s" in result.summary() and "MP/s" in result.summary()
    for i in (0, 1, 2, 4):
        want = upscaler.upscale_image(read_image(src / f"{i}.png")).pixels
        np.testing.assert_array_equal(read_image(tmp_path / "out" / f"{i}.png").pixels, want)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["0.png", "1.png", "2.png",
                                                                    "4.png"]


@pytest.mark.parametrize("kind", ["uint16", "uint8", "float32"])
def test_consistency_band_by_band_equals_whole_image(upscaler, kind):
    from irsrgan.consistency import consistent_image, consistent_rows

    rng = np.random.default_rng(2)
    smooth = np.cumsum(np.cumsum(rng.normal(size=(203, 47)), 0), 1)
    unit = (smooth - smooth.min()) / np.ptp(smooth)
    if kind == "uint16":
        px = (9000 + 4000 * unit).astype(np.uint16)
    elif kind == "uint8":
        px = (255 * unit).astype(np.uint8)  # reaches 0 and 255: the clipped case
    else:
        px = (20 + 15 * unit).astype(np.float32)
        px[50:53, 10] = np.nan
    image = Image(px, "tiff")
    want = consistent_image(upscaler.upscale_image(image), image).pixels
    rows = consistent_rows(upscaler.upscale_image_rows(image), image)
    got = rows.collect().pixels
    assert got.shape == want.shape == (406, 94)
    if kind == "float32":
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
        assert np.array_equal(np.isnan(got), np.isnan(want))
    else:
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("kind", ["uint16", "uint8", "float32"])
def test_level_anchoring_band_by_band_equals_whole_image(upscaler, kind):
    from irsrgan.consistency import anchored_image, anchored_rows

    rng = np.random.default_rng(5)
    smooth = np.cumsum(np.cumsum(rng.normal(size=(203, 47)), 0), 1)
    unit = (smooth - smooth.min()) / np.ptp(smooth) + rng.normal(0, 0.01, smooth.shape)
    if kind == "uint16":
        px = (9000 + 4000 * unit).astype(np.uint16)
    elif kind == "uint8":
        px = (255 * np.clip(unit, 0, 1)).astype(np.uint8)  # reaches 0 and 255: clipped
    else:
        px = (20 + 15 * unit).astype(np.float32)
        px[50:53, 10] = np.nan
    image = Image(px, "tiff")
    sr = upscaler.upscale_image(image)
    want = anchored_image(sr, image).pixels
    got = anchored_rows(upscaler.upscale_image_rows(image), image).collect().pixels
    assert got.shape == want.shape == (406, 94)
    finite = np.isfinite(sr.pixels.astype(np.float64))
    assert np.abs(want.astype(np.float64) - sr.pixels)[finite].max() > 0  # it did something
    if kind == "float32":
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
        assert np.array_equal(np.isnan(got), np.isnan(want))
    else:
        np.testing.assert_array_equal(got, want)


def test_an_output_assembled_in_memory_is_refused_before_any_band_when_it_cannot_fit(
        tmp_path, monkeypatch):
    import psutil

    from irsrgan.errors import ImageTooLargeError

    class Memory:
        available = 4 * 1000 * 700 * 3  # under 5x a 1000x700 RGB uint8 output

    monkeypatch.setattr(psutil, "virtual_memory", lambda: Memory)
    computed = []

    def rows(fmt):
        def bands():
            for _ in range(7):
                computed.append(fmt)
                yield np.zeros((100, 1000, 3), np.uint8)
        like = Image(np.zeros((0, 1000, 3), np.uint8), fmt, "rgb")
        return ImageRows(like, 700, bands())

    with pytest.raises(ImageTooLargeError, match=r"out\.jpg: a 1000x700 JPEG output is "
                       r"assembled in memory .* 10 MB needed, 8 MB available"):
        write_rows(tmp_path / "out.jpg", rows("jpeg"))
    assert computed == [] and not list(tmp_path.iterdir())
    write_rows(tmp_path / "out.png", rows("png"))  # streamed: a band at a time, no check
    assert read_image(tmp_path / "out.png").pixels.shape == (700, 1000, 3)


def _upscale_with_memory(tmp_path, monkeypatch, frames, available: int,
                         max_pixels: int) -> int:
    """``irsrgan upscale`` of ``frames`` (name -> (format, shape) of random 8-bit gray) with a
    tiny x2 model, while psutil reports ``available`` bytes free; the exit status."""
    import psutil

    from irsrgan.checkpoint import save_model
    from irsrgan.cli import main

    rng = np.random.default_rng(0)
    (tmp_path / "in").mkdir()
    for name, (fmt, shape) in frames.items():
        write_image(tmp_path / "in" / name,
                    Image((rng.random(shape) * 255).astype(np.uint8), fmt, "gray"))
    torch.manual_seed(0)
    save_model(create_model("compact", scale=2, num_features=8, num_convs=2),
               tmp_path / "m.safetensors")

    class Memory:
        pass

    Memory.available = available
    monkeypatch.setattr(psutil, "virtual_memory", lambda: Memory)
    return main(["upscale", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--model",
                 str(tmp_path / "m.safetensors"), "--max-pixels", str(max_pixels), "-q",
                 "--backend", "torch"])


def test_the_command_reports_an_output_too_large_to_assemble_and_goes_on(tmp_path, monkeypatch,
                                                                       capsys):
    # under 5x the 120x4000 JPEG output; a row of tiles of either fits in half
    assert _upscale_with_memory(tmp_path, monkeypatch, {"a.jpg": ("jpeg", (2000, 60)),
                                                        "b.png": ("png", (60, 80))},
                                available=2 * 2**20, max_pixels=200000) == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["b.png"]
    assert "a 120x4000 JPEG output is assembled in memory" in capsys.readouterr().err


def test_a_tiff_keeping_its_tags_and_exif_is_streamed_with_the_same_metadata(tmp_path):
    """TIFF inputs keep their tags and EXIF/GPS sub-IFDs: an uncompressed TIFF output is still
    written band by band, with what the in-memory encoder writes."""
    from dataclasses import replace

    from irsrgan.streaming import streamable

    from .conftest import require_shared_data

    src = sorted(require_shared_data("thermitage-dunr").glob("*.tiff"))[0]
    image = read_image(src)
    kept = image.file_metadata["tiff"]
    assert kept.tags and kept.sub_ifds  # Make, Model, ... and an EXIF sub-IFD
    px = image.pixels
    rows = ImageRows(replace(image, pixels=px[:0]), px.shape[0],
                     iter([px[i:i + 100] for i in range(0, px.shape[0], 100)]))
    assert streamable(rows)
    write_rows(tmp_path / "streamed.tiff", rows)
    write_image(tmp_path / "whole.tiff", image)
    streamed, whole = read_image(tmp_path / "streamed.tiff"), read_image(tmp_path / "whole.tiff")
    np.testing.assert_array_equal(streamed.pixels, whole.pixels)
    a, b = streamed.file_metadata["tiff"], whole.file_metadata["tiff"]
    assert [(e.code, e.raw) for e in a.tags] == [(e.code, e.raw) for e in b.tags]
    assert {k: [(e.code, e.raw) for e in v] for k, v in a.sub_ifds.items()} == \
        {k: [(e.code, e.raw) for e in v] for k, v in b.sub_ifds.items()}
    assert streamed.tiff_tags == whole.tiff_tags


def test_an_input_too_wide_for_one_row_of_tiles_is_refused_by_name(tmp_path, monkeypatch,
                                                                   capsys):
    """--max-pixels bounds the area; a long, narrow strip is bounded by its width: one row of
    its output's tiles must fit in half the memory available."""
    # the strip's row of tiles: 6 copies x 16 x 6000 x 4 B = 2.3 MB > 1.5 MB
    assert _upscale_with_memory(tmp_path, monkeypatch, {"strip.png": ("png", (8, 3000)),
                                                        "frame.png": ("png", (60, 80))},
                                available=3 * 2**20, max_pixels=100000) == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["frame.png"]
    assert "strip.png: 3000x8: one row of tiles of its x2 output needs about 2 MB" in \
        capsys.readouterr().err
