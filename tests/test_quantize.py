"""int8: the quantised graph keeps the input's own levels and stays close to float32; it is
cached per weights (a broken cache file is rebuilt); ``auto`` times the int8 engines only for
8-bit input and models in the gate; the bundled gate covers the shipped pair."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from irsrgan import engines, quantize
from irsrgan.checkpoint import load_model
from irsrgan.errors import ConfigError
from irsrgan.image import Image
from irsrgan.inference import Upscaler
from irsrgan.models import create_model

pytest.importorskip("onnxruntime")


@pytest.fixture(autouse=True)
def _cache(monkeypatch, tmp_path):
    monkeypatch.setenv("IRSRGAN_CACHE_DIR", str(tmp_path / "cache"))


def _model(seed: int = 0):
    torch.manual_seed(seed)
    return create_model("compact", scale=2, num_features=8, num_convs=5).eval()


def _smooth(h: int = 40, w: int = 52, seed: int = 0) -> torch.Tensor:
    """A smooth 8-bit frame (a blurred random field, rounded to k/255)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.avg_pool2d(torch.rand(1, 1, h + 6, w + 6, generator=gen), 7, 1)
    return torch.round(x * 255) / 255


def test_calibration_crops_are_bundled_8_bit_lr():
    crops = quantize.calibration_crops()
    assert crops.shape == (32, 1, 64, 64) and crops.dtype == np.float32
    assert crops.min() >= 0 and crops.max() <= 1
    np.testing.assert_array_equal(np.round(crops * 255) / 255, crops)
    assert crops.reshape(32, -1).std(axis=1).min() > 0  # no flat crops


def test_int8_graph_quantises_the_convolutions_but_two_at_each_end():
    import onnx

    data = quantize.int8_onnx(_model())
    graph = onnx.load_from_string(data).graph
    convs = [n for n in graph.node if n.op_type == "Conv"]
    produced_by = {out: n for n in graph.node for out in n.output}
    dequantised = [produced_by.get(c.input[0]) for c in convs]
    kinds = [d.op_type if d is not None else None for d in dequantised]
    assert len(convs) == 7 and quantize.FLOAT_LAYERS == 2
    assert kinds[2:-2] == ["DequantizeLinear"] * 3
    assert kinds[0] is None  # the first reads the graph's input itself: never quantised
    assert "DequantizeLinear" not in kinds[:2] + kinds[-2:]  # float activations


def test_a_graph_too_small_to_quantise_is_refused_by_name():
    torch.manual_seed(0)
    tiny = create_model("compact", scale=2, num_features=8, num_convs=2)  # 4 convolutions
    with pytest.raises(ConfigError, match="4 convolutions, too few"):
        Upscaler(tiny, device="cpu", backend="onnxruntime-int8")


