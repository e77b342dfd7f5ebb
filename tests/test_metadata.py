"""Metadata survives `upscale`: EXIF (Make, Model, dates, GPS), XMP, ICC, TIFF compression and
tags, with the sizes in it updated; no stale shape description."""

from __future__ import annotations

import io

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image as PILImage

from irsrgan.checkpoint import save_model
from irsrgan.cli import main
from irsrgan.image import read_image
from irsrgan.info import file_info
from irsrgan.models import create_model

from .conftest import require_shared_data

XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
       b'22-rdf-syntax-ns#"><rdf:Description dc:title="survey 7" xmlns:dc="http://purl.org/dc/'
       b'elements/1.1/"/></rdf:RDF></x:xmpmeta>')
GPS = {1: "N", 2: (48.0, 51.0, 24.5), 3: "E", 4: (2.0, 21.0, 7.25)}


@pytest.fixture(scope="module")
def x2_model(tmp_path_factory):
    model = create_model("compact", scale=2, num_features=8, num_convs=2)
    torch.nn.init.zeros_(model.body[-1].weight)  # nearest upsampling: quick, exact
    torch.nn.init.zeros_(model.body[-1].bias)
    path = tmp_path_factory.mktemp("m") / "m.safetensors"
    save_model(model, path)
    return path


def _exif() -> PILImage.Exif:
    exif = PILImage.Exif()
    exif[271], exif[272] = "ThermaCorp", "TC-640"
    exif[274] = 1
    exif[0x8769] = {36867: "2026:11:30 07:00:00", 0xA002: 40, 0xA003: 30}
    exif[0x8825] = GPS
    return exif


def _icc() -> bytes:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _upscale(src, out, model, *extra):
    assert main(["upscale", str(src), "-o", str(out), "--model", str(model), "-q", *extra]) == 0


def _check_exif(exif: PILImage.Exif, size: tuple[int, int]) -> None:
    assert exif[271] == "ThermaCorp" and exif[272] == "TC-640"
    sub = exif.get_ifd(0x8769)
    assert sub[36867] == "2026:11:30 07:00:00"
    assert (sub[0xA002], sub[0xA003]) == size  # the new pixel dimensions
    gps = exif.get_ifd(0x8825)
    assert gps[1] == "N" and [float(v) for v in gps[2]] == [48.0, 51.0, 24.5]
    assert gps[3] == "E" and [float(v) for v in gps[4]] == [2.0, 21.0, 7.25]


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_exif_gps_xmp_icc_survive(tmp_path, x2_model, fmt):
    from PIL import PngImagePlugin

    rng = np.random.default_rng(0)
    pil = PILImage.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8), "RGB")
    src = tmp_path / f"in.{'jpg' if fmt == 'jpeg' else 'png'}"
    options = {"exif": _exif(), "icc_profile": _icc()}
    if fmt == "png":
        options["dpi"] = (96, 96)
        options["pnginfo"] = PngImagePlugin.PngInfo()
        options["pnginfo"].add_itxt("XML:com.adobe.xmp", XMP.decode())
    else:
        options["xmp"] = XMP
    pil.save(src, format=fmt.upper(), **options)
    out = tmp_path / f"out{src.suffix}"
    _upscale(src, out, x2_model)
    with PILImage.open(out) as im:
        assert im.size == (80, 60)
        _check_exif(im.getexif(), (80, 60))
        assert im.info["icc_profile"] == options["icc_profile"]
        assert XMP in (im.info["xmp"] if fmt == "jpeg" else im.info["XML:com.adobe.xmp"]
                       .encode())
        if fmt == "png":  # twice the pixels over the same physical size
            assert [round(v) for v in im.info["dpi"]] == [192, 192]
    assert read_image(out).pixels.shape == (60, 80, 3)
    assert file_info(out)["camera_exif"] == "ThermaCorp TC-640"


@pytest.mark.parametrize(("compression", "predictor"), [("lzw", 2), ("zlib", 1), ("zlib", 2)])
def test_tiff_keeps_compression_predictor_and_tags(tmp_path, x2_model, compression,
                                                   predictor):
    rng = np.random.default_rng(1)
    px = (rng.normal(20000, 30, (40, 48)).cumsum(1) / 48).astype(np.uint16)
    src = tmp_path / "in.tif"
    # tifffile's default writes {"shape": [40, 48]} as the description
    tifffile.imwrite(src, px, compression=compression, predictor=predictor,
                     extratags=[(271, "s", 0, "ThermaCorp", True), (272, "s", 0, "TC-640", True),
                                (315, "s", 0, "A. Surveyor", True),
                                (33723, "B", 0, b"\x1c\x02\x00\x00\x02\x00\x04", True)])
    assert '"shape": [40, 48]' in tifffile.TiffFile(src).pages[0].description
    out = tmp_path / "out.tif"
    _upscale(src, out, x2_model)
    page = tifffile.TiffFile(out).pages[0]
    assert page.shape == (80, 96) and page.dtype == np.uint16
    assert page.compression == tifffile.TiffFile(src).pages[0].compression
    assert int(page.predictor) == predictor
    tags = {t.code: t.value for t in page.tags.values()}
    assert tags[271] == "ThermaCorp" and tags[272] == "TC-640" and tags[315] == "A. Surveyor"
    assert bytes(tags[33723]) == b"\x1c\x02\x00\x00\x02\x00\x04"
    assert 270 not in tags  # no description of another shape
    assert out.stat().st_size < 80 * 96 * 2 * 0.8  # still compressed
    with tifffile.TiffFile(out) as tif:  # read without a shape-mismatch complaint
        assert tif.asarray().shape == (80, 96)


