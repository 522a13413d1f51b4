"""The gray version of a colour video, to try colourisation on footage whose true colours are known."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from vprop.io.video import VideoWriter, probe, read_frames
from vprop.tasks.color import lightness_only


def gray(video, output, *, crf: int = 18, lossless: bool = False, eight_bit: bool = False,
         on_frame: Callable[[int], None] | None = None) -> Path:
    """Write each frame's CIE-Lab lightness L as gray (R = G = B), timing, colour tags and audio kept.

    L is exactly what `colorize` and `vprop eval color` keep of a frame, so colouring this output from keys taken
    from ``video`` is what the evaluation measures. A source deeper than 8 bits gives its L at 16 bits (16-bit PNGs,
    10-bit H.264, 16-bit FFV1), unless ``eight_bit``. Returns the output path, written atomically.
    """
    info = probe(video)
    deep = info.deep and not eight_bit     # a deeper source's lightness at 16 bits (10-bit H.264)
    with VideoWriter(output, info, crf=crf, lossless=lossless, deep=deep) as writer:
        for frame in read_frames(video, deep=deep):
            writer.write(frame, lightness_only(frame.rgb))
            if on_frame:
                on_frame(frame.index)
    return writer.path
