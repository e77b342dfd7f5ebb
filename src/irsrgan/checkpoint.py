"""Generator weights on disk: our safetensors format, foreign ESRGAN-family files, bundled models.

Our format is a safetensors file whose metadata holds everything needed to rebuild the model:
``format="irsrgan"``, ``arch``, ``config`` (JSON constructor arguments), ``scale``,
``in_channels``, ``out_channels`` and ``provenance`` (JSON: data, licence, recipe, ...).

Foreign files are recognised from their keys and tensor shapes and loaded without unpickling
code (``torch.load(..., weights_only=True)``):

* the seed's published ``.pth.tar`` (``{"state_dict": ...}``, keys ``initial``, ``residuals``...);
* original ESRGAN (``model.0.weight``, ``model.1.sub.N.RDB1.conv1.0.weight``, ...);
* ESRGAN's later layout (``conv_first``, ``RRDB_trunk.N.RDB1.conv1``, ``trunk_conv``,
  ``upconv1``, ``HRconv``);
* BasicSR / Real-ESRGAN RRDBNet (``params``/``params_ema``; ``conv_first``,
  ``body.N.rdb1.conv1``, ``conv_body``, ``conv_up1``...; 1 or 3 channels, any width and depth,
  x2/x1 models with pixel-unshuffled input);
* Real-ESRGAN SRVGGNetCompact (``body.0.weight`` ... ``body.N.weight``, PReLU in between);
* our own training state files (``*.pt`` written by ``irsrgan train``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

from .bundled import DEFAULT_MODEL, DEFAULT_VIDEO_MODEL, bundled_models  # noqa: F401 (re-exported)
from .errors import CheckpointError
from .image import atomic_write_bytes
from .models import GENERATORS, Generator, create_model, require_generator

FORMAT = "irsrgan"
FORMAT_VERSION = "1"

StateDict = dict[str, torch.Tensor]


# --------------------------------------------------------------------------- our format
def save_model(
    model: Generator, path: str | os.PathLike, *, provenance: Mapping[str, Any] | None = None
) -> None:
    """Save a generator's weights and constructor arguments as safetensors (atomically)."""
    from safetensors.torch import save

    require_generator(model)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "arch": model.arch,
        "config": json.dumps(model.config, sort_keys=True),
        "scale": str(model.scale),
        "in_channels": str(model.in_channels),
        "out_channels": str(model.out_channels),
        "provenance": json.dumps(dict(provenance or {}), sort_keys=True),
    }
    atomic_write_bytes(Path(path), save(state, metadata=metadata))


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata of one of our safetensors files, JSON fields decoded."""
    with safe_open(str(path), framework="pt") as fh:
        meta = dict(fh.metadata() or {})
    for key in ("config", "provenance"):
        if key in meta:
            meta[key] = json.loads(meta[key])
    return meta


# --------------------------------------------------------------------------- loading
def load_model(
    source: str | os.PathLike, *, device: str | torch.device = "cpu", use_ema: bool = True
) -> Generator:
    """Rebuild a generator, in eval mode, from a file of any supported format or a bundled name.

    Raises:
        CheckpointError: the file is missing, unreadable or matches no known layout; the
            message says what was found.
    """
    path = resolve_model_path(source)
    arch, config, state = read_generator_state(path, use_ema=use_ema)
    model = build_checked(arch, config, state, name=str(path))
    model.source = str(path)
    return model.eval().to(device)


# Generous bounds on hyperparameters: a file asking for more is refused before anything is
# allocated (num_features=200000 would ask for terabytes).
CONFIG_BOUNDS = {
    "in_channels": (1, 64), "out_channels": (1, 64), "scale": (1, 8), "num_features": (1, 1024),
    "growth": (1, 1024), "num_blocks": (0, 256), "num_convs": (0, 256),
    "input_unshuffle": (1, 4),
}


def check_config(arch: Any, config: Any, *, name: str) -> dict[str, Any]:
    """The constructor arguments of a weights file, checked before anything is built.

    Raises:
        CheckpointError: an unknown architecture, a config that is not a mapping of names to
            values, or a size outside :data:`CONFIG_BOUNDS`.
    """
    if arch not in GENERATORS:
        raise CheckpointError(f"{name}: unknown architecture {arch!r} "
                              f"(known: {', '.join(sorted(GENERATORS))})")
    if not isinstance(config, Mapping) or not all(isinstance(k, str) for k in config):
        raise CheckpointError(f"{name}: the model config must be a mapping of argument names "
                              f"to values, found {type(config).__name__}")
    for key, value in config.items():
        if key in CONFIG_BOUNDS:
            lo, hi = CONFIG_BOUNDS[key]
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise CheckpointError(f"{name}: model config {key}={value!r} is implausible "
                                      f"(expected an integer in {lo}..{hi})")
    return dict(config)


def build_checked(arch: Any, config: Any, state: Mapping[str, Any], *, name: str) -> Generator:
    """Build ``arch(**config)`` and load ``state`` into it, refusing a mismatch before
    allocating: the model is first built on the ``meta`` device (no memory) and its tensor
    names and shapes compared with the file's.

    Raises:
        CheckpointError: see :func:`check_config`; unknown arguments; missing, unexpected or
            wrongly shaped tensors (the message lists the first few).
    """
    config = check_fit(arch, config, state, name=name)
    model = create_model(arch, **config)
    model.load_state_dict(state, strict=True)
    return model


def check_model_file(source: str | os.PathLike) -> None:
    """Read a weights file and check that it builds its model, without building it (a server
    refuses to start with a broken model instead of failing every request).

    Raises:
        CheckpointError: as :func:`load_model` would.
    """
    path = resolve_model_path(source)
    arch, config, state = read_generator_state(path)
    check_fit(arch, config, state, name=str(path))


def check_fit(arch: Any, config: Any, state: Mapping[str, Any], *, name: str) -> dict[str, Any]:
    """The checked config, once ``state``'s tensor names and shapes fit ``arch(**config)``
    built on the ``meta`` device (nothing allocated). Raises :class:`CheckpointError`."""
    shapes = {k: tuple(v.shape) for k, v in state.items() if isinstance(v, torch.Tensor)}
    return fitting_skeleton(arch, config, shapes, name=name)[0]


def fitting_skeleton(
    arch: Any, config: Any, shapes: Mapping[str, tuple[int, ...]], *, name: str
) -> tuple[dict[str, Any], Generator]:
    """The checked config and ``arch(**config)`` built on the ``meta`` device (nothing
    allocated), once the tensor names and ``shapes`` of a file fit it.

    Raises:
        CheckpointError: see :func:`check_config`; a config the architecture refuses;
            missing, unexpected or wrongly shaped tensors (the message lists the first few).
    """
    config = check_config(arch, config, name=name)
    try:
        with torch.device("meta"):
            skeleton = create_model(arch, **config)
    except (ValueError, TypeError, RuntimeError) as exc:
        raise CheckpointError(f"{name}: cannot build {arch} from its config {config}: "
                              f"{exc}") from None
    expected = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    found = {k: tuple(v) for k, v in shapes.items()}
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    if missing or unexpected:
        raise CheckpointError(
            f"{name}: weights do not fit {arch} {config}: missing {_few(missing)}, "
            f"unexpected {_few(unexpected)}"
        )
    wrong = [f"{k} {found[k]} (expected {expected[k]})" for k in expected
             if found[k] != expected[k]]
    if wrong:
        raise CheckpointError(f"{name}: tensor shapes do not fit {arch} {config}: "
                              f"{_few(wrong, 3)}")
    return config, skeleton


def read_generator_state(path: Path, *, use_ema: bool = True) -> tuple[str, dict, StateDict]:
    """``(arch, config, state_dict)`` for a generator file, converted to our parameter names."""
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    if _looks_like_safetensors(path):
        try:
            state = load_file(str(path))
            meta = read_metadata(path)
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"{path}: cannot read safetensors: {exc}") from None
        if meta.get("format") == FORMAT:
            arch = meta.get("arch")
            config = check_config(arch, meta.get("config"), name=str(path))
            return arch, config, state
        return detect_architecture(state, name=str(path))
    obj = load_torch_file(path)
    if isinstance(obj, Mapping) and obj.get("irsrgan_train_state"):
        key = "generator_ema" if use_ema and "generator_ema" in obj else "generator"
        weights = obj.get(key)
        if not isinstance(weights, Mapping):
            raise CheckpointError(f"{path}: training state without {key!r} weights")
        arch = obj.get("arch")
        config = check_config(arch, obj.get("model_config"), name=str(path))
        return arch, config, _strip_prefix(weights)
    return detect_architecture(unwrap_state_dict(obj, name=str(path)), name=str(path))


def load_torch_file(path: Path) -> Any:
    """``torch.load(path, weights_only=True)`` with one-line errors (and never the advice to
    load without ``weights_only``: irsrgan does not unpickle code)."""
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols on stderr
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle and zip errors come in many types
        text = str(exc)
        found = re.search(r"GLOBAL ([\w.]+)", text)
        if found:
            raise CheckpointError(
                f"{path}: holds Python objects besides tensors ({found.group(1)}); refused: "
                "irsrgan never runs code from a weights file"
            ) from None
        if "Weights only load failed" in text:
            raise CheckpointError(
                f"{path}: not safetensors, and not a torch file of tensors only (corrupt, or "
                "it holds other Python objects); refused: irsrgan never runs code from a "
                "weights file"
            ) from None
        raise CheckpointError(
            f"{path}: not a safetensors file and not a readable torch weights file "
            "(truncated or corrupt?)"
        ) from None


def _looks_like_safetensors(path: Path) -> bool:
    if path.suffix == ".safetensors":
        return True
    # safetensors starts with a little-endian u64 header length followed by '{'
    with open(path, "rb") as fh:
        head = fh.read(9)
    return (len(head) == 9 and 0 < int.from_bytes(head[:8], "little") < 100_000_000
            and head[8:] == b"{")


def unwrap_state_dict(obj: Any, *, name: str = "<state>") -> StateDict:
    """Find the generator's tensors in the containers ESRGAN-family repos use."""
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{name}: expected a dict of tensors, found {type(obj).__name__}")
    for key in ("params_ema", "params", "state_dict", "model", "generator", "netG"):
        inner = obj.get(key)
        if isinstance(inner, Mapping) and any(isinstance(v, torch.Tensor) for v in inner.values()):
            obj = inner
            break
    state = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not state:
        raise CheckpointError(
            f"{name}: no tensors found; top-level keys: {_few(list(obj.keys()))}"
        )
    return _strip_prefix(state)


