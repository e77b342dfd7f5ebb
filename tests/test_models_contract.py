"""The generator contract (models/base.py) and the one reader of a weights file's facts
(checkpoint.model_info): recorded configs, carried facts, checked input, refused non-generators."""

from __future__ import annotations

import hashlib
import inspect
from pathlib import Path

import pytest
import torch
from torch import nn

from irsrgan import checkpoint
from irsrgan.checkpoint import bundled_models, load_model, model_info, save_model
from irsrgan.cli import main
from irsrgan.errors import (
    CheckpointError,
    ConfigError,
    ImageError,
    IrsrganError,
    ModelInputError,
)
from irsrgan.export import export_onnx
from irsrgan.inference import Upscaler
from irsrgan.interpolate import interpolate_models
from irsrgan.models import GENERATORS, CompactNet, Generator, create_model, model_config

from .test_checkpoint import _to_basicsr

#: every hyperparameter of every generator given, none at its default
EVERY_ARGUMENT = {
    "rrdbnet": dict(in_channels=2, out_channels=3, scale=2, num_features=6, num_blocks=2,
                    growth=3, input_unshuffle=2),
    "crdbnet": dict(in_channels=2, out_channels=3, scale=2, num_features=6, num_blocks=2,
                    growth=3, fuse_input=True),
    "compact": dict(in_channels=2, out_channels=3, scale=3, num_features=6, num_convs=2),
    "seed-crdbnet": dict(in_channels=2, out_channels=1, scale=2, num_features=6, num_blocks=2,
                         growth=3),
    "span": dict(in_channels=2, out_channels=3, scale=3, num_features=6, num_blocks=2),
    # single-channel frames only; its tensor has one channel per frame of the window
    "multiframe": dict(frames=3, in_channels=1, out_channels=1, scale=3, num_features=6,
                       num_convs=2, align="none"),
}


def test_every_generator_is_covered_and_derives_from_the_contract():
    assert set(EVERY_ARGUMENT) == set(GENERATORS)
    for arch, cls in GENERATORS.items():
        assert issubclass(cls, Generator) and cls.arch == arch


