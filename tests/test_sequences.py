"""Sequences: every input kind read, upscaled and written back as the same kind; 16-bit counts,
frame rate and timestamps kept; --start/--end/--every; resume after an interruption."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest
import tifffile
import torch

from irsrgan.checkpoint import save_model
from irsrgan.cli import main
from irsrgan.errors import ConfigError
from irsrgan.image import Image, read_image, write_image
from irsrgan.inference import Upscaler
from irsrgan.models import create_model
from irsrgan.sequences import (
    Selection,
    SequenceResult,
    natural_key,
    open_sequence,
    sniff_sequence,
    upscale_sequence,
)
from irsrgan.sequences.writers import work_folder

from .conftest import require_shared_data

av = pytest.importorskip("av")


def make_clip(path, frames, *, codec="ffv1", pix_fmt="gray16le", rate=25, pts=None,
              time_base=None, audio=False, fmt=None):
    """Encode ``frames`` (gray arrays) with PyAV; ``pts`` in ``time_base`` units."""
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate)
        stream.height, stream.width = frames[0].shape
        stream.pix_fmt = pix_fmt
        if time_base is not None:
            stream.time_base = time_base
            stream.codec_context.time_base = time_base
        if codec == "libx264":
            stream.codec_context.options = {"crf": "10", "bf": "0"}
        sound = out.add_stream("aac", rate=8000) if audio else None
        for i, px in enumerate(frames):
            src_fmt = "gray16le" if px.dtype == np.uint16 else "gray"
            vf = av.VideoFrame.from_ndarray(px, format=src_fmt)
            if pix_fmt != src_fmt:
                vf = vf.reformat(format=pix_fmt)
            vf.pts = i if pts is None else pts[i]
            if time_base is not None:
                vf.time_base = time_base
            for packet in stream.encode(vf):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
        if sound is not None:
            af = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp",
                                            layout="mono")
            af.sample_rate, af.pts = 8000, 0
            for packet in sound.encode(af):
                out.mux(packet)
            for packet in sound.encode():
                out.mux(packet)


def read_all(path):
    with open_sequence(path) as reader:
        return reader.info, list(reader.frames())


def nearest(px, s=2):
    return np.repeat(np.repeat(px, s, axis=0), s, axis=1)


def nearest_frames(images):
    """A stand-in for the model: nearest-neighbour x2 of every frame."""
    for image in images:
        yield Image(nearest(image.pixels), format=image.format, layout=image.layout,
                    tiff_tags=image.tiff_tags)


@pytest.fixture
def identity_file(tmp_path):
    """A x2 compact model whose body is zero: its output is the nearest-neighbour upscale."""
    model = create_model("compact", scale=2, num_features=8, num_convs=2)
    for p in model.parameters():
        p.data.zero_()
    path = tmp_path / "identity.safetensors"
    save_model(model, path)
    return path


@pytest.fixture
def upscaler():
    torch.manual_seed(0)
    model = create_model("compact", scale=2, num_features=8, num_convs=2)
    return Upscaler(model, device="cpu", backend="torch", tile=0)


def test_natural_order_and_selection():
    names = ["frame_10.png", "frame_2.png", "Frame_1.png"]
    assert sorted(names, key=natural_key) == ["Frame_1.png", "frame_2.png", "frame_10.png"]
    sel = Selection(start=2, end=9, every=3)
    assert [i for i in range(12) if sel.keeps(i)] == [2, 5, 8]
    assert sel.count(12) == 3 and sel.count(6) == 2 and Selection().count(None) is None
    with pytest.raises(ConfigError, match="every"):
        Selection(every=0)
    with pytest.raises(ConfigError, match="end"):
        Selection(start=5, end=5)


def test_kinds_are_detected_from_content(tmp_path):
    frames = [np.full((8, 10), v, np.uint16) for v in (1, 2)]
    make_clip(tmp_path / "clip.bin", frames, fmt="matroska")  # no telling suffix
    # a TIFF whatever its name
    tifffile.imwrite(tmp_path / "stack.png", np.stack(frames), photometric="minisblack")
    tifffile.imwrite(tmp_path / "one.tif", frames[0])
    write_image(tmp_path / "still.png", Image(np.zeros((4, 4), np.uint8)))
    assert sniff_sequence(tmp_path / "clip.bin") == "video"
    assert sniff_sequence(tmp_path / "stack.png") == "tiff"
    assert sniff_sequence(tmp_path / "one.tif") is None  # one page: a still
    assert sniff_sequence(tmp_path / "still.png") is None
    assert sniff_sequence(tmp_path) == "folder"
    (tmp_path / "notes.ans").write_text("FFmpeg's tty demuxer opens text as video")
    assert sniff_sequence(tmp_path / "notes.ans") is None


def test_flir_seq_and_csq_frames_and_times():
    root = require_shared_data("flir-sequences")
    info, frames = read_all(root / "SampleSEQ.seq")
    assert (info.kind, info.frames, info.width, info.height) == ("flir-seq", 2, 640, 480)
    assert [f.pts for f in frames] == [0, 3967]  # ms, from each frame's camera-info record
    px = frames[0].image.pixels
    assert px.dtype == np.uint16 and (int(px.min()), int(px.max())) == (17220, 20817)
    assert px[0, :4].tolist() == [17870, 17833, 17808, 17829]

    info, frames = read_all(root / "SampleCSQ.csq")
    assert (info.kind, info.frames, info.width, info.height) == ("flir-csq", 8, 1024, 768)
    assert [f.pts for f in frames] == [0, 34, 67, 100, 134, 167, 200, 234]
    assert info.rate == Fraction(1000, 33)
    assert [(int(f.image.pixels.min()), int(f.image.pixels.max())) for f in frames[:2]] == [
        (13721, 16295), (13719, 16302)]  # JPEG-LS frames, the last one 4 bytes short


def test_flir_seq_to_tiff_stack_keeps_raw_counts(tmp_path):
    root = require_shared_data("flir-sequences")
    out = tmp_path / "seq.tiff"
    result = upscale_sequence(root / "SampleSEQ.seq", out, None, process=nearest_frames,
                              progress=False)
    assert result.written == 2
    _, src = read_all(root / "SampleSEQ.seq")
    with tifffile.TiffFile(out) as tif:
        pages = [p.asarray() for p in tif.pages]
    assert len(pages) == 2
    for page, frame in zip(pages, src, strict=True):
        assert page.dtype == np.uint16
        np.testing.assert_array_equal(page, nearest(frame.image.pixels))
    assert not work_folder(out).exists()


def test_16bit_ffv1_keeps_every_count_through_tiled_upscaling(tmp_path, identity_file):
    rng = np.random.default_rng(0)
    # flat frames (one repeated: static, so the default temporal blend acts on it) and noise
    frames = [np.full((24, 32), v, np.uint16) for v in (14000, 14000, 14003, 65535, 0)]
    frames.append(rng.integers(0, 65536, (24, 32)).astype(np.uint16))
    tb = Fraction(1, 1000)
    times = [0, 40, 80, 120, 160, 240]  # a dropped frame: timestamps, not a frame count
    make_clip(tmp_path / "in.mkv", frames, pts=times, time_base=tb)
    code = main(["upscale", str(tmp_path / "in.mkv"), "-o", str(tmp_path / "out.mkv"),
                 "--model", str(identity_file), "--tile", "24", "--overlap", "4", "--quiet",
                 "--backend", "torch"])
    assert code == 0
    info, out = read_all(tmp_path / "out.mkv")
    assert (info.codec, info.dtype, info.width, info.height) == ("ffv1", np.uint16, 64, 48)
    assert [float(f.pts * info.time_base) for f in out] == [t / 1000 for t in times]
    for got, want in zip(out, frames, strict=True):
        np.testing.assert_array_equal(got.image.pixels, nearest(want))


def test_8bit_h264_keeps_rate_and_times_and_drops_audio(tmp_path, upscaler, capsys):
    yy, xx = np.mgrid[:24, :32]
    base = (60 + 3 * xx + 80 * np.exp(-((yy - 12) ** 2 + (xx - 12) ** 2) / 30)).astype(np.uint8)
    frames = [np.roll(base, i, axis=1) for i in range(6)]
    tb = Fraction(1, 30000)
    make_clip(tmp_path / "in.mp4", frames, codec="libx264", pix_fmt="yuv420p",
              rate=Fraction(30000, 1001), pts=[1001 * i for i in range(6)], time_base=tb,
              audio=True)
    info_in, src = read_all(tmp_path / "in.mp4")
    assert info_in.layout == "gray" and info_in.dropped  # neutral chroma: read as luma
    result = upscale_sequence(tmp_path / "in.mp4", tmp_path / "out.mp4", upscaler,
                              process=nearest_frames, progress=False, segment_frames=4)
    assert any("audio" in n for n in result.notes)
    info, out = read_all(tmp_path / "out.mp4")
    assert info.codec == "h264" and info.layout == "gray" and not info.dropped
    assert info.rate == Fraction(30000, 1001)
    assert [f.pts * info.time_base for f in out] == [f.pts * info_in.time_base for f in src]
    for got, want in zip(out, src, strict=True):  # H.264 at CRF 17: close, not exact
        diff = got.image.pixels.astype(int) - nearest(want.image.pixels).astype(int)
        assert np.abs(diff).mean() < 1.5 and abs(diff.mean()) < 0.2  # no level shift


def test_start_end_every_select_frames_and_shift_times(tmp_path):
    frames = [np.full((8, 10), 100 * i, np.uint16) for i in range(10)]
    make_clip(tmp_path / "in.mkv", frames, rate=10, pts=list(range(10)),
              time_base=Fraction(1, 10))
    upscale_sequence(tmp_path / "in.mkv", tmp_path / "out.mkv", None, process=nearest_frames,
                     selection=Selection(start=2, end=9, every=3), progress=False)
    info, out = read_all(tmp_path / "out.mkv")
    assert [int(f.image.pixels[0, 0]) for f in out] == [200, 500, 800]
    assert [float(f.pts * info.time_base) for f in out] == [0.0, 0.3, 0.6]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_tiff_stack_round_trip(tmp_path, dtype, identity_file):
    rng = np.random.default_rng(2)
    hi = 256 if dtype == np.uint8 else 65536
    stack = rng.integers(0, hi, (3, 10, 12)).astype(dtype)
    tifffile.imwrite(tmp_path / "in.tif", stack, photometric="minisblack")
    code = main(["upscale", str(tmp_path / "in.tif"), "-o", str(tmp_path / "out"),
                 "--model", str(identity_file), "--quiet", "--backend", "torch",
                 "--temporal", "0"])  # frame by frame: random frames have static pixels
    assert code == 0
    out = tifffile.imread(tmp_path / "out" / "in.tif")
    assert out.dtype == dtype and out.shape == (3, 20, 24)
    np.testing.assert_array_equal(out, np.stack([nearest(p) for p in stack]))


def test_frame_folder_keeps_names_in_natural_order(tmp_path, identity_file):
    src = tmp_path / "frames"
    src.mkdir()
    for i in (1, 2, 10):
        write_image(src / f"frame_{i}.png", Image(np.full((6, 8), i, np.uint8)))
    code = main(["upscale", str(src), "-o", str(tmp_path / "out"), "--model",
                 str(identity_file), "--quiet", "--backend", "torch", "--every", "2",
                 "--temporal", "0"])
    assert code == 0
    names = sorted(p.name for p in (tmp_path / "out" / "frames").iterdir())
    assert names == ["frame_1.png", "frame_10.png"]  # natural order: 1, 2, 10; every 2nd
    assert read_image(tmp_path / "out" / "frames" / "frame_10.png").pixels.tolist() == \
        np.full((12, 16), 10).tolist()
    info, frames = read_all(src)
    assert [f.name for f in frames] == ["frame_1.png", "frame_2.png", "frame_10.png"]


class _Killed(Exception):
    pass


def _upscale_then_die(after, calls):
    def process(images):
        for image in images:
            if len(calls) == after:
                raise _Killed
            calls.append(int(image.pixels[0, 0]))
            yield Image(nearest(image.pixels), layout=image.layout)
    return process


@pytest.mark.parametrize("suffix", [".mkv", ".tiff"])
def test_resume_continues_at_the_first_missing_frame(tmp_path, suffix):
    frames = [np.full((8, 10), 1000 + i, np.uint16) for i in range(7)]
    make_clip(tmp_path / "in.mkv", frames)
    out = tmp_path / f"out{suffix}"
    calls: list[int] = []
    with pytest.raises(_Killed):
        upscale_sequence(tmp_path / "in.mkv", out, None, process=_upscale_then_die(5, calls),
                         progress=False, segment_frames=2)
    assert not out.exists() and work_folder(out).exists()  # nothing half-written
    # what a hard kill leaves: a half-written segment, a temporary frame file
    (work_folder(out) / "segment_000002.part.nut").write_bytes(b"half")
    (work_folder(out) / ".frame_0000005.tif.x.tmp").write_bytes(b"half")
    # video keeps closed segments of 2 frames (0-1, 2-3); TIFF keeps every finished frame
    first_missing = 4 if suffix == ".mkv" else 5
    calls.clear()
    result = upscale_sequence(tmp_path / "in.mkv", out, None,
                              process=_upscale_then_die(99, calls), progress=False,
                              segment_frames=2)
    assert result.resumed == first_missing
    assert calls == [1000 + i for i in range(first_missing, 7)]
    _, got = read_all(out)
    assert [int(f.image.pixels[0, 0]) for f in got] == [1000 + i for i in range(7)]
    assert not work_folder(out).exists()


def test_resume_refuses_a_work_folder_of_another_job(tmp_path):
    frames = [np.full((8, 10), i, np.uint16) for i in range(4)]
    make_clip(tmp_path / "in.mkv", frames)
    out = tmp_path / "out.tiff"
    with pytest.raises(_Killed):
        upscale_sequence(tmp_path / "in.mkv", out, None, process=_upscale_then_die(2, []),
                         progress=False)
    with pytest.raises(ConfigError, match=r"settings \(every"):
        upscale_sequence(tmp_path / "in.mkv", out, None, process=nearest_frames,
                         selection=Selection(every=2), progress=False)
    upscale_sequence(tmp_path / "in.mkv", out, None, process=nearest_frames,
                     selection=Selection(every=2), progress=False, overwrite=True)
    assert tifffile.imread(out).shape == (2, 16, 20)


def test_upscale_frames_uses_one_value_map_for_the_clip(upscaler):
    rng = np.random.default_rng(3)
    a = rng.integers(14000, 15000, (12, 12)).astype(np.uint16)
    b = a.copy()
    b[0, 0] = 20000  # one hot pixel must not change how every other pixel is mapped
    out = list(upscaler.upscale_frames([Image(a, "tiff"), Image(b, "tiff")]))
    diff = out[0].pixels.astype(int) - out[1].pixels.astype(int)
    assert np.abs(diff[12:, 12:]).max() == 0  # beyond the model's reach: the same output
    stretched = list(upscaler.upscale_frames([Image(a, "tiff"), Image(b, "tiff")],
                                             range_mode="stretch"))
    moved = stretched[0].pixels.astype(int) - stretched[1].pixels.astype(int)
    assert np.abs(moved[12:, 12:]).max() > 1  # per-frame stretching changes every pixel
    assert [s.pixels.tolist() for s in stretched] == [
        upscaler.upscale_image(Image(x, "tiff")).pixels.tolist() for x in (a, b)]


def test_evaluate_a_clip_reports_flicker_against_bicubic(tmp_path, identity_file, capsys):
    rng = np.random.default_rng(4)
    yy, xx = np.mgrid[:32, :40]
    scene = 100 + 60 * np.sin(xx / 5.0) * np.cos(yy / 7.0)
    frames = [np.clip(scene + rng.normal(0, 3, scene.shape), 0, 255).astype(np.uint8)
              for _ in range(4)]  # a static scene with sensor noise
    make_clip(tmp_path / "clip.mkv", frames, pix_fmt="gray")
    code = main(["evaluate", "--data", str(tmp_path / "clip.mkv"), "--model",
                 str(identity_file), "--out", str(tmp_path / "report"), "--no-lpips",
                 "--quiet", "--grid", "1", "--backend", "torch"])
    assert code == 0
    assert "flicker ×bicubic" in capsys.readouterr().out
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    means = summary["means"]
    assert summary["settings"]["n_images"] == 4
    assert means["bicubic"]["flicker_ratio"] == pytest.approx(1.0, abs=1e-3)
    assert 1.05 < means["identity"]["flicker_ratio"] < 2.0  # nearest neighbour flickers more


def test_metrics_on_clips_flicker_against_input_and_hr(tmp_path, capsys):
    rng = np.random.default_rng(5)
    lr = [np.full((10, 12), 100, np.uint8) + rng.integers(0, 3, (10, 12)).astype(np.uint8)
          for _ in range(3)]
    make_clip(tmp_path / "lr.mkv", lr, pix_fmt="gray")
    upscale_sequence(tmp_path / "lr.mkv", tmp_path / "sr.mkv", None, process=nearest_frames,
                     progress=False)
    assert main(["metrics", str(tmp_path / "sr.mkv"), str(tmp_path / "lr.mkv"),
                 "--json", str(tmp_path / "m.json")]) == 0
    report = json.loads((tmp_path / "m.json").read_text())
    assert report["flicker"]["pairs"] == 2 and report["flicker"]["ratio"] > 1.0
    assert "bicubic" in capsys.readouterr().out
    # the SR clip against itself as HR: PSNR inf, flicker exactly that of the HR
    assert main(["metrics", str(tmp_path / "sr.mkv"), str(tmp_path / "sr.mkv"),
                 "--json", str(tmp_path / "m2.json")]) == 0
    report = json.loads((tmp_path / "m2.json").read_text())
    assert report["flicker"]["ratio"] == pytest.approx(1.0)
    assert [f["psnr"] for f in report["frames"]] == [None, None, None]  # inf in JSON: null


def test_clip_value_map_spans_the_first_frames():
    from irsrgan.image import ValueMap
    from irsrgan.sequences.job import clip_value_map

    flat = Image(np.full((4, 4), 14000, np.uint16))
    scene = Image(np.array([[13000, 16000]], np.uint16))
    assert clip_value_map([flat, scene]) == ValueMap(offset=13000.0, scale=3000.0)
    assert clip_value_map([scene, scene]) == ValueMap(offset=13000.0, scale=3000.0)
    eight = Image(np.array([[3, 7]], np.uint8))
    assert clip_value_map([eight]) == ValueMap(offset=0.0, scale=255.0)


def test_the_same_frame_gives_the_same_output_tiled(upscaler):
    rng = np.random.default_rng(6)
    frame = Image(rng.integers(0, 256, (40, 48)).astype(np.uint8))
    upscaler.tile, upscaler.overlap = 24, 4  # several tiles, laid out by the frame size only
    a, b = upscaler.upscale_frames([frame, frame])
    assert np.array_equal(a.pixels, b.pixels)


def test_existing_output_is_skipped_and_the_input_is_never_the_output(tmp_path):
    frames = [np.full((8, 10), i, np.uint16) for i in range(2)]
    make_clip(tmp_path / "in.mkv", frames)
    with pytest.raises(ConfigError, match="the input itself"):
        upscale_sequence(tmp_path / "in.mkv", tmp_path / "in.mkv", None,
                         process=nearest_frames, progress=False, overwrite=True)
    code = main(["upscale", str(tmp_path / "in.mkv"), "-o", str(tmp_path / "x.png")])
    assert code == 1 and not (tmp_path / "x.png").exists()
    (tmp_path / "out.tiff").write_bytes(b"keep me")
    result = upscale_sequence(tmp_path / "in.mkv", tmp_path / "out.tiff", None,
                              process=nearest_frames, progress=False)
    assert result.skipped and (tmp_path / "out.tiff").read_bytes() == b"keep me"


# --------------------------------------------------------------------------- length limits
def count_decoded(monkeypatch) -> list[int]:
    """Count the video frames FFmpeg decodes (every reader goes through ``_decode``)."""
    from irsrgan.sequences.readers import VideoReader

    decoded = [0]
    original = VideoReader._decode

    def counting(self):
        for frame in original(self):
            decoded[0] += 1
            yield frame

    monkeypatch.setattr(VideoReader, "_decode", counting)
    return decoded


def test_limits_refuse_a_long_clip_from_its_header(tmp_path, monkeypatch):
    from irsrgan.errors import SequenceTooLongError
    from irsrgan.sequences import ClipLimits

    src = tmp_path / "long.mp4"
    make_clip(src, [np.full((16, 16), 4 * i, np.uint8) for i in range(50)], codec="libx264",
              pix_fmt="yuv420p")
    decoded = count_decoded(monkeypatch)
    with pytest.raises(SequenceTooLongError, match=r"long.mp4: 50 frames; the limit is 3") as e:
        upscale_sequence(src, tmp_path / "out.mp4", None, process=nearest_frames,
                         progress=False, limits=ClipLimits(max_frames=3))
    assert e.value.limit == "frames"
    assert decoded[0] <= 1  # only the first frame, which opening the reader decodes
    with pytest.raises(SequenceTooLongError, match=r"2 s long; the limit is 1.5 s") as e:
        upscale_sequence(src, tmp_path / "out.mp4", None, process=nearest_frames,
                         progress=False, limits=ClipLimits(max_seconds=1.5))
    assert e.value.limit == "seconds"
    assert not (tmp_path / "out.mp4").exists()
    # within the limits: every frame
    result = upscale_sequence(src, tmp_path / "out.mp4", None, process=nearest_frames,
                              progress=False, limits=ClipLimits(max_frames=50, max_seconds=2))
    assert result.written == 50


def test_limits_stop_a_clip_that_does_not_say_its_length(tmp_path, monkeypatch):
    """A raw H.264 stream has no frame count or duration: the guard stops at the first frame
    past the limit, so no more than limit + 1 frames are decoded."""
    from irsrgan.errors import SequenceTooLongError
    from irsrgan.sequences import ClipLimits

    src = tmp_path / "raw.h264"
    make_clip(src, [np.full((16, 16), 4 * i, np.uint8) for i in range(50)], codec="libx264",
              pix_fmt="yuv420p", fmt="h264")
    with open_sequence(src) as reader:
        assert reader.info.estimated_frames() is None
    decoded = count_decoded(monkeypatch)
    seen = []
    with pytest.raises(SequenceTooLongError, match=r"more than 3 frames") as e:
        upscale_sequence(src, tmp_path / "out.mkv", None, process=nearest_frames,
                         progress=False, limits=ClipLimits(max_frames=3),
                         on_frame=lambda position, frame, image: seen.append(position))
    assert e.value.limit == "frames"
    assert decoded[0] == 4
    assert not (tmp_path / "out.mkv").exists()
    # by time: 25 frames/s, a limit of 0.2 s stops at the frame at 0.2 s (the 6th)
    decoded[0] = 0
    with pytest.raises(SequenceTooLongError, match=r"a frame at 0.2 s; the limit is 0.2 s"):
        upscale_sequence(src, tmp_path / "out.mkv", None, process=nearest_frames,
                         progress=False, limits=ClipLimits(max_seconds=0.2), overwrite=True)
    assert decoded[0] == 6


def test_on_frame_sees_every_frame_in_order(tmp_path):
    src = tmp_path / "c.mkv"
    frames = [np.full((8, 10), 9 * i, np.uint8) for i in range(5)]
    make_clip(src, frames, pix_fmt="gray")
    seen = []
    upscale_sequence(src, tmp_path / "o.mkv", None, process=nearest_frames, progress=False,
                     on_frame=lambda pos, frame, image: seen.append(
                         (pos, frame.index, image.pixels.shape, int(image.pixels[0, 0]))))
    assert seen == [(i, i, (16, 20), 9 * i) for i in range(5)]


def test_a_clip_job_records_the_weights_so_a_replaced_model_is_not_resumed(tmp_path,
                                                                            monkeypatch):
    """The same command after the model file changed (a bundled model or a pair's partner
    replaced) describes another job: its interrupted frames are not mixed with new ones."""
    from irsrgan.cli import sequence_args

    seen = []
    monkeypatch.setattr(sequence_args, "upscale_sequence",
                        lambda *a, **kw: seen.append(kw["job"]) or SequenceResult(a[0], a[1]))
    tifffile.imwrite(tmp_path / "in.tif", np.zeros((2, 6, 8), np.uint8))
    model = tmp_path / "m.safetensors"
    for seed in (0, 0, 1):
        torch.manual_seed(seed)
        save_model(create_model("compact", scale=2, num_features=8, num_convs=2), model)
        assert main(["upscale", str(tmp_path / "in.tif"), "-o", str(tmp_path / "out"),
                     "--model", str(model), "-q", "--backend", "torch"]) == 0
    assert seen[0] == seen[1]  # same weights: the same job, resumable
    assert {k for k in seen[0] if seen[0][k] != seen[2][k]} == {"weights"}