def test_workswell_tiff_keeps_its_exif(tmp_path, x2_model):
    folder = require_shared_data("thermitage-dunr")
    src = sorted(folder.glob("*.tiff"))[0]
    out = tmp_path / "w.tiff"
    _upscale(src, out, x2_model, "--tile", "0")
    page, before = tifffile.TiffFile(out).pages[0], tifffile.TiffFile(src).pages[0]
    assert page.shape == (1024, 1280)
    for code in (271, 272, 305, 36867, 50735):  # Make, Model, Software, date, serial
        assert page.tags[code].value == before.tags[code].value
    exif, old = page.tags[34665].value, before.tags[34665].value
    assert exif["LensModel"] == old["LensModel"] and exif["FocalLength"] == old["FocalLength"]
    assert file_info(out)["camera_exif"] == "Workswell WIRIS Pro"
    x_old, x_new = old["FocalPlaneXResolution"], exif["FocalPlaneXResolution"]
    assert x_new[0] / x_new[1] == pytest.approx(2 * x_old[0] / x_old[1], rel=1e-5)


def test_flir_raw_tiff_carries_the_jpegs_exif_and_gps(tmp_path, x2_model):
    from .test_flir import CAMERA, make_rjpeg

    raw = np.random.default_rng(2).integers(14000, 16000, (30, 40)).astype(np.uint16)
    rjpeg = make_rjpeg(raw, camera=CAMERA)
    exif = _exif().tobytes()
    exif = exif if exif.startswith(b"Exif") else b"Exif\x00\x00" + exif
    src = tmp_path / "cam.jpg"
    src.write_bytes(rjpeg[:2] + b"\xff\xe1" + (len(exif) + 2).to_bytes(2, "big") + exif
                    + rjpeg[2:])
    out = tmp_path / "cam.tiff"
    _upscale(src, out, x2_model, "--flir-raw", "--units", "celsius")
    page = tifffile.TiffFile(out).pages[0]
    assert page.dtype == np.float32 and page.shape == (60, 80)
    with PILImage.open(io.BytesIO(out.read_bytes())) as im:
        _check_exif(im.getexif(), (80, 60))


def test_real_rjpeg_exif_goes_to_the_raw_tiff(tmp_path, x2_model):
    src = require_shared_data("flir-radiometric/rjpeg") / "24_-_Thermographie_photovoltaique.jpg"
    with PILImage.open(src) as im:
        exif = im.getexif()
        make, model = exif[271].rstrip("\x00"), exif[272].rstrip("\x00")
        date = exif.get_ifd(0x8769)[36867]
    out = tmp_path / "pv.tiff"
    _upscale(src, out, x2_model, "--flir-raw")
    page = tifffile.TiffFile(out).pages[0]
    assert page.dtype == np.uint16 and page.shape == (240, 320)
    assert page.tags[271].value == make and page.tags[272].value == model
    sub = page.tags[34665].value
    assert sub["DateTimeOriginal"] == date
    assert (sub["PixelXDimension"], sub["PixelYDimension"]) == (320, 240)


def test_big_endian_geotiff_keeps_its_tags_and_ground(tmp_path, x2_model):
    px = (np.arange(40 * 48).reshape(40, 48) % 3000 + 1000).astype(np.uint16)
    src = tmp_path / "ortho.tif"
    tifffile.imwrite(src, px, byteorder=">", compression="zlib", predictor=2,
                     extratags=[(271, "s", 0, "Acme", True),
                                (33550, "d", 3, (0.1, 0.2, 0.0), True),
                                (33922, "d", 6, (0, 0, 0, 350000.5, 5600000.25, 0), True),
                                (18246, "H", 1, 3, True)])
    out = tmp_path / "out.tif"
    _upscale(src, out, x2_model)
    page = tifffile.TiffFile(out).pages[0]
    assert page.shape == (80, 96) and int(page.predictor) == 2
    assert page.tags[271].value == "Acme" and page.tags[18246].value == 3
    assert page.tags[33550].value == pytest.approx((0.05, 0.1, 0.0))  # half-size pixels
    assert page.tags[33922].value == (0.0, 0.0, 0.0, 350000.5, 5600000.25, 0.0)  # same corner


def test_rotated_jpeg_is_kept_upright(tmp_path, x2_model):
    """EXIF orientation 6 (rotate 90 degrees clockwise) is applied on read, so the kept EXIF
    must say "upright" and give the rotated size."""
    px = np.zeros((30, 40), np.uint8)
    px[:, :5] = 255  # a bright left edge
    exif = _exif()
    exif[274] = 6
    src = tmp_path / "r.jpg"
    PILImage.fromarray(px, "L").save(src, exif=exif, quality=95)
    out = tmp_path / "r_out.jpg"
    _upscale(src, out, x2_model)
    with PILImage.open(out) as im:
        assert im.size == (60, 80)  # 40x30 turned: 30x40, upscaled
        e = im.getexif()
        assert e[274] == 1
        assert (e.get_ifd(0x8769)[0xA002], e.get_ifd(0x8769)[0xA003]) == (60, 80)
        top = np.asarray(im)[:10].mean()
        assert top > 200  # the bright edge is at the top, once
