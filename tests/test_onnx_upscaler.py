"""OnnxUpscaler: an exported graph upscales exactly as the Upscaler does, in a process that
never imports PyTorch; its layout comes from the file (or a probe); bad files are named."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from irsrgan.checkpoint import save_model
from irsrgan.cli import main
from irsrgan.engines import export_onnx_bytes, installed
from irsrgan.errors import ConfigError
from irsrgan.export import export_onnx
from irsrgan.image import Image, read_image
from irsrgan.inference import Upscaler
from irsrgan.models import create_model
from irsrgan.onnx_upscaler import OnnxUpscaler
from irsrgan.tiling import Layout

from .conftest import TOL, write_test_image

pytest.importorskip("onnxruntime")


def _model(scale=4, **kw):
    torch.manual_seed(0)
    return create_model("compact", scale=scale, num_features=8, num_convs=3, **kw).eval()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "m.onnx"
    export_onnx(_model(), path, check=False)
    return path


def _frame(dtype, seed=0):
    rng = np.random.default_rng(seed)
    if dtype == np.uint8:
        return rng.integers(0, 256, (45, 70), dtype=np.uint8)
    return (9000 + rng.integers(0, 4000, (45, 70))).astype(np.uint16)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_equals_the_upscaler_on_the_same_engine_and_torch_within_float_noise(exported, dtype):
    image = Image(_frame(dtype), "png", "gray")
    up = OnnxUpscaler(exported, tile=48, overlap=8)
    got = up.upscale_image(image)
    same = Upscaler(_model(), device="cpu", backend="onnxruntime", tile=48, overlap=8)
    assert got.pixels.dtype == dtype and got.pixels.shape == (180, 280)
    np.testing.assert_array_equal(got.pixels, same.upscale_image(image).pixels)
    unit = torch.rand(1, 1, 33, 40, generator=torch.Generator().manual_seed(3))
    want = Upscaler(_model(), device="cpu", backend="torch", tile=0).upscale(unit).numpy()
    np.testing.assert_allclose(up.upscale(unit.numpy()), want, atol=TOL["onnx"])


def test_layout_comes_from_the_file_or_a_probe(tmp_path, exported):
    assert OnnxUpscaler(exported).layout == Layout(4, 1, 1, 1)
    assert OnnxUpscaler(exported).metadata["irsrgan.scale"] == "4"
    # a graph without our metadata (an RRDB reading its input 2x2 pixel-unshuffled at x2):
    # scale, channels and size multiple are found by running tiny inputs
    torch.manual_seed(0)
    rrdb = create_model("rrdbnet", scale=2, num_features=8, num_blocks=1, growth=4,
                        input_unshuffle=2).eval()
    bare = tmp_path / "bare.onnx"
    bare.write_bytes(export_onnx_bytes(rrdb))
    probed = OnnxUpscaler(bare, tile=0, overlap=8)
    assert probed.metadata == {} and probed.layout == Layout(2, 1, 1, 2)
    x = torch.rand(1, 1, 21, 27, generator=torch.Generator().manual_seed(1))
    want = Upscaler(rrdb, device="cpu", backend="torch", tile=0, overlap=8).upscale(x).numpy()
    np.testing.assert_allclose(probed.upscale(x.numpy()), want, atol=TOL["onnx"])
    # an RGB model (as Real-ESRGAN's exports are) given a gray frame: replicated in, averaged out
    rgb = _model(scale=2, in_channels=3, out_channels=3)
    (tmp_path / "rgb.onnx").write_bytes(export_onnx_bytes(rgb))
    probed = OnnxUpscaler(tmp_path / "rgb.onnx", tile=0, overlap=8)
    assert probed.layout == Layout(2, 3, 3, 1)
    want = Upscaler(rgb, device="cpu", backend="torch", tile=0, overlap=8).upscale(x).numpy()
    assert want.shape == (1, 1, 42, 54)
    np.testing.assert_allclose(probed.upscale(x.numpy()), want, atol=TOL["onnx"])


def test_runs_without_importing_torch(tmp_path, exported):
    src = write_test_image(tmp_path / "in.png", _frame(np.uint16))
    code = textwrap.dedent(f"""
        import sys
        from irsrgan.image import read_image
        from irsrgan.onnx_upscaler import OnnxUpscaler
        from irsrgan.streaming import write_rows
        write_rows({str(tmp_path / "out.png")!r},
                   OnnxUpscaler({str(exported)!r}, tile=48, overlap=8)
                   .upscale_image_rows(read_image({str(src)!r})))
        assert "torch" not in sys.modules, sorted(m for m in sys.modules if "torch" in m)
    """)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    out = read_image(tmp_path / "out.png")
    want = Upscaler(_model(), device="cpu", backend="onnxruntime", tile=48, overlap=8)
    np.testing.assert_array_equal(out.pixels, want.upscale_image(read_image(src)).pixels)


def _pair_files(tmp_path):
    """A tiny faithful model naming a tiny robust one as its denoise partner."""
    faithful, robust = tmp_path / "f.safetensors", tmp_path / "r.safetensors"
    save_model(_model(), robust)
    torch.manual_seed(1)
    save_model(create_model("compact", scale=4, num_features=8, num_convs=3), faithful,
               provenance={"denoise_partner": "r.safetensors"})
    return faithful, robust


def _field(blur: float, seed: int = 0) -> np.ndarray:
    """An 8-bit 70x45 frame: a smooth random field, area-downsampled; the bundled detector
    calls blur 2 clean (strength 0) and blur 4 half degraded (strength 0.7)."""
    import cv2

    f = cv2.GaussianBlur(np.random.default_rng(seed).random((180, 280)).astype(np.float32),
                         (0, 0), blur)
    lr = cv2.resize((f - f.min()) / (f.max() - f.min()), (70, 45), interpolation=cv2.INTER_AREA)
    return np.round(lr * 255).astype(np.uint8)


def test_exported_denoise_strength_is_the_pair_at_that_strength_anchored(tmp_path, capsys):
    faithful, robust = _pair_files(tmp_path)
    path = tmp_path / "pair.onnx"
    assert main(["export", str(faithful), "-o", str(path), "--denoise", "0.5",
                 "--no-check"]) == 0
    up = OnnxUpscaler(path, tile=48, overlap=8)
    assert up.anchor and up.metadata["irsrgan.denoise"] == "0.5"
    from irsrgan.checkpoint import load_model
    from irsrgan.denoise import DenoiseUpscaler

    pair = DenoiseUpscaler(load_model(faithful), load_model(robust), 0.5, device="cpu",
                           backend="onnxruntime", tile=48, overlap=8)
    image = Image(_frame(np.uint8, seed=4), "png", "gray")
    assert pair.upscale_image_rows(image).collect().pixels.shape == (180, 280)
    np.testing.assert_array_equal(up.upscale_image(image).pixels,
                                  pair.upscale_image_rows(image).collect().pixels)
    assert not OnnxUpscaler(path, anchor=False).anchor
    # the command line: anchored as the file says, unless --no-anchor (a smooth frame, where
    # anchoring moves the random models' levels back)
    smooth = np.add.outer(np.linspace(40, 200, 45), np.linspace(0, 30, 70)).astype(np.uint8)
    image = Image(smooth, "png", "gray")
    src = write_test_image(tmp_path / "in.png", smooth)
    plain = DenoiseUpscaler(load_model(faithful), load_model(robust), 0.5, anchor=False,
                            device="cpu", backend="onnxruntime", tile=48, overlap=8)
    anchored = pair.upscale_image_rows(image).collect().pixels
    unanchored = plain.upscale_image_rows(image).collect().pixels
    assert (anchored != unanchored).any()  # anchoring changes this frame
    for flag, want in (([], anchored), (["--no-anchor"], unanchored)):
        dst = tmp_path / f"out{len(flag)}.png"
        assert main(["upscale", str(src), "-o", str(dst), "--model", str(path), "--tile", "48",
                     "--overlap", "8", "-q", *flag]) == 0
        np.testing.assert_array_equal(read_image(dst).pixels, want)
    # the faithful end exported alone (int8 takes one strength) runs at strength 0, and the
    # command says so
    alone = tmp_path / "alone.onnx"
    assert main(["export", str(faithful), "-o", str(alone), "--int8"]) == 0
    assert OnnxUpscaler(alone).metadata["irsrgan.denoise_partner"] == "r.safetensors"
    capsys.readouterr()
    assert main(["upscale", str(src), "-o", str(tmp_path / "alone.png"), "--model",
                 str(alone), "-q"]) == 0
    assert "is the faithful end of a denoise pair alone, run at strength 0" in capsys.readouterr(
    ).err


def test_exported_pair_picks_each_images_strength_as_the_weights_do(tmp_path, capsys):
    from irsrgan.checkpoint import load_model
    from irsrgan.denoise import DenoiseUpscaler, model_at

    faithful, robust = _pair_files(tmp_path)
    path = tmp_path / "pair.onnx"
    assert main(["export", str(faithful), "-o", str(path)]) == 0  # a partner: the pair
    assert "the denoise pair: f.safetensors and r.safetensors" in capsys.readouterr().out
    up = OnnxUpscaler(path, tile=48, overlap=8)
    assert up.pair and up.anchor
    assert (up.metadata["irsrgan.denoise"], up.metadata["irsrgan.robust"]) == ("pair",
                                                                              "r.safetensors")
    f, r = load_model(faithful), load_model(robust)
    weights = DenoiseUpscaler(f, r, "auto", device="cpu", backend="onnxruntime", tile=48,
                              overlap=8)
    rng = np.random.default_rng(0)
    frames = {0.0: _field(2), 0.7: _field(4), 1.0: rng.integers(0, 256, (45, 70), np.uint8)}
    for strength, pixels in frames.items():  # 8-bit: auto, the strength the weights pick
        image = Image(pixels, "png", "gray")
        got = up.upscale_image(image).pixels
        want = weights.upscale_image_rows(image).collect().pixels
        assert up.last_auto and up.last_strength == weights.last_strength == strength
        # the interpolated weights are folded in float32 by ONNX Runtime, torch.lerp by
        # PyTorch: within a rounding of the 8-bit output; the ends are exact
        tol = 1 if 0 < strength < 1 else 0
        assert np.abs(got.astype(int) - want.astype(int)).max() <= tol
    image = Image(_frame(np.uint16), "png", "gray")  # 16-bit: the faithful end, not anchored
    got = up.upscale_image(image).pixels
    assert (up.last_strength, up.last_auto) == (0.0, False)
    np.testing.assert_array_equal(got, Upscaler(f, device="cpu", backend="onnxruntime", tile=48,
                                                overlap=8).upscale_image(image).pixels)
    # a fixed strength: the interpolated model; strength 1: the robust end's own graph exactly
    x = rng.random((1, 1, 23, 31), dtype=np.float32)
    mid = Upscaler(model_at(f, r, 0.35), device="cpu", backend="torch", tile=0).upscale(
        torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(OnnxUpscaler(path, strength=0.35, tile=0).upscale(x), mid,
                               atol=TOL["onnx"])
    export_onnx(r, tmp_path / "r.onnx", check=False)
    np.testing.assert_array_equal(OnnxUpscaler(path, strength=1, tile=0).upscale(x),
                                  OnnxUpscaler(tmp_path / "r.onnx", tile=0).upscale(x))
    # the command line: auto per 8-bit image, reported; --denoise S as the library does
    src = write_test_image(tmp_path / "in.png", frames[0.7])
    capsys.readouterr()
    assert main(["upscale", str(src), "-o", str(tmp_path / "auto.png"), "--model", str(path),
                 "-q"]) == 0
    assert "denoise auto: strength 0.70..0.70" in capsys.readouterr().err
    assert main(["upscale", str(src), "-o", str(tmp_path / "fixed.png"), "--model", str(path),
                 "--denoise", "0.35", "--tile", "48", "--overlap", "8", "-q"]) == 0
    np.testing.assert_array_equal(
        read_image(tmp_path / "fixed.png").pixels,
        OnnxUpscaler(path, strength=0.35, tile=48, overlap=8).upscale_image(
            read_image(src)).pixels)


def test_exported_pair_runs_auto_without_importing_torch(tmp_path):
    faithful, _ = _pair_files(tmp_path)
    path = tmp_path / "pair.onnx"
    assert main(["export", str(faithful), "-o", str(path), "--no-check"]) == 0
    src = write_test_image(tmp_path / "in.png", _field(4))
    code = textwrap.dedent(f"""
        import sys
        from irsrgan.image import read_image
        from irsrgan.onnx_upscaler import OnnxUpscaler
        up = OnnxUpscaler({str(path)!r}, tile=48, overlap=8)
        up.upscale_image(read_image({str(src)!r}))
        assert up.last_strength == 0.7, up.last_strength
        assert "torch" not in sys.modules, sorted(m for m in sys.modules if "torch" in m)
    """)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_a_pair_file_keeps_the_three_most_recent_strengths_and_obeys_no_anchor(tmp_path):
    faithful, robust = _pair_files(tmp_path)
    path = tmp_path / "pair.onnx"
    assert main(["export", str(faithful), "-o", str(path), "--no-check"]) == 0
    up = OnnxUpscaler(path, tile=0)
    assert up._pair_graph is None  # strength 0 (16-bit frames) needs only the file
    compiled = []
    real = OnnxUpscaler.runner_at

    def counting(self, strength):
        before = set(self._runners)
        runner = real(self, strength)
        compiled.extend(k for k in self._runners if k not in before)
        return runner

    up.runner_at = counting.__get__(up)
    for strength in (1, 0.55, 1, 0.6, 1, 0.55, 1, 0.6, 0, 1, 0.35, 0.6, 0.55):
        up.runner_at(strength)
    # least recently used out: 0.55 and 0.6 stay while 1 is reused; 0 is the file itself
    assert compiled == [1.0, 0.55, 0.6, 0.35, 0.55]
    assert list(up._runners) == [0.35, 0.6, 0.55]
    # --no-anchor: the pair's output above strength 0 as the interpolated model gives it (a
    # smooth frame, called degraded, where anchoring moves the random models' levels back)
    smooth = np.add.outer(np.linspace(40, 200, 45), np.linspace(0, 30, 70)).astype(np.uint8)
    image = Image(smooth, "png", "gray")
    anchored = OnnxUpscaler(path, tile=0).upscale_image(image).pixels
    plain = OnnxUpscaler(path, tile=0, anchor=False)
    got = plain.upscale_image(image).pixels
    assert plain.last_strength == 1.0 and (got != anchored).any()
    raw = plain.upscale(image.pixels[None, None].astype(np.float32) / 255, strength=1)
    np.testing.assert_array_equal(got, np.clip(np.round(raw[0, 0] * 255), 0, 255))


def test_pair_files_and_exports_that_are_wrong_are_named(tmp_path, capsys):
    import onnx

    from irsrgan import onnx_pair

    faithful, robust = _pair_files(tmp_path)
    path = tmp_path / "pair.onnx"
    assert main(["export", str(faithful), "-o", str(path), "--no-check"]) == 0
    # a pair whose strength initializer an optimiser folded away: named on first use
    graph = onnx.load(str(path))
    kept = [t for t in graph.graph.initializer if t.name != onnx_pair.STRENGTH]
    del graph.graph.initializer[:]
    graph.graph.initializer.extend(kept)
    graph.graph.node.insert(0, onnx.helper.make_node(
        "Constant", [], [onnx_pair.STRENGTH], value_float=0.0))
    broken = tmp_path / "folded.onnx"
    onnx.save(graph, str(broken))
    with pytest.raises(ConfigError, match=r"folded\.onnx: says it is a denoise pair but has no"):
        OnnxUpscaler(broken, strength=1, tile=0).upscale(np.zeros((1, 1, 8, 8), np.float32))
    # two graphs that are not one network, or that differ in a weight's shape or type
    single = tmp_path / "one.onnx"
    export_onnx(_model(), single, check=False)
    other = tmp_path / "other.onnx"
    export_onnx(create_model("compact", scale=4, num_features=8, num_convs=4), other,
                check=False)
    with pytest.raises(ConfigError, match="not the same network"):
        onnx_pair.build_pair(onnx.load(str(single)), onnx.load(str(other)))
    wide = tmp_path / "wide.onnx"
    export_onnx(create_model("compact", scale=4, num_features=12, num_convs=3), wide,
                check=False)
    with pytest.raises(ConfigError, match="differ in weight"):
        onnx_pair.build_pair(onnx.load(str(single)), onnx.load(str(wide)))
    with pytest.raises(ConfigError, match=r"strength must be in \[0, 1\]"):
        onnx_pair.at_strength(onnx.load(str(path)), 1.5)
    # a fixed-strength file is not a pair; a missing folder is named, nothing written
    fixed = tmp_path / "fixed.onnx"
    assert main(["export", str(faithful), "-o", str(fixed), "--denoise", "0.5",
                 "--no-check"]) == 0
    with pytest.raises(ConfigError, match="the pair exported at the fixed strength 0.5"):
        OnnxUpscaler(fixed, strength=0.7)
    assert main(["export", str(faithful), "-o", str(tmp_path / "nowhere" / "p.onnx")]) == 2
    assert "the folder" in capsys.readouterr().err and not (tmp_path / "nowhere").exists()
    assert main(["export", str(faithful), "-o", str(tmp_path / "i.onnx"), "--int8",
                 "--denoise", "auto"]) == 2
    assert "--int8 writes one strength" in capsys.readouterr().err


def test_export_refuses_denoise_without_a_partner(tmp_path, capsys):
    save_model(_model(), tmp_path / "m.safetensors")
    assert main(["export", str(tmp_path / "m.safetensors"), "-o", str(tmp_path / "m.onnx"),
                 "--denoise", "0.5"]) == 2
    assert "has no denoise partner" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()


def test_bad_files_and_options_are_named(tmp_path, exported):
    with pytest.raises(ConfigError, match=r"nothing\.onnx: no such ONNX file"):
        OnnxUpscaler(tmp_path / "nothing.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a graph")
    with pytest.raises(ConfigError, match=r"junk\.onnx: onnxruntime cannot load this file"):
        OnnxUpscaler(junk)
    with pytest.raises(ConfigError, match="engine must be one of onnxruntime, openvino"):
        OnnxUpscaler(exported, engine="torch")
    with pytest.raises(ConfigError, match="tile 20 too small for overlap 16"):
        OnnxUpscaler(exported, tile=20)


def test_openvino_gives_the_same_output(exported):
    if not installed("openvino"):
        pytest.skip("openvino is not installed (optional extra)")
    x = np.random.default_rng(5).random((1, 1, 40, 52), dtype=np.float32)
    ov = OnnxUpscaler(exported, engine="openvino", tile=32, overlap=4)
    assert ov.layout == Layout(4, 1, 1, 1)
    assert ov.metadata["irsrgan.scale"] == "4"  # read from the graph by OpenVINO too
    np.testing.assert_allclose(ov.upscale(x), OnnxUpscaler(exported, tile=32, overlap=4)
                               .upscale(x), atol=TOL["onnx"])



def test_the_package_imports_its_public_names_on_first_use():
    import irsrgan

    assert irsrgan.Upscaler is Upscaler and "Upscaler" in dir(irsrgan)
    assert set(irsrgan.__all__) <= set(dir(irsrgan))
    with pytest.raises(AttributeError, match="has no attribute 'Upscalr'"):
        irsrgan.Upscalr  # noqa: B018


def test_the_command_line_runs_an_onnx_model_without_torch_as_it_runs_the_weights(tmp_path):
    weights = tmp_path / "m.safetensors"
    save_model(_model(), weights)
    onnx = tmp_path / "m.onnx"
    assert main(["export", str(weights), "-o", str(onnx), "--no-check"]) == 0
    src = tmp_path / "in"
    write_test_image(src / "a.png", _frame(np.uint16))  # consistency on: 16-bit
    write_test_image(src / "b.png", _frame(np.uint8, seed=2))
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    code = textwrap.dedent(f"""
        import sys
        from irsrgan.cli import main
        status = main(["upscale", {str(src)!r}, "-o", {str(tmp_path / "onnx")!r}, "--model",
                       {str(onnx)!r}, "--tile", "48", "--overlap", "8", "-q"])
        assert "torch" not in sys.modules, "the ONNX route imported torch"
        sys.exit(status)
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 1, run.stderr  # the broken file is reported, the others written
    assert "broken.png" in run.stderr and "2 written" in run.stderr
    assert main(["upscale", str(src), "-o", str(tmp_path / "torch"), "--model", str(weights),
                 "--backend", "onnxruntime", "--tile", "48", "--overlap", "8", "-q"]) == 1
    for name in ("a.png", "b.png"):
        np.testing.assert_array_equal(read_image(tmp_path / "onnx" / name).pixels,
                                      read_image(tmp_path / "torch" / name).pixels)


