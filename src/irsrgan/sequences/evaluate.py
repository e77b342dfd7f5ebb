"""The frames of a clip as evaluation items (:func:`irsrgan.evaluate.evaluate` on a video, a
TIFF stack or a FLIR SEQ/CSQ file, which also reports flicker)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

from ..errors import ConfigError
from ..evaluate import EvalItem, degraded_item, gray_native
from .job import VALUE_MAP_FRAMES, clip_value_map
from .readers import open_sequence


def clip_items(
    path: Path, limit: int | None, *, scale: int, preset, seed: int, max_size: int | None,
) -> tuple[list[str], Iterator[EvalItem]]:
    """``(names, items)``: frame ``i`` (the first ``limit``) is the HR, degraded with
    ``file_generator(seed, "CLIP#i")``; every frame goes to model space with one value
    map, as ``irsrgan upscale`` maps a clip (:func:`~irsrgan.sequences.job.clip_value_map`)."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                              or limit < 1):
        raise ConfigError(f"limit (--limit) must be an integer >= 1, got {limit!r}")
    with open_sequence(path) as reader:
        count = reader.info.frames
        if count is None:
            count = sum(1 for _ in reader.frames())
    count = min(count, limit) if limit is not None else count
    names = [f"{path.name}#{i}" for i in range(count)]

    def items() -> Iterator[EvalItem]:
        with open_sequence(path) as reader:
            frames = reader.frames()
            head = list(itertools.islice(frames, min(count, VALUE_MAP_FRAMES)))
            vmap = clip_value_map([f.image for f in head])
            for frame in itertools.chain(head, frames):
                if frame.index >= count:
                    return
                native, dtype, _own = gray_native(frame.image)
                yield degraded_item(frame.index, names[frame.index], native, dtype, vmap,
                                    scale=scale, preset=preset, seed=seed, max_size=max_size)

    return names, items()
