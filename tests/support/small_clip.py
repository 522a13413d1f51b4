"""A small real clip (the bundled example shrunk) and colour keys from its colour original."""
from pathlib import Path

import av
import cv2
import numpy as np

from support.media import h264_stream
from vprop.io.video import VideoWriter, probe, read_frames

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SIZE = (214, 120)      # the clip's aspect ratio, so the bundled keys and masks fit it
FRAMES = 6


def small_clip(folder: Path, frames: int = 40, interval: int = 10) -> tuple[Path, Path]:
    """(gray clip, keys folder with a colour key every ``interval`` frames)."""
    from dataclasses import replace

    source = probe(EXAMPLES / "rhino_gray.mp4")
    small = replace(source, width=SIZE[0], height=SIZE[1])
    video = folder / "small.mp4"
    with VideoWriter(video, small) as writer:
        for frame in read_frames(EXAMPLES / "rhino_gray.mp4", 0, frames):
            writer.write(frame, cv2.resize(frame.rgb, SIZE, interpolation=cv2.INTER_AREA))
    keys = folder / "keys"
    keys.mkdir()
    for frame in read_frames(EXAMPLES / "rhino.mp4", 0, frames):
        if frame.index % interval == 0:
            rgb = cv2.resize(frame.rgb, SIZE, interpolation=cv2.INTER_AREA)
            cv2.imwrite(str(keys / f"{frame.index:05d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return video, keys


def cut(source: Path, output: Path) -> Path:
    """The first FRAMES frames of ``source`` at SIZE, as H.264."""
    with av.open(str(source)) as src, av.open(str(output), "w") as out:
        stream = h264_stream(out, 24, SIZE)
        for i, frame in enumerate(src.decode(video=0)):
            if i == FRAMES:
                break
            small = frame.reformat(width=SIZE[0], height=SIZE[1], format="yuv420p")
            small.pts = None
            out.mux(stream.encode(small))
        out.mux(stream.encode(None))
    return output


def decoded(path: Path) -> list[np.ndarray]:
    """Every frame of the video at ``path``, RGB."""
    with av.open(str(path)) as src:
        return [f.to_ndarray(format="rgb24") for f in src.decode(video=0)]
