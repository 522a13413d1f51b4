"""Export the frames to be coloured (or corrected), named by frame index as the pipelines expect."""
from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Callable

from vprop.io.atomic import atomic_path
from vprop.io.images import write_png
from vprop.io.video import VideoFrame, read_frames
from vprop.pipelines.sinks import check_output_dir


def export_keys(video, interval: int | None, output, on_frame: Callable[[VideoFrame], None] | None = None,
                indices: Collection[int] | None = None) -> list[Path]:
    """Write frames 0, K, 2K, ... (``interval``), or exactly the frames ``indices``, as ``output/NNNNN.png``;
    ``on_frame`` sees every frame decoded on the way."""
    if (interval is None) == (indices is None):
        raise ValueError("give either interval or indices")
    output = check_output_dir(output, "*.png", "PNG")
    wanted = (lambda i: i % interval == 0) if indices is None else set(indices).__contains__
    names = []
    with atomic_path(output, directory=True) as tmp:
        for frame in read_frames(video):
            if wanted(frame.index):
                name = f"{frame.index:05d}.png"
                write_png(Path(tmp) / name, frame.rgb)
                names.append(output / name)
            if on_frame:
                on_frame(frame)
    return names