def test_the_command_line_names_what_an_onnx_model_cannot_do(tmp_path, exported, capsys):
    src = write_test_image(tmp_path / "in.png", _frame(np.uint8))
    for extra, message in ((["--denoise", "0.5"], "a denoise strength needs a pair file"),
                           (["--ensemble"], "--ensemble: not with an ONNX model"),
                           (["--backend", "torch"], "--backend torch: an ONNX model runs with"),
                           (["--device", "cuda"], "--device cuda: an ONNX model runs on the CPU"),
                           (["--tile", "20"], "tile 20 too small for overlap 16")):
        assert main(["upscale", str(src), "-o", str(tmp_path / "out.png"), "--model",
                     str(exported), *extra]) == 2
        assert message in capsys.readouterr().err
        assert not (tmp_path / "out.png").exists()


def test_int8_export_runs_without_torch_near_float_and_says_whether_it_passed_the_gate(
        tmp_path, capsys, monkeypatch):
    weights = tmp_path / "m.safetensors"
    save_model(_model(), weights)
    path = tmp_path / "m-int8.onnx"
    assert main(["export", str(weights), "-o", str(path), "--int8"]) == 0
    assert "not in the int8 gate" in capsys.readouterr().out
    up = OnnxUpscaler(path, tile=0)
    assert up.layout == Layout(4, 1, 1, 1) and up.metadata["irsrgan.int8_gate"] == "not passed"
    x = np.round(np.random.default_rng(6).random((1, 1, 24, 31), dtype=np.float32) * 255) / 255
    assert main(["export", str(weights), "-o", str(tmp_path / "f.onnx"), "--no-check"]) == 0
    float32 = OnnxUpscaler(tmp_path / "f.onnx", tile=0).upscale(x)
    int8 = up.upscale(x)
    assert 0 < np.abs(int8 - float32).mean() < 0.01  # quantised: close, not equal
    from irsrgan import quantize

    assert main(["export", str(weights), "-o", str(path), "--int8", "--opset", "17"]) == 2
    assert "--opset is for the float graph" in capsys.readouterr().err
    monkeypatch.setattr(quantize, "passes_gate", lambda model: True)
    assert main(["export", str(weights), "-o", str(path), "--int8"]) == 0
    assert "passed the int8 gate" in capsys.readouterr().out
    assert OnnxUpscaler(path).metadata["irsrgan.int8_gate"] == "passed"