@pytest.mark.parametrize("arch", sorted(GENERATORS))
def test_recorded_config_is_the_constructor_arguments_and_survives_save_and_load(
        tmp_path, arch):
    kwargs = EVERY_ARGUMENT[arch]
    assert set(kwargs) == set(inspect.signature(GENERATORS[arch]).parameters)
    torch.manual_seed(0)
    net = create_model(arch, **kwargs)
    assert net.config == kwargs and model_config(net) == kwargs
    assert (net.scale, net.in_channels, net.out_channels) == (
        kwargs["scale"], kwargs.get("frames", kwargs["in_channels"]), kwargs["out_channels"])
    assert net.source is None

    path = tmp_path / f"{arch}.safetensors"
    save_model(net, path)
    loaded = load_model(path)
    assert type(loaded) is type(net) and loaded.config == kwargs
    assert loaded.source == str(path)
    m = net.size_multiple
    x = torch.rand(1, net.in_channels, 4 * m, 6 * m,
                   generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(net.eval()(x), loaded(x))


@pytest.mark.parametrize("arch", sorted(GENERATORS))
def test_defaults_are_recorded_too(arch):
    cls = GENERATORS[arch]
    defaults = {k: p.default for k, p in inspect.signature(cls).parameters.items()}
    with torch.device("meta"):  # full-size models, nothing allocated
        net = cls()
    assert net.config == defaults
    with torch.device("meta"):
        assert cls(**net.config).config == net.config


def test_model_config_is_a_copy():
    net = create_model("compact", scale=2, num_features=4, num_convs=1)
    model_config(net)["scale"] = 8
    assert net.config["scale"] == 2


def test_facts_the_contract_carries():
    with torch.device("meta"):
        assert create_model("rrdbnet", scale=2, input_unshuffle=2).size_multiple == 2
        assert create_model("rrdbnet").size_multiple == 1
        assert create_model("compact").cpu_backend == "torch"
        assert create_model("span").cpu_backend == "torch"
        assert create_model("rrdbnet").cpu_backend == "onnxruntime"


def test_a_subclass_records_its_own_arguments():
    class Narrow(CompactNet):
        arch = "narrow"

        def __init__(self, *, width: int = 4) -> None:
            super().__init__(scale=2, num_features=width, num_convs=1)

    net = Narrow(width=6)
    assert net.config == {"width": 6}  # the outermost constructor's, not CompactNet's
    assert net.body[0].out_channels == 6


def test_hyperparameters_must_be_keyword_only():
    with pytest.raises(ConfigError, match="keyword-only"):
        class Loose(Generator):  # noqa: F841
            def __init__(self, scale: int = 2) -> None:
                super().__init__(scale=scale, in_channels=1, out_channels=1)
    with pytest.raises(TypeError):
        CompactNet(1, 1)
    with pytest.raises(TypeError, match="widht"):
        CompactNet(widht=3)


# ------------------------------------------------------------------------- checked input
def _tiny(arch: str = "compact", **kw) -> Generator:
    torch.manual_seed(0)
    base = {"compact": dict(num_features=4, num_convs=1),
            "rrdbnet": dict(num_features=4, num_blocks=1, growth=2)}[arch]
    return create_model(arch, scale=2, **base, **kw).eval()


def test_a_wrong_channel_count_is_refused_naming_what_was_expected():
    net = _tiny()
    with pytest.raises(ModelInputError, match=r"compact expects input \(B, 1, H, W\), "
                                              r"got \(1, 3, 8, 8\)") as caught:
        net(torch.rand(1, 3, 8, 8))
    assert all(isinstance(caught.value, t) for t in (ImageError, IrsrganError, ValueError))
    with pytest.raises(ModelInputError, match=r"got \(1, 8, 8\)"):
        net(torch.rand(1, 8, 8))
    with pytest.raises(ModelInputError, match="expects a tensor"):
        net(torch.rand(1, 1, 8, 8).numpy())


def test_a_size_off_the_multiple_is_refused_naming_the_multiple():
    net = _tiny("rrdbnet", input_unshuffle=2)
    assert net(torch.rand(1, 1, 6, 4)).shape == (1, 1, 12, 8)
    with pytest.raises(ModelInputError, match=r"multiples of 2, got \(7, 4\)"):
        net(torch.rand(1, 1, 7, 4))


def test_the_upscaler_pads_to_the_multiple_so_its_callers_never_see_the_error():
    net = _tiny("rrdbnet", input_unshuffle=2)
    up = Upscaler(net, device="cpu", tile=0, overlap=3, backend="torch")
    assert up.upscale(torch.rand(1, 1, 7, 5)).shape == (1, 1, 14, 10)


# ------------------------------------------------------------------------- non-generators
class DuckTyped(nn.Module):
    """What the Upscaler used to accept: any module with the right attributes."""

    scale, in_channels, out_channels = 2, 1, 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.repeat_interleave(2, -2).repeat_interleave(2, -1)


@pytest.mark.parametrize("model", [DuckTyped(), nn.Conv2d(1, 1, 3), "irsrgan-x4"])
def test_the_upscaler_refuses_what_is_not_a_generator(model):
    with pytest.raises(ConfigError, match="must be an irsrgan generator .*got a "):
        Upscaler(model, device="cpu")


def test_export_save_and_interpolation_refuse_non_generators(tmp_path):
    net = _tiny()
    with pytest.raises(ConfigError, match="model must be an irsrgan generator"):
        export_onnx(DuckTyped(), tmp_path / "x.onnx", check=False)
    with pytest.raises(ConfigError, match="model must be an irsrgan generator"):
        save_model(DuckTyped(), tmp_path / "x.safetensors")
    with pytest.raises(ConfigError, match="the second model must be an irsrgan generator"):
        interpolate_models(net, DuckTyped(), 0.5)
    assert not (tmp_path / "x.onnx").exists() and not (tmp_path / "x.safetensors").exists()


# ------------------------------------------------------------------------- model_info
@pytest.mark.parametrize("name", sorted(bundled_models()))
def test_model_info_of_a_shipped_model(name):
    info = model_info(name)
    model = load_model(name)
    assert (info.name, info.bundled, info.path) == (name, True, bundled_models()[name])
    assert (info.arch, info.config, info.scale) == (model.arch, model.config, model.scale)
    assert (info.in_channels, info.out_channels) == (model.in_channels, model.out_channels)
    assert (info.size_multiple, info.cpu_backend) == (1, "torch")
    assert info.params == sum(p.numel() for p in model.parameters())
    assert info.params == info.provenance["parameters"]  # what the packaging recorded
    assert info.scale == int(name.rsplit("-x", 1)[1])
    assert info.has_metadata and info.summary and info.stage in ("psnr", "gan")
    assert info.trained_on.startswith("HIT-UAV")
    assert info.card == (info.path.parent / f"{name}.md").read_text()


def test_model_info_of_the_default_model_in_numbers():
    info = model_info(checkpoint.DEFAULT_MODEL)
    assert (info.arch, info.scale, info.in_channels, info.params) == ("compact", 4, 1, 601_808)
    assert info.denoise_partner == "irsrgan-psnr-x4" and info.psnr_model is None
    assert model_info("irsrgan-x4").psnr_model == "irsrgan-psnr-x4"


def test_model_info_reads_only_the_header_of_our_files(tmp_path, monkeypatch):
    net = _tiny("rrdbnet", input_unshuffle=2)
    path = tmp_path / "run.v2.safetensors"
    save_model(net, path, provenance={"train_data": "data/train", "summary": "a test"})

    def no_weights(*args, **kwargs):
        raise AssertionError("model_info loaded the weights")

    monkeypatch.setattr(checkpoint, "load_file", no_weights)
    info = model_info(path)
    assert (info.name, info.bundled, info.path) == ("run.v2", False, path)
    assert (info.arch, info.config, info.size_multiple) == ("rrdbnet", net.config, 2)
    assert info.cpu_backend == "onnxruntime"
    assert info.params == sum(p.numel() for p in net.parameters())
    assert (info.trained_on, info.summary, info.card) == ("data/train", "a test", "")
    assert info.has_metadata
    assert info.sha256() == hashlib.sha256(path.read_bytes()).hexdigest()


def test_model_info_of_a_foreign_file_detects_its_architecture(tmp_path):
    torch.manual_seed(2)
    net = create_model("rrdbnet", scale=2, in_channels=3, out_channels=3, num_features=8,
                       num_blocks=1, growth=4, input_unshuffle=2)
    path = tmp_path / "RealESRGAN_x2plus.pth"
    torch.save({"params_ema": _to_basicsr(net.state_dict())}, path)
    info = model_info(path)
    assert (info.name, info.arch, info.config) == ("RealESRGAN_x2plus", "rrdbnet", net.config)
    assert (info.scale, info.in_channels, info.size_multiple) == (2, 3, 2)
    assert info.provenance == {} and info.summary == "" and info.stage is None
    assert not info.has_metadata


def test_model_info_of_a_missing_file_says_so(tmp_path: Path):
    # broken and hostile files: tests/test_fuzz.py runs model_info over the weights corpus
    with pytest.raises(CheckpointError, match="neither a file nor a bundled model"):
        model_info(tmp_path / "absent.safetensors")


def test_models_command_prints_facts_from_model_info(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "irsrgan-faithful-x4  compact x4, 1 channel(s), 0.60 M parameters  [default]" in out
    assert "irsrgan-psnr-x2      compact x2, 1 channel(s), 0.59 M parameters" in out