def _strip_prefix(state: Mapping[str, torch.Tensor]) -> StateDict:
    out = {}
    for k, v in state.items():
        for prefix in ("module.", "_orig_mod."):
            if k.startswith(prefix):
                k = k[len(prefix):]
        out[k] = v
    return out


def _few(keys: list[str] | tuple, n: int = 6) -> str:
    keys = list(keys)
    shown = ", ".join(keys[:n])
    return f"[{shown}{', ...' if len(keys) > n else ''}] ({len(keys)} keys)"


# --------------------------------------------------------------------------- detection
def detect_architecture(state: StateDict, *, name: str = "<state>") -> tuple[str, dict, StateDict]:
    """Recognise a foreign generator state dict. Returns ``(arch, config, converted_state)``."""
    try:
        return _detect(state, name)
    except (KeyError, IndexError, ValueError, TypeError, AttributeError) as exc:
        if isinstance(exc, CheckpointError):
            raise
        raise CheckpointError(f"{name}: the weights look like a known layout but their "
                              f"tensors are malformed ({type(exc).__name__}: {exc})") from None


def _detect(state: StateDict, name: str) -> tuple[str, dict, StateDict]:
    keys = set(state)
    if "initial.weight" in keys and "residuals.0.rrdb.0.blocks.0.cnn.weight" in keys:
        return _from_seed(state)
    if "model.0.weight" in keys and any(k.startswith("model.1.sub.0.RDB1.") for k in keys):
        return _from_esrgan_old(state)
    if "conv_first.weight" in keys and "RRDB_trunk.0.RDB1.conv1.weight" in keys:
        return _from_basicsr(_rename_esrgan_trunk(state))
    if "conv_first.weight" in keys and "body.0.rdb1.conv1.weight" in keys:
        if "body.0.fuse.weight" in keys:
            return _from_ours_rrdb_like(state, "crdbnet")
        if "head.conv_last.weight" in keys:
            return _from_ours_rrdb_like(state, "rrdbnet")
        return _from_basicsr(state)
    if "body.0.weight" in keys and "body.1.weight" in keys and state["body.0.weight"].ndim == 4:
        return _from_compact(state)
    raise CheckpointError(
        f"{name}: the weights match no known architecture (seed IRSRGAN, ESRGAN, "
        f"BasicSR/Real-ESRGAN RRDBNet, SRVGGNetCompact, irsrgan). Found keys {_few(sorted(keys))}"
    )


