"""Exceptions raised by irsrgan. Every message names the argument or file and what was wrong."""

from __future__ import annotations


class IrsrganError(Exception):
    """Base class of every error irsrgan raises on purpose."""


class ImageError(IrsrganError, ValueError):
    """An image file could not be read or written, or an array has the wrong shape or dtype."""


class ImageTooLargeError(ImageError):
    """An image has more pixels than the caller allows (checked from the header when possible,
    so decompression bombs are refused before decoding)."""


class ModelInputError(ImageError):
    """A tensor given to a generator is not ``(B, in_channels, H, W)`` with H and W multiples
    of the generator's ``size_multiple``."""


class CheckpointError(IrsrganError, ValueError):
    """A weights file could not be loaded or matched no known architecture."""


class ConfigError(IrsrganError, ValueError):
    """A configuration key is unknown, has the wrong type, or an option is out of range."""


class WeightsMissingError(IrsrganError, FileNotFoundError):
    """Pretrained backbone weights (VGG, AlexNet) are not available offline.

    ``what`` says which file is missing and where it was looked for, ``advice`` how to supply
    it in the library's words; a command line replaces the advice with its own options."""

    def __init__(self, what: str, advice: str = "") -> None:
        super().__init__(f"{what} {advice}".strip())
        self.what, self.advice = what, advice


class SequenceTooLongError(ImageTooLargeError):
    """A sequence has more frames or lasts longer than the caller allows (checked from the
    container's header, else while reading, before decoding past the limit).

    ``limit`` names what was exceeded: ``"frames"`` or ``"seconds"``."""

    def __init__(self, message: str, limit: str) -> None:
        super().__init__(message)
        self.limit = limit
