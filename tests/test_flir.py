"""FLIR radiometric JPEGs: the raw counts are read exactly, and `upscale --flir-raw` keeps them."""

from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest
import torch

from irsrgan.checkpoint import save_model
from irsrgan.cli import main
from irsrgan.errors import ImageError
from irsrgan.flir import read_flir_raw
from irsrgan.image import read_image
from irsrgan.models import create_model

from .conftest import require_shared_data

# a camera's CameraInfo constants (those of file 24, a FLIR E30bx), as the record stores them
CAMERA = {
    "emissivity": 0.98, "object_distance": 5.0, "reflected_apparent_temperature": 283.15,
    "atmospheric_temperature": 276.15, "ir_window_temperature": 293.15,
    "ir_window_transmission": 1.0, "relative_humidity": 0.5, "planck_r1": 14936.05859375,
    "planck_b": 1397.1, "planck_f": 1.0, "atmospheric_trans_alpha1": 0.006569,
    "atmospheric_trans_alpha2": 0.01262, "atmospheric_trans_beta1": -0.002276,
    "atmospheric_trans_beta2": -0.00667, "atmospheric_trans_x": 1.9, "planck_o": -6159,
    "planck_r2": 0.011179725639522076, "camera_model": "FLIR E30bx",
    "camera_serial_number": "49021720",
}


def camera_record(values: dict, order: str = "<") -> bytes:
    """A CameraInfo record (ExifTool's FLIR CameraInfo layout) holding ``values``."""
    from irsrgan.flir import _CAMERA_INFO_LAYOUT

    rec = bytearray(0x320)
    rec[0:2] = struct.pack(order + "H", 2)
    for key, value in values.items():
        offset, fmt = _CAMERA_INFO_LAYOUT[key]
        packed = (value.encode() if isinstance(value, str) else value,)
        struct.pack_into(order + fmt, rec, offset, *packed)
    return bytes(rec)