def _count(keys: set[str] | list[str], pattern: str) -> int:
    rx = re.compile(pattern)
    idx = {int(m.group(1)) for k in keys if (m := rx.match(k))}
    return max(idx) + 1 if idx else 0


def _from_seed(state: StateDict) -> tuple[str, dict, StateDict]:
    keys = list(state)
    nf, cin = state["initial.weight"].shape[:2]
    config = dict(
        in_channels=int(cin),
        out_channels=int(state["final.2.weight"].shape[0]),
        scale=2 ** _count(keys, r"upsamples\.(\d+)\.conv\.weight"),
        num_features=int(nf),
        num_blocks=_count(keys, r"residuals\.(\d+)\."),
        growth=int(state["residuals.0.rrdb.0.blocks.0.cnn.weight"].shape[0]),
    )
    return "seed-crdbnet", config, dict(state)


def _from_esrgan_old(state: StateDict) -> tuple[str, dict, StateDict]:
    """Original ESRGAN ``RRDB_net`` (sequential ``model.K``) -> BasicSR names -> ours."""
    keys = list(state)
    n_blocks = _count(keys, r"model\.1\.sub\.(\d+)\.RDB1\.")
    renamed: StateDict = {}
    top = sorted({int(m.group(1)) for k in keys if (m := re.match(r"model\.(\d+)\.weight$", k))})
    convs_after = [i for i in top if i >= 2]  # upsample convs, then HR conv, then last conv
    if len(convs_after) < 2:
        raise CheckpointError(f"ESRGAN layout without output convs: {_few(keys)}")
    ups, hr, last = convs_after[:-2], convs_after[-2], convs_after[-1]
    mapping = {"model.0": "conv_first", f"model.1.sub.{n_blocks}": "conv_body",
               f"model.{hr}": "conv_hr", f"model.{last}": "conv_last"}
    for i, idx in enumerate(ups):
        mapping[f"model.{idx}"] = f"conv_up{i + 1}"
    for k, v in state.items():
        m = re.match(r"model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(weight|bias)$", k)
        if m:
            renamed[f"body.{m[1]}.rdb{m[2]}.conv{m[3]}.{m[4]}"] = v
            continue
        prefix, _, leaf = k.rpartition(".")
        if prefix in mapping:
            renamed[f"{mapping[prefix]}.{leaf}"] = v
    return _from_basicsr(renamed)


