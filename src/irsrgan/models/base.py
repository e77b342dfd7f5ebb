"""The generator contract: what every super-resolution network in irsrgan is and promises.

A :class:`Generator` is an ``nn.Module`` that

* records the keyword arguments its constructor was called with, defaults filled in, as
  ``config``: ``type(net)(**net.config)`` rebuilds it and a checkpoint stores it (the idea of
  diffusers' ``register_to_config``, done here once for every subclass);
* carries its facts: ``arch`` (its name in :data:`irsrgan.models.GENERATORS`), ``scale``,
  ``in_channels``, ``out_channels``, ``size_multiple`` (the input's height and width must be
  multiples of it), ``cpu_backend`` (the engine used on CPU when engines are not measured)
  and ``source`` (the file it was loaded from; ``None`` when built in memory);
* checks its input before every forward, as spandrel's model descriptors do: a tensor that is
  not ``(B, in_channels, H, W)`` with H and W multiples of ``size_multiple`` is refused with a
  :class:`~irsrgan.errors.ModelInputError` naming what was expected and what came.

A subclass declares its hyperparameters as keyword-only arguments of ``__init__``, passes the
facts to ``super().__init__`` and writes ``forward``:

>>> import torch
>>> class Nearest(Generator):
...     arch = "nearest"
...     def __init__(self, *, scale: int = 2) -> None:
...         super().__init__(scale=scale, in_channels=1, out_channels=1)
...     def forward(self, x: torch.Tensor) -> torch.Tensor:
...         return x.repeat_interleave(self.scale, -2).repeat_interleave(self.scale, -1)
>>> net = Nearest(scale=3)
>>> net.config
{'scale': 3}
>>> net(torch.zeros(1, 1, 4, 5)).shape
torch.Size([1, 1, 12, 15])
>>> net(torch.zeros(1, 3, 4, 5))
Traceback (most recent call last):
...
irsrgan.errors.ModelInputError: nearest expects input (B, 1, H, W), got (1, 3, 4, 5)
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from ..errors import ConfigError, ModelInputError

CpuBackend = Literal["torch", "onnxruntime", "openvino"]


class Generator(nn.Module):
    """Base class of the generators: records ``config``, carries the facts, checks input.

    Args:
        scale: the upscaling factor (output side / input side).
        in_channels, out_channels: channels of the input and of the output.
        size_multiple: the input's height and width must be multiples of it (1: any size).
    """

    #: the architecture's name in :data:`irsrgan.models.GENERATORS` (checkpoints store it)
    arch: ClassVar[str] = ""
    #: the CPU engine used when engines are not measured (``IRSRGAN_MEASURE_ENGINES=0``)
    cpu_backend: ClassVar[CpuBackend] = "onnxruntime"

    #: the constructor's keyword arguments, defaults filled in (set once ``__init__`` returns)
    config: dict[str, Any]

    def __init__(
        self, *, scale: int, in_channels: int, out_channels: int, size_multiple: int = 1
    ) -> None:
        super().__init__()
        self.scale, self.in_channels, self.out_channels = scale, in_channels, out_channels
        self.size_multiple = size_multiple
        #: the weights file this model was loaded from (``checkpoint.load_model`` sets it)
        self.source: str | None = None
        self.register_forward_pre_hook(_check_input)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _recording_config(cls.__init__)  # type: ignore[method-assign]

    def check_input(self, x: Any) -> None:
        """Raise :class:`~irsrgan.errors.ModelInputError` unless ``x`` is a
        ``(B, in_channels, H, W)`` tensor with H and W multiples of ``size_multiple``."""
        name = self.arch or type(self).__name__
        if not isinstance(x, torch.Tensor):
            raise ModelInputError(f"{name} expects a tensor (B, {self.in_channels}, H, W), "
                                  f"got a {type(x).__name__}")
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ModelInputError(f"{name} expects input (B, {self.in_channels}, H, W), "
                                  f"got {tuple(x.shape)}")
        m = self.size_multiple
        if m > 1 and (x.shape[2] % m or x.shape[3] % m):
            raise ModelInputError(f"{name} expects height and width that are multiples of "
                                  f"{m}, got {tuple(x.shape[2:])} (pad the input)")


def _check_input(model: Generator, args: tuple[Any, ...]) -> None:
    """The forward pre-hook every generator registers (a function, so that copies of the
    model share it)."""
    if len(args) != 1:
        raise ModelInputError(f"{model.arch or type(model).__name__} takes one input tensor, "
                              f"got {len(args)} positional arguments")
    model.check_input(args[0])


def _recording_config(init: Callable[..., None]) -> Callable[..., None]:
    """``init`` that also stores its bound keyword arguments (defaults filled in) as
    ``self.config``. The outermost class's ``__init__`` returns last, so its arguments win."""
    signature = inspect.signature(init)
    loose = [p.name for p in list(signature.parameters.values())[1:]
             if p.kind is not inspect.Parameter.KEYWORD_ONLY]
    if loose:
        raise ConfigError(f"{init.__qualname__}: a generator's hyperparameters must be named "
                        f"keyword-only arguments (config rebuilds the model), not {loose}")

    @functools.wraps(init)
    def init_and_record(self: Generator, *args: Any, **kwargs: Any) -> None:
        bound = signature.bind(self, *args, **kwargs)  # a TypeError names a wrong argument
        bound.apply_defaults()
        init(self, *args, **kwargs)
        self.config = {k: v for k, v in bound.arguments.items() if k != "self"}

    return init_and_record


def require_generator(model: Any, what: str = "model") -> Generator:
    """``model`` itself if it is a :class:`Generator`, else a :class:`ConfigError` saying what a
    generator is and where one comes from."""
    if not isinstance(model, Generator):
        raise ConfigError(
            f"{what} must be an irsrgan generator (irsrgan.models.Generator: from "
            f"load_model or create_model, or a subclass), got a {type(model).__name__}"
        )
    return model


__all__ = ["CpuBackend", "Generator", "require_generator"]