def make_rjpeg(raw: np.ndarray, *, order: str = "<", png: bool = True, chunks: int = 2,
               magic: bytes = b"FFF\x00", camera: dict | None = None) -> bytes:
    """A JPEG preview with the raw counts in FLIR APP1 segments (an FFF file, one RawData
    record and, given ``camera``, a CameraInfo record), laid out as FLIR cameras write it."""
    h, w = raw.shape
    if png:
        words = raw.byteswap() if order == "<" else raw  # the PNG holds the record's order
        payload = cv2.imencode(".png", words)[1].tobytes()
    else:
        payload = raw.astype(np.dtype(np.uint16).newbyteorder(order)).tobytes()
    record = struct.pack(order + "HHH", 2, w, h).ljust(32, b"\x00") + payload
    records = [(1, record)] + ([(0x20, camera_record(camera, order))] if camera else [])
    header = magic + b"test".ljust(16, b"\x00") + struct.pack(">III", 100, 64, len(records))
    at, entries, body = 64 + 32 * len(records), b"", b""
    for rtype, rec in records:
        entries += struct.pack(">HHIIII", rtype, 2, 100, 1, at, len(rec)).ljust(32, b"\x00")
        at += len(rec)
        body += rec
    fff = header.ljust(64, b"\x00") + entries + body
    size = -(-len(fff) // chunks)
    app1 = b""
    for i in range(chunks):
        body = b"FLIR\x00\x01" + bytes([i, chunks - 1]) + fff[i * size:(i + 1) * size]
        app1 += b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body
    preview = cv2.imencode(".jpg", (raw >> 8).astype(np.uint8))[1].tobytes()
    return preview[:2] + app1 + preview[2:]


@pytest.fixture
def raw():
    rng = np.random.default_rng(0)
    px = rng.integers(12000, 16000, (24, 32)).astype(np.uint16)
    px[:, :10] = 14000  # a flat region
    return px


@pytest.mark.parametrize(("order", "png"), [("<", True), (">", True), ("<", False),
                                            (">", False)])
def test_raw_counts_read_exactly(raw, order, png):
    data = make_rjpeg(raw, order=order, png=png)
    out = read_flir_raw(data, "x.jpg")
    assert out.dtype == np.uint16 and np.array_equal(out, raw)


def test_plain_jpeg_has_no_flir_data(raw):
    assert read_flir_raw(cv2.imencode(".jpg", (raw >> 8).astype(np.uint8))[1].tobytes()) is None


def test_broken_record_names_the_file(raw):
    with pytest.raises(ImageError, match="cam.jpg: FLIR segment is not an FFF"):
        read_flir_raw(make_rjpeg(raw, magic=b"XXXX"), "cam.jpg")


def test_oversized_raw_is_refused_before_decoding(raw):
    from irsrgan.errors import ImageTooLargeError

    with pytest.raises(ImageTooLargeError, match="cam.jpg: FLIR raw data of 32x24 exceeds 700"):
        read_flir_raw(make_rjpeg(raw), "cam.jpg", max_pixels=700)
    # a record that understates its size does not get a PNG bomb past the check either
    data = make_rjpeg(np.zeros((4000, 4000), np.uint16))
    small = data.replace(struct.pack("<HHH", 2, 4000, 4000), struct.pack("<HHH", 2, 10, 10))
    with pytest.raises(ImageTooLargeError, match="4000x4000 exceeds"):
        read_flir_raw(small, "bomb.jpg", max_pixels=10_000)


def test_read_image_preview_by_default_raw_on_request(tmp_path, raw):
    path = tmp_path / "cam.jpg"
    path.write_bytes(make_rjpeg(raw))
    preview = read_image(path)
    assert preview.format == "jpeg" and preview.dtype == np.uint8 and preview.flir_preview
    counts = read_image(path, flir_raw=True)
    assert counts.format == "tiff" and counts.layout == "gray" and not counts.flir_preview
    assert np.array_equal(counts.pixels, raw)


def test_upscale_flir_raw_writes_16bit_tiff_in_counts(tmp_path, raw, capsys):
    src = tmp_path / "in"
    src.mkdir()
    (src / "cam.jpg").write_bytes(make_rjpeg(raw))
    cv2.imwrite(str(src / "plain.jpg"), np.full((8, 8), 128, np.uint8))
    (src / "broken.jpg").write_bytes(make_rjpeg(raw, magic=b"XXXX"))
    model = create_model("compact", scale=2, num_features=8, num_convs=2)
    torch.nn.init.zeros_(model.body[-1].weight)  # identity-like: nearest upsampling only
    torch.nn.init.zeros_(model.body[-1].bias)
    weights = tmp_path / "m.safetensors"
    save_model(model, weights)

    assert main(["upscale", str(src), "-o", str(tmp_path / "prev"), "--model", str(weights),
                 "-q"]) == 0
    assert "2 input(s) are FLIR radiometric JPEGs" in capsys.readouterr().err
    assert read_image(tmp_path / "prev" / "cam.jpg").dtype == np.uint8

    code = main(["upscale", str(src), "-o", str(tmp_path / "raw"), "--model", str(weights),
                 "--flir-raw", "-q"])
    err = capsys.readouterr().err
    assert code == 1 and "broken.jpg: FLIR segment is not an FFF" in err and "2 written" in err
    out = read_image(tmp_path / "raw" / "cam.tiff")
    assert out.dtype == np.uint16 and out.pixels.shape == (48, 64)
    assert np.all(out.pixels[:, :18] == 14000)  # the flat region keeps its counts
    assert (tmp_path / "raw" / "plain.jpg").exists()
    assert not (tmp_path / "raw" / "broken.tiff").exists()


def test_real_rjpegs_match_their_decoded_raw():
    folder = require_shared_data("flir-radiometric/rjpeg")
    raw16 = require_shared_data("flir-radiometric/raw16")
    checked = 0
    for jpg in sorted(folder.glob("*.jpg")):
        counts = read_flir_raw(jpg.read_bytes(), jpg.name)
        ref = raw16 / f"{jpg.stem}_raw16.png"
        if ref.exists():
            assert np.array_equal(counts, cv2.imread(str(ref), cv2.IMREAD_UNCHANGED)), jpg.name
            checked += 1
        else:  # file 07: the data folder's decoder failed on it; ours reads plausible counts
            assert counts.shape == (240, 320) and 5000 < np.median(counts) < 20000
    assert checked == 25
