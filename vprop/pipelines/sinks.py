"""Where the pipelines' outputs go: a video, a folder of label PNGs (with an overlay video and an alpha matte), a
folder of EXR frames (with an SDR preview and an HDR10 video). Each is checked when made, opened before any work
and appears only when the run completes (``vprop.io.atomic``)."""
from __future__ import annotations

import os
from contextlib import ExitStack
from pathlib import Path

import av
import numpy as np

from vprop.errors import InputError
from vprop.io.atomic import atomic_path
from vprop.io.hdr10 import write_hdr10
from vprop.io.images import DAVIS_PALETTE, write_exr, write_indexed_png
from vprop.io.preview import overlay, tonemap_reinhard
from vprop.io.video import VideoFrame, VideoInfo, VideoWriter


class VideoSink(VideoWriter):
    """Frames (uint8 RGB) into a video with the source's timing, tags and audio (``VideoWriter``)."""

    def picture(self, frame: VideoFrame, rgb: np.ndarray) -> np.ndarray:
        return rgb


def check_output_dir(directory, pattern: str, kind: str) -> Path:
    """A directory that a run may fill with ``pattern`` files: not a file, not holding such files, creatable."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise InputError(directory, "exists and is not a directory")
    if directory.is_dir() and any(directory.glob(pattern)):
        raise InputError(directory, f"already holds {kind} files; choose an empty or new directory")
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(directory.parent, f"cannot create output directory ({error.strerror})") from None
    if not os.access(directory.parent, os.W_OK | os.X_OK):
        raise InputError(directory.parent, "output directory is not writable")
    return directory


class _FrameDir:
    """A directory of one file per frame (``NNNNN.<suffix>``), written under a temporary name, plus extra videos."""

    def __init__(self, directory: Path, extras: list[VideoWriter | None]):
        self.path, self._extras = directory, extras
        self._stack: ExitStack | None = None

    def __enter__(self):
        with ExitStack() as stack:
            self.tmp = Path(stack.enter_context(atomic_path(self.path, directory=True)))
            self.extras = [stack.enter_context(w) if w else None for w in self._extras]
            self._stack = stack.pop_all()
        return self

    def __exit__(self, *exc):
        return self._stack.__exit__(*exc)


class LabelSink(_FrameDir):
    """Label maps as DAVIS-palette PNGs; optionally the frames with the masks drawn in (``overlay``, a video)
    and with the objects as an alpha matte (``alpha``: ProRes 4444 .mov or a directory of RGBA PNGs)."""

    def __init__(self, directory, info: VideoInfo, overlay_path=None, alpha_path=None):
        # The extra writers check their paths now, so a bad --overlay/--alpha fails before any work.
        super().__init__(check_output_dir(directory, "[0-9]*.png", "PNG"),
                         [VideoWriter(overlay_path, info) if overlay_path else None,
                          VideoWriter(alpha_path, info, alpha=True) if alpha_path else None])

    def write(self, frame: VideoFrame, labels: np.ndarray) -> None:
        write_indexed_png(self.tmp / f"{frame.index:05d}.png", labels)
        overlay_out, alpha_out = self.extras
        if overlay_out:
            overlay_out.write(frame, self.picture(frame, labels))
        if alpha_out:
            alpha_out.write(frame, np.dstack([frame.rgb, np.where(labels > 0, 255, 0).astype(np.uint8)]))

    def picture(self, frame: VideoFrame, labels: np.ndarray) -> np.ndarray:
        return overlay(frame.rgb, labels, DAVIS_PALETTE)


class RadianceSink(_FrameDir):
    """Scene-linear frames as half-float EXRs; optionally an SDR preview video (Reinhard) and, once every frame
    is written, an HDR10 video (``vprop.io.hdr10``)."""

    def __init__(self, directory, info: VideoInfo, preview=None, hdr10=None):
        for extra in (hdr10, preview):
            if extra is not None and Path(extra).resolve() == Path(info.path).resolve():
                raise InputError(extra, "output would overwrite the input video")
        if hdr10 is not None and "libx265" not in av.codecs_available:
            raise InputError(hdr10, "HDR10 needs libx265, which this PyAV's FFmpeg does not include")
        super().__init__(check_output_dir(directory, "*.exr", "EXR"),
                         [VideoWriter(preview, info) if preview is not None else None])
        self.info, self.hdr10 = info, hdr10
        self.frames: list[VideoFrame] = []     # timing only: the HDR10 video is encoded from the EXRs

    def write(self, frame: VideoFrame, radiance: np.ndarray) -> None:
        write_exr(self.tmp / f"{frame.index:05d}.exr", radiance)
        if self.extras[0]:
            self.extras[0].write(frame, tonemap_reinhard(radiance))
        self.frames.append(VideoFrame(frame.index, None, frame.pts, frame.time_base))

    def picture(self, frame: VideoFrame, radiance: np.ndarray) -> np.ndarray:
        return tonemap_reinhard(radiance)

    def __exit__(self, *exc):
        if exc[0] is not None or self.hdr10 is None:
            return super().__exit__(*exc)
        try:     # from the EXRs still under their temporary name: the folder appears only if this succeeds too
            write_hdr10(self.hdr10, [self.tmp / f"{f.index:05d}.exr" for f in self.frames], self.frames, self.info)
        except BaseException as error:
            super().__exit__(type(error), error, error.__traceback__)
            raise
        return super().__exit__(None, None, None)