def _rename_esrgan_trunk(state: StateDict) -> StateDict:
    out: StateDict = {}
    for k, v in state.items():
        k = re.sub(r"^RRDB_trunk\.(\d+)\.RDB(\d)\.", r"body.\1.rdb\2.", k)
        k = k.replace("trunk_conv.", "conv_body.").replace("HRconv.", "conv_hr.")
        k = re.sub(r"^upconv(\d)\.", r"conv_up\1.", k)
        out[k] = v
    return out


def _from_basicsr(state: StateDict) -> tuple[str, dict, StateDict]:
    keys = list(state)
    out_ch = int(state["conv_last.weight"].shape[0])
    first_in = int(state["conv_first.weight"].shape[1])
    unshuffle = int(math.isqrt(first_in // out_ch)) if first_in % out_ch == 0 else 1
    if unshuffle not in (1, 2, 4) or unshuffle**2 * out_ch != first_in:
        unshuffle = 1
    stages = max(0, _count(keys, r"conv_up(\d+)\.weight") - 1)  # conv_up1..conv_upN
    config = dict(
        in_channels=first_in // unshuffle**2,
        out_channels=out_ch,
        scale=max(1, 2**stages // unshuffle),
        num_features=int(state["conv_first.weight"].shape[0]),
        num_blocks=_count(keys, r"body\.(\d+)\.rdb1\."),
        growth=int(state["body.0.rdb1.conv1.weight"].shape[0]),
        input_unshuffle=unshuffle,
    )
    converted = {}
    for k, v in state.items():
        if re.match(r"conv_(up\d+|hr|last)\.", k):
            k = "head." + k
        converted[k] = v
    return "rrdbnet", config, converted


def _from_ours_rrdb_like(state: StateDict, arch: str) -> tuple[str, dict, StateDict]:
    keys = list(state)
    config = dict(
        in_channels=int(state["conv_first.weight"].shape[1]),
        out_channels=int(state["head.conv_last.weight"].shape[0]),
        scale=2 ** max(0, _count(keys, r"head\.conv_up(\d+)\.weight") - 1),
        num_features=int(state["conv_first.weight"].shape[0]),
        num_blocks=_count(keys, r"body\.(\d+)\.rdb1\."),
        growth=int(state["body.0.rdb1.conv1.weight"].shape[0]),
    )
    if arch == "crdbnet":
        config["fuse_input"] = int(state["body.0.fuse.weight"].shape[1]) == 4 * config[
            "num_features"
        ]
    return arch, config, dict(state)


def _from_compact(state: StateDict) -> tuple[str, dict, StateDict]:
    convs = sorted(
        int(m.group(1)) for k, v in state.items()
        if (m := re.match(r"body\.(\d+)\.weight$", k)) and v.ndim == 4
    )
    first, last = state[f"body.{convs[0]}.weight"], state[f"body.{convs[-1]}.weight"]
    cin = int(first.shape[1])
    scale = math.isqrt(int(last.shape[0]) // cin)
    if scale * scale * cin != last.shape[0]:
        raise CheckpointError(
            f"compact layout: last conv has {last.shape[0]} outputs, not in_channels * scale^2"
        )
    config = dict(
        in_channels=cin, out_channels=cin, scale=scale,
        num_features=int(first.shape[0]), num_convs=len(convs) - 2,
    )
    return "compact", config, dict(state)


# --------------------------------------------------------------------------- bundled models
def resolve_model_path(source: str | os.PathLike) -> Path:
    """A file path as given, or the file of a bundled model name."""
    path = Path(source)
    if path.exists():
        return path
    bundled = bundled_models()
    if str(source) in bundled:
        return bundled[str(source)]
    names = ", ".join(bundled) or "none"
    raise CheckpointError(
        f"model {str(source)!r} is neither a file nor a bundled model (bundled: {names})"
    )


# --------------------------------------------------------------------------- model facts
@dataclass(frozen=True)
class ModelInfo:
    """The facts of a weights file: what ``irsrgan models``, the server's catalogue and
    evaluation reports show, read by :func:`model_info`.

    ``has_metadata``: the file is in our safetensors format, whose metadata named the
    architecture and config (False: detected from the tensors of a foreign file or a training
    state). ``provenance`` is what our files record about their training (data, recipe,
    licence, summary, ...; empty for the others); ``card`` the model card written beside the
    file (``NAME.md``; empty when there is none).
    """

    name: str  # the bundled model's name, or the file's name without its suffixes
    path: Path
    bundled: bool
    arch: str
    config: dict[str, Any]
    scale: int
    in_channels: int
    out_channels: int
    size_multiple: int
    cpu_backend: str
    params: int
    has_metadata: bool = False
    provenance: dict[str, Any] = field(default_factory=dict)
    card: str = ""

    @property
    def summary(self) -> str:
        """One line on what the model is for (provenance ``summary``), or ``""``."""
        return str(self.provenance.get("summary") or "")

    @property
    def stage(self) -> str | None:
        """``"psnr"`` or ``"gan"`` (provenance ``stage``), or None."""
        return self._text("stage")

    @property
    def psnr_model(self) -> str | None:
        """The PSNR model a GAN model was fine-tuned from (provenance ``psnr_model``)."""
        return self._text("psnr_model")

    @property
    def denoise_partner(self) -> str | None:
        """The robust end of a faithful model's denoise pair (provenance ``denoise_partner``)."""
        return self._text("denoise_partner")

    @property
    def trained_on(self) -> str:
        """The training data: the dataset line of bundled models, the folder of a training
        run's models; ``""`` if not recorded."""
        data = self.provenance.get("train_data")
        if isinstance(data, Mapping):
            data = data.get("dataset")
        return str(data) if data else ""

    def sha256(self) -> str:
        """The file's SHA-256 (hex), read now."""
        digest = hashlib.sha256()
        with open(self.path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()

    def _text(self, key: str) -> str | None:
        value = self.provenance.get(key)
        return str(value) if value else None


def model_info(source: str | os.PathLike) -> ModelInfo:
    """The facts of a weights file or a bundled model's name, checked as :func:`load_model`
    checks them (the tensors fit the architecture) but without loading weights where the
    format allows: of our safetensors files only the header is read.

    Raises:
        CheckpointError: the file is missing, unreadable, matches no known layout or its
            tensors do not fit its architecture, as :func:`load_model` would say.
    """
    path = resolve_model_path(source)
    arch, config, shapes, provenance = _read_facts(path)
    has_metadata = provenance is not None
    config, skeleton = fitting_skeleton(arch, config, shapes, name=str(path))
    name = Path(path.name.removesuffix(".tar")).stem or path.name
    bundled = path.resolve() in {p.resolve() for p in bundled_models().values()}
    return ModelInfo(
        name=name, path=path, bundled=bundled, arch=skeleton.arch, config=config,
        scale=skeleton.scale, in_channels=skeleton.in_channels,
        out_channels=skeleton.out_channels, size_multiple=skeleton.size_multiple,
        cpu_backend=skeleton.cpu_backend, params=sum(p.numel() for p in skeleton.parameters()),
        has_metadata=has_metadata, provenance=provenance or {},
        card=_card(path.parent / f"{name}.md"),
    )


def _read_facts(
    path: Path,
) -> tuple[Any, Any, dict[str, tuple[int, ...]], dict[str, Any] | None]:
    """``(arch, config, tensor shapes, provenance)`` of a generator file: of our safetensors
    files from the header, of any other from its weights (read as :func:`load_model` reads
    them; provenance None)."""
    if path.is_file() and _looks_like_safetensors(path):
        try:
            meta = read_metadata(path)
            with safe_open(str(path), framework="pt") as fh:
                shapes = {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}  # noqa: SIM118
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"{path}: cannot read safetensors: {exc}") from None
        if meta.get("format") == FORMAT:
            provenance = meta.get("provenance")
            return (meta.get("arch"), meta.get("config"), shapes,
                    dict(provenance) if isinstance(provenance, Mapping) else {})
    arch, config, state = read_generator_state(path)
    return arch, config, {k: tuple(v.shape) for k, v in state.items()}, None


def _card(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:  # no card (or an unreadable one): the facts stand without it
        return ""


__all__ = [
    "DEFAULT_MODEL", "DEFAULT_VIDEO_MODEL", "ModelInfo", "build_checked", "bundled_models",
    "check_config", "check_fit", "check_model_file", "detect_architecture", "fitting_skeleton",
    "load_model", "model_info", "read_metadata",
    "resolve_model_path", "save_model", "unwrap_state_dict",
]
