"""A small, seeded corpus of hostile and odd inputs for every entry point (tests/test_fuzz.py).

``image_corpus()`` gives ``(name, bytes)`` pairs: valid images of every layout the readers
know, then the same images truncated, bit-flipped, with lying headers (huge or zero sizes,
512 samples per pixel), in odd modes (1-bit, palette, CMYK, int32, multi-page, animated) and
under odd names (unicode, 240 characters, a leading dash, spaces, a suffix that lies about the
content). ``weights_corpus()`` does the same for weights files. Everything is generated here,
in memory, in well under a second; nothing is downloaded.
"""

from __future__ import annotations

import io
import json
import pickle
import struct
import zlib

import cv2
import numpy as np
import tifffile
import torch
from PIL import Image as PILImage
from safetensors.torch import save

HUGE = 60000  # a side no test machine decodes: 60000 x 60000 x 4 x 8 bytes = 115 GB


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _cv2(ext: str, px: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(ext, px)
    assert ok
    return buf.tobytes()


def _tiff(px: np.ndarray, **kwargs) -> bytes:
    bio = io.BytesIO()
    tifffile.imwrite(bio, px, **kwargs)
    return bio.getvalue()


def _pil(px: np.ndarray, fmt: str, mode: str | None = None, **kwargs) -> bytes:
    bio = io.BytesIO()
    im = PILImage.fromarray(px) if mode is None else PILImage.fromarray(px).convert(mode)
    im.save(bio, fmt, **kwargs)
    return bio.getvalue()


def valid_images(rng: np.random.Generator) -> dict[str, bytes]:
    """One small valid file per layout the readers accept."""
    g8 = rng.integers(0, 256, (12, 14), dtype=np.uint8)
    g16 = rng.integers(9000, 15000, (12, 14), dtype=np.uint16)
    rgb = rng.integers(0, 256, (12, 14, 3), dtype=np.uint8)
    f32 = rng.normal(30, 5, (12, 14)).astype(np.float32)
    f32[0, 0], f32[1, 1], f32[2, 2] = np.nan, np.inf, -np.inf
    ga = np.stack([g8, rng.integers(0, 256, (12, 14), dtype=np.uint8)], axis=-1)
    return {
        "gray8.png": _cv2(".png", g8),
        "gray16.png": _cv2(".png", g16),
        "rgb.png": _cv2(".png", rgb),
        "gray-alpha.png": _pil(ga, "PNG", mode="LA"),
        "gray16.tiff": _tiff(g16, photometric="minisblack"),
        "float.tiff": _tiff(f32, photometric="minisblack"),
        "rgb-planar.tiff": _tiff(np.moveaxis(rgb, -1, 0), photometric="rgb",
                                 planarconfig="separate"),
        "gray.jpg": _cv2(".jpg", g8),
        "rgb.jpg": _cv2(".jpg", rgb),
        "rgb.bmp": _cv2(".bmp", rgb),
    }


def _lying_headers(valid: dict[str, bytes]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for w, h, tag in ((HUGE, HUGE, "huge"), (0, 10, "zero-width"), (2**31, 1, "2e31")):
        ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
        out[f"ihdr-{tag}.png"] = (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
                                  + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
                                  + _png_chunk(b"IEND", b""))
    bad_crc = bytearray(valid["gray8.png"])
    bad_crc[29] ^= 0xFF  # the IHDR CRC
    out["ihdr-crc.png"] = bytes(bad_crc)
    # JPEG frame header (SOF0) claiming 65500 x 65500
    jpg = bytearray(valid["gray.jpg"])
    sof = jpg.find(b"\xff\xc0")
    jpg[sof + 5:sof + 9] = struct.pack(">HH", 65500, 65500)
    out["sof-huge.jpg"] = bytes(jpg)
    jpg[sof + 5:sof + 9] = struct.pack(">HH", 0, 12)
    out["sof-zero-height.jpg"] = bytes(jpg)
    # BMP width/height fields
    bmp = bytearray(valid["rgb.bmp"])
    bmp[18:26] = struct.pack("<ii", HUGE, -HUGE)
    out["huge.bmp"] = bytes(bmp)
    # TIFF: width/height tags rewritten; 512 samples per pixel declared over 1024 x 1024
    out["huge.tiff"] = _retag(valid["gray16.tiff"], ImageWidth=HUGE, ImageLength=HUGE)
    spp = _tiff(np.zeros((16, 16, 512), np.uint8), photometric="minisblack",
                compression="zlib", tile=(16, 16), planarconfig="contig")
    out["spp512.tiff"] = _retag(spp, ImageWidth=1024, ImageLength=1024)
    return out


def _retag(data: bytes, **values: int) -> bytes:
    """``data`` with the given TIFF tags of page 1 overwritten in place (SHORT or LONG)."""
    buf = bytearray(data)
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        tags = tif.pages.first.tags
        for name, value in values.items():
            tag = tags[name]
            fmt = "<H" if tag.dtype == 3 else "<I"
            if tag.dtype == 3 and value > 0xFFFF:
                value = 0xFFFF
            buf[tag.valueoffset:tag.valueoffset + struct.calcsize(fmt)] = struct.pack(fmt, value)
    return bytes(buf)


def _odd_modes(rng: np.random.Generator) -> dict[str, bytes]:
    g8 = rng.integers(0, 256, (12, 14), dtype=np.uint8)
    rgb = rng.integers(0, 256, (12, 14, 3), dtype=np.uint8)
    pages = rng.integers(0, 256, (3, 12, 14), dtype=np.uint8)
    apng = io.BytesIO()
    PILImage.fromarray(g8).save(apng, "PNG", save_all=True,
                                append_images=[PILImage.fromarray(255 - g8)])
    bio = io.BytesIO()
    tifffile.imwrite(bio, pages, imagej=True)
    return {
        "bilevel.png": _pil(g8, "PNG", mode="1"),
        "palette.png": _pil(rgb, "PNG", mode="P"),
        "bilevel.tiff": _pil(g8, "TIFF", mode="1"),
        "palette.tiff": _pil(rgb, "TIFF", mode="P"),
        "cmyk.tiff": _pil(rgb, "TIFF", mode="CMYK"),
        "cmyk.jpg": _pil(rgb, "JPEG", mode="CMYK"),
        "int32.tiff": _tiff(g8.astype(np.int32), photometric="minisblack"),
        "complex.tiff": _tiff(g8.astype(np.complex64), photometric="minisblack"),
        "multipage.tiff": _tiff(pages, photometric="minisblack"),
        "imagej-stack.tif": bio.getvalue(),
        "animated.png": apng.getvalue(),
        "exif-rotated.jpg": _exif_jpeg(rgb, orientation=6),
        "one-pixel.png": _cv2(".png", g8[:1, :1]),
        "empty.png": b"",
        "text-named.png": b"hello, not an image\n",
    }


def _exif_jpeg(px: np.ndarray, orientation: int) -> bytes:
    exif = PILImage.Exif()
    exif[0x0112] = orientation
    bio = io.BytesIO()
    PILImage.fromarray(px).save(bio, "JPEG", quality=95, exif=exif.tobytes())
    return bio.getvalue()


def image_corpus(seed: int = 0) -> list[tuple[str, bytes]]:
    """``(file name, content)`` pairs, deterministic for ``seed``; names are unique."""
    rng = np.random.default_rng(seed)
    valid = valid_images(rng)
    cases: dict[str, bytes] = dict(valid)
    for name, data in valid.items():
        stem, ext = name.rsplit(".", 1)
        for frac in (0.1, 0.5, 0.97):
            cases[f"{stem}-cut{int(frac * 100)}.{ext}"] = data[: max(1, int(len(data) * frac))]
        flipped = bytearray(data)
        for pos in rng.integers(8, len(data), 3):
            flipped[pos] ^= 1 << int(rng.integers(0, 8))
        cases[f"{stem}-flipped.{ext}"] = bytes(flipped)
    cases.update(_lying_headers(valid))
    cases.update(_odd_modes(rng))
    cases.update({  # odd names (valid content)
        "ünïcødé-кадр.png": valid["gray8.png"],
        "-dash.png": valid["gray8.png"],
        "with space.png": valid["gray8.png"],
        "x" * 236 + ".png": valid["gray8.png"],  # 240 characters
        "png-content.tiff": valid["gray16.png"],  # the name lies about the content
        "UPPER.PNG": valid["gray8.png"],
    })
    return sorted(cases.items())


def weights_corpus(seed: int = 0) -> list[tuple[str, bytes]]:
    """``(file name, content)`` pairs of broken or hostile weights files."""
    from irsrgan.models import create_model

    torch.manual_seed(seed)
    net = create_model("compact", scale=2, num_features=8, num_convs=2)
    state = {k: v.contiguous() for k, v in net.state_dict().items()}

    def ours(config, tensors=state, arch="compact") -> bytes:
        meta = {"format": "irsrgan", "arch": arch, "config": json.dumps(config), "scale": "2",
                "in_channels": "1", "out_channels": "1", "provenance": "{}"}
        return save(tensors, metadata=meta)

    good_config = dict(net.config)
    good = ours(good_config)
    zip_pt = io.BytesIO()
    torch.save({"params": state}, zip_pt)

    class Evil:
        def __reduce__(self):
            return (print, ("code ran",))

    wrong = dict(state)
    wrong["body.0.weight"] = torch.zeros(8, 1, 5, 5)
    return [
        ("good.safetensors", good),
        ("empty.safetensors", b""),
        ("truncated.safetensors", good[: len(good) // 2]),
        ("header-length-lies.safetensors", struct.pack("<Q", 2**60) + good[8:]),
        ("config-list.safetensors", ours([1, 2, 3])),
        ("config-unknown-key.safetensors", ours({**good_config, "bogus": 1})),
        ("config-huge-features.safetensors", ours({**good_config, "num_features": 200000})),
        ("config-zero-channels.safetensors", ours({**good_config, "in_channels": 0})),
        ("config-string-scale.safetensors", ours({**good_config, "scale": "2"})),
        ("unknown-arch.safetensors", ours(good_config, arch="os.system")),
        ("wrong-shapes.safetensors", ours(good_config, tensors=wrong)),
        ("missing-tensor.safetensors",
         ours(good_config, tensors={k: v for k, v in state.items() if k != "body.0.bias"})),
        ("foreign-malformed.safetensors", save({"conv_first.weight": torch.zeros(3),
                                                "body.0.rdb1.conv1.weight": torch.zeros(3)})),
        ("pickled-code.pth", pickle.dumps({"params": Evil()})),
        ("good.pth", zip_pt.getvalue()),
        ("truncated.pth", zip_pt.getvalue()[: len(zip_pt.getvalue()) // 2]),
        ("random.pth", np.random.default_rng(seed).bytes(4096)),
        ("list.pth", _torch_bytes([torch.zeros(2)])),
    ]


def _torch_bytes(obj) -> bytes:
    bio = io.BytesIO()
    torch.save(obj, bio)
    return bio.getvalue()