def test_skip_keeps_the_input_levels_exactly():
    """With a zero residual the int8 model's output is the nearest-upsampled input itself,
    to the last bit, even for levels finer than uint8 (a 16-bit frame)."""
    model = _model()
    last = model.body[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()
    x = torch.randint(0, 65536, (1, 1, 24, 30), generator=torch.Generator().manual_seed(1))
    x = x.float() / 65535
    got = Upscaler(model, device="cpu", tile=0, backend="onnxruntime-int8").upscale(x)
    want = torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")
    assert torch.equal(got, want)


def test_int8_is_close_to_float32_but_not_equal():
    model, x = _model(), _smooth()
    want = Upscaler(model, device="cpu", tile=0, backend="torch").upscale(x)
    got = Upscaler(model, device="cpu", tile=0, backend="onnxruntime-int8").upscale(x)
    err = (got - want).abs()
    assert 0 < float(err.max()) < 0.02 and float(err.mean()) < 0.003


def test_openvino_runs_the_same_int8_graph():
    if not engines.installed("openvino-int8"):
        pytest.skip("openvino is not installed (optional extra)")
    model, x = _model(), _smooth()
    ort = Upscaler(model, device="cpu", tile=0, backend="onnxruntime-int8").upscale(x)
    ov = Upscaler(model, device="cpu", tile=0, backend="openvino-int8").upscale(x)
    assert float((ov - ort).abs().max()) < 0.005


def test_graph_is_cached_per_weights_and_a_broken_file_is_rebuilt(monkeypatch, caplog):
    model = _model()
    first = quantize.int8_onnx(model)
    (path,) = (engines.cache_path().parent / "int8").iterdir()
    assert path.read_bytes() == first and path.name.startswith(engines.model_id(model))

    def fail(*args, **kwargs):
        raise AssertionError("quantised again")

    with monkeypatch.context() as patch:
        patch.setattr(quantize, "quantize_onnx", fail)
        assert quantize.int8_onnx(model) == first  # read back, not quantised again
    path.write_bytes(first[:100])
    assert quantize.int8_onnx(model) == first  # a truncated file: quantised again, same bytes
    assert "ignoring unloadable int8 cache" in caplog.text
    assert len(list(path.parent.iterdir())) == 1
    quantize.int8_onnx(_model(seed=1))  # other weights, another file
    assert len(list(path.parent.iterdir())) == 2


def _candidates(monkeypatch, model, image: Image, gate: bool) -> set[str]:
    """The engines ``auto`` would time for ``image``."""
    seen: list[set[str]] = []
    real = engines.choose

    def spy(model_, shape, factories, **kwargs):
        seen.append(set(factories))
        return real(model_, shape, {"torch": factories["torch"]}, **kwargs)

    with monkeypatch.context() as patch:
        patch.setenv("IRSRGAN_MEASURE_ENGINES", "1")
        patch.setattr(engines, "choose", spy)
        patch.setattr(quantize, "passes_gate", lambda m: gate)
        Upscaler(model, device="cpu", tile=0).upscale_image(image)
    (names,) = seen
    return names


def test_auto_times_int8_only_for_8_bit_input_and_gated_models(monkeypatch):
    eight = Image(np.round(_smooth()[0, 0].numpy() * 255).astype(np.uint8))
    sixteen = Image((_smooth()[0, 0].numpy() * 65535).astype(np.uint16))
    assert "onnxruntime-int8" in _candidates(monkeypatch, _model(), eight, gate=True)
    assert not set(engines.INT8_ENGINES) & _candidates(monkeypatch, _model(), sixteen, gate=True)
    assert not set(engines.INT8_ENGINES) & _candidates(monkeypatch, _model(), eight, gate=False)
    # a raw tensor has no bit depth: float engines only, unless the caller says 8-bit
    monkeypatch.setenv("IRSRGAN_MEASURE_ENGINES", "1")
    monkeypatch.setattr(quantize, "passes_gate", lambda m: True)
    up = Upscaler(_model(), device="cpu", tile=0)
    up.upscale(_smooth())
    assert "int8" not in up.measurements[0].key
    up.upscale(_smooth(), eight_bit=True)
    assert up.measurements[-1].key.endswith("|int8")
    assert "onnxruntime-int8" in up.measurements[-1].seconds
    if engines.installed("openvino-int8"):  # timed beside OpenVINO's float (one shared Core)
        assert "openvino-int8" in up.measurements[-1].seconds


def test_an_ungated_model_does_not_pass():
    assert not quantize.passes_gate(_model())


def test_bundled_gate_covers_the_shipped_pair_at_every_strength():
    """``scripts/int8_gate.py`` measured the shipped weights: a retrained model must be
    measured again before ``auto`` may run it in int8."""
    from irsrgan.checkpoint import DEFAULT_MODEL
    from irsrgan.denoise import STEP, quantise, robust_partner
    from irsrgan.interpolate import interpolate_models

    entries = quantize.gate_entries()
    faithful, robust = load_model(DEFAULT_MODEL), load_model(robust_partner(DEFAULT_MODEL))
    for i in range(round(1 / STEP) + 1):
        s = quantise(i * STEP)
        model = faithful if s == 0 else robust if s == 1 else interpolate_models(faithful, robust,
                                                                                 s)
        entry = entries.get(engines.model_id(model))
        assert entry is not None, f"strength {s} not measured"
        assert entry["passed"] == (entry["delta_db"] >= -quantize.GATE_DB)
        assert abs(entry["int8_db"] - entry["fp32_db"] - entry["delta_db"]) < 1e-9


def test_cli_upscale_with_a_forced_int8_backend(tmp_path, capsys):
    from irsrgan.checkpoint import save_model
    from irsrgan.cli import main
    from irsrgan.image import read_image, write_image

    save_model(_model(), tmp_path / "tiny.safetensors")
    frame = np.round(_smooth()[0, 0].numpy() * 255).astype(np.uint8)
    write_image(tmp_path / "in.png", Image(frame))
    args = ["upscale", str(tmp_path / "in.png"), "--out", str(tmp_path / "out.png"),
            "--model", str(tmp_path / "tiny.safetensors")]
    assert main([*args, "--backend", "onnxruntime-int8"]) == 0
    int8 = read_image(tmp_path / "out.png").pixels.astype(int)
    assert main([*args, "--backend", "torch", "--overwrite"]) == 0
    fp32 = read_image(tmp_path / "out.png").pixels.astype(int)
    assert int8.shape == fp32.shape == (80, 104)
    assert 0 < np.abs(int8 - fp32).max() <= 5


def test_int8_is_taken_only_when_clearly_faster():
    assert engines.winner({"torch": 1.0, "onnxruntime": 1.2, "onnxruntime-int8": 0.95}) == "torch"
    assert engines.winner({"torch": 1.0, "openvino-int8": 0.85, "onnxruntime-int8": 0.8}) \
        == "onnxruntime-int8"
    assert engines.winner({"onnxruntime": 0.5, "torch": 1.0, "openvino-int8": 0.6}) \
        == "onnxruntime"
