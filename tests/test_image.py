"""Image I/O: exact round trips for every dtype and layout, range by dtype, radiometric map."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import torch

from irsrgan.errors import ImageError
from irsrgan.image import (
    Image,
    ValueMap,
    from_tensor,
    read_image,
    to_tensor,
    value_map_for,
    write_image,
)

from .conftest import require_shared_data

RNG = np.random.default_rng(0)
CASES = {
    "gray8.png": RNG.integers(0, 256, (13, 17), dtype=np.uint8),
    "gray16.png": RNG.integers(0, 65536, (13, 17), dtype=np.uint16),
    "rgb8.png": RNG.integers(0, 256, (13, 17, 3), dtype=np.uint8),
    "rgb16.png": RNG.integers(0, 65536, (13, 17, 3), dtype=np.uint16),
    "rgba8.png": RNG.integers(0, 256, (13, 17, 4), dtype=np.uint8),
    "gray8.tif": RNG.integers(0, 256, (13, 17), dtype=np.uint8),
    "gray16.tif": RNG.integers(0, 65536, (13, 17), dtype=np.uint16),
    "int16.tif": RNG.integers(-3000, 3000, (13, 17), dtype=np.int16),
    "float32.tif": RNG.normal(25.0, 8.0, (13, 17)).astype(np.float32),
    "rgb8.tif": RNG.integers(0, 256, (13, 17, 3), dtype=np.uint8),
    "gray8.bmp": RNG.integers(0, 256, (13, 17), dtype=np.uint8),
}
FORMATS = {".png": "png", ".tif": "tiff", ".bmp": "bmp", ".jpg": "jpeg"}


@pytest.mark.parametrize("name", sorted(CASES))
def test_round_trip_is_exact(tmp_path, name):
    px = CASES[name]
    path = tmp_path / name
    fmt = FORMATS[path.suffix]
    write_image(path, Image(px, fmt, "gray" if px.ndim == 2 else "rgb"))
    back = read_image(path)
    assert back.format == fmt and back.dtype == px.dtype
    np.testing.assert_array_equal(back.pixels, px)


def test_gray_stored_as_rgb_becomes_one_channel_and_goes_back_to_rgb(tmp_path):
    gray = RNG.integers(0, 256, (10, 12), dtype=np.uint8)
    write_image(tmp_path / "g.png", Image(np.stack([gray] * 3, -1), "png", "rgb"))
    img = read_image(tmp_path / "g.png")
    assert img.layout == "gray-as-rgb"
    lr, vmap = to_tensor(img)
    assert lr.shape == (1, 1, 10, 12)
    up = from_tensor(lr.repeat_interleave(2, -1).repeat_interleave(2, -2), img, vmap)
    assert up.pixels.shape == (20, 24, 3) and np.array_equal(up.pixels[::2, ::2, 1], gray)


def test_jpeg_is_read_as_gray_and_written_back_as_jpeg(tmp_path):
    px = np.tile(np.linspace(0, 255, 32, dtype=np.uint8), (16, 1))
    write_image(tmp_path / "a.jpg", Image(px, "jpeg", "gray"))
    img = read_image(tmp_path / "a.jpg")
    assert img.format == "jpeg" and img.pixels.ndim == 2
    assert np.abs(img.pixels.astype(int) - px).max() <= 3


def test_range_is_decided_by_dtype_not_values():
    dark16 = np.full((4, 4), 200, np.uint16)  # max < 256 but still 16-bit data
    assert value_map_for(dark16, "dtype") == ValueMap(0.0, 65535.0)
    bright8 = np.full((4, 4), 200, np.uint8)
    assert value_map_for(bright8) == ValueMap(0.0, 255.0)


def test_radiometric_map_and_exact_inverse():
    px = np.array([[13939, 14000], [15000, 15738]], np.uint16)
    vmap = value_map_for(px)  # 16-bit: stretched per image
    unit = vmap.to_unit(px)
    assert unit.min() == 0.0 and unit.max() == 1.0
    assert unit[0, 1] == pytest.approx((14000 - 13939) / (15738 - 13939))
    np.testing.assert_array_equal(vmap.to_native(unit, np.uint16), px)


def test_float_tiff_keeps_units_and_nan(tmp_path):
    px = np.array([[20.5, 21.0], [np.nan, 35.25]], np.float32)
    img = Image(px, "tiff", "gray")
    lr, vmap = to_tensor(img)
    assert torch.isfinite(lr).all()
    up = from_tensor(lr.repeat_interleave(2, -1).repeat_interleave(2, -2), img, vmap)
    assert up.pixels.dtype == np.float32
    assert np.isnan(up.pixels[2:, :2]).all() and np.isfinite(up.pixels[:2]).all()
    assert up.pixels[0, 0] == pytest.approx(20.5) and up.pixels[3, 3] == pytest.approx(35.25)


def test_tiff_metadata_is_kept_and_resolution_scaled(tmp_path):
    px = RNG.integers(0, 65536, (8, 8), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "m.tif", px, description="camera=Tau2", software="flir",
                     resolution=(100.0, 100.0), metadata=None)
    img = read_image(tmp_path / "m.tif")
    lr, vmap = to_tensor(img)
    up = from_tensor(lr.repeat_interleave(2, -1).repeat_interleave(2, -2), img, vmap)
    write_image(tmp_path / "o.tif", up)
    with tifffile.TiffFile(tmp_path / "o.tif") as tif:
        page = tif.pages[0]
        assert page.description == "camera=Tau2"
        assert page.tags["Software"].value == "flir"
        xres = page.tags["XResolution"].value
        assert xres[0] / xres[1] == pytest.approx(200.0)


def test_format_sniffed_from_content_not_name(tmp_path):
    px = RNG.integers(0, 256, (6, 6), dtype=np.uint8)
    write_image(tmp_path / "x.png", Image(px, "png", "gray"))
    (tmp_path / "x.png").rename(tmp_path / "x.tif")
    assert read_image(tmp_path / "x.tif").format == "png"


@pytest.mark.parametrize("content,message", [
    (b"", "is empty"),
    (b"hello world, not an image", "unknown content"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "PNG"),
])
def test_bad_files_name_the_file_and_problem(tmp_path, content, message):
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(ImageError, match=message) as info:
        read_image(path)
    assert str(path) in str(info.value)


def test_missing_file_and_pixel_limit(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        read_image(tmp_path / "nope.png")
    write_image(tmp_path / "big.png", Image(np.zeros((100, 100), np.uint8), "png", "gray"))
    with pytest.raises(ImageError, match="exceeds 5000 pixels"):
        read_image(tmp_path / "big.png", max_pixels=5000)


def test_jpeg_refuses_16_bit():
    with pytest.raises(ImageError, match="8-bit"):
        write_image("never.jpg", Image(np.zeros((4, 4), np.uint16), "jpeg", "gray"))


def test_real_radiometric_files_round_trip(tmp_path):
    tiff = require_shared_data("flirpy/example_radiometric.tiff")
    img = read_image(tiff)
    assert img.dtype == np.uint16
    write_image(tmp_path / "r.tiff", img)
    np.testing.assert_array_equal(read_image(tmp_path / "r.tiff").pixels, img.pixels)
    for png in sorted(require_shared_data("flir-radiometric/raw16").glob("*.png"))[:5]:
        raw = read_image(png)
        assert raw.dtype == np.uint16 and raw.layout == "gray"
        lr, vmap = to_tensor(raw)
        np.testing.assert_array_equal(from_tensor(lr, raw, vmap).pixels, raw.pixels)
