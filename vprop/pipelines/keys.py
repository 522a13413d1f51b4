"""Export the frames to be coloured (or corrected): named by frame index as the pipelines expect, or, with a
pattern, as the scans they come from."""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from pathlib import Path
from typing import Callable

from vprop.io.atomic import atomic_path
from vprop.io.images import eight_bit, write_frame
from vprop.io.sequence import frame_files
from vprop.io.video import VideoFrame, VideoInfo, probe, read_frames
from vprop.pipelines.sinks import check_output_dir

KEY_SUFFIXES = (".png", ".tif", ".tiff")    # what a paint program opens and the key loader reads


def export_keys(video, interval: int | None, output, on_frame: Callable[[VideoFrame], None] | None = None,
                indices: Collection[int] | None = None, info: VideoInfo | None = None) -> dict[int, Path]:
    """Write frames 0, K, 2K, ... (``interval``), or exactly the frames ``indices``, as ``output/NNNNN.png``, or
    as a pattern names them (``keys/scan_%07d.png``: numbered as an image sequence's files, which the key loader
    reads back); at 16 bits from a source deeper than 8. Returns the files by frame index; ``on_frame`` sees every
    frame decoded on the way (at 8 bits). ``info``: the video's probe, where the caller has it."""
    if (interval is None) == (indices is None):
        raise ValueError("give either interval or indices")
    info = info or probe(video)
    files = frame_files(output, KEY_SUFFIXES, info.path)
    folder = check_output_dir(files.folder, files.glob, files.suffix.lstrip(".").upper())
    wanted = (lambda i: i % interval == 0) if indices is None else set(indices).__contains__
    written = {}
    with atomic_path(folder, directory=True) as tmp:
        for frame in read_frames(video, deep=info.deep):
            if wanted(frame.index):
                write_frame(Path(tmp) / files.name(frame.index), frame.rgb)
                written[frame.index] = folder / files.name(frame.index)
            if on_frame:
                on_frame(replace(frame, rgb=eight_bit(frame.rgb)))
    return written
