"""Sequences (video files, numbered frame folders, TIFF stacks, FLIR SEQ / CSQ): read them
frame by frame, upscale them through :meth:`irsrgan.inference.Upscaler.upscale_frames`, and
write an output of the same kind, streaming and resumable."""

from .frames import Frame, Selection, SequenceInfo, natural_key
from .job import SequenceResult, output_path, upscale_sequence
from .limits import ClipLimits
from .readers import open_sequence, sniff_sequence
from .writers import choose_codec

__all__ = [
    "ClipLimits", "Frame", "Selection", "SequenceInfo", "SequenceResult", "choose_codec",
    "natural_key", "open_sequence", "output_path", "sniff_sequence", "upscale_sequence",
]
