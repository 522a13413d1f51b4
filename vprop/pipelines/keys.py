"""Export the frames to be coloured, named by frame index as the pipelines expect."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from vprop.errors import InputError
from vprop.io.atomic import atomic_path
from vprop.io.images import write_png
from vprop.io.video import read_frames


def export_keys(video, interval: int, output, on_frame: Callable[[int], None] | None = None) -> list[Path]:
    output = Path(output)
    if output.exists() and any(output.glob("*.png")):
        raise InputError(output, "already holds PNG files; choose an empty or new directory")
    names = []
    with atomic_path(output, directory=True) as tmp:
        for frame in read_frames(video):
            if frame.index % interval == 0:
                name = f"{frame.index:05d}.png"
                write_png(Path(tmp) / name, frame.rgb)
                names.append(output / name)
            if on_frame:
                on_frame(frame.index)
    return names
