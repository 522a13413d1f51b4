"""Where the pipelines' outputs go: a video, a folder of label PNGs (with an overlay video and an alpha matte), a
folder of EXR frames (with an SDR preview and an HDR10 video). Each is checked when made; ``SpanOutputs`` says
where a span's frames go, and the outputs appear only when the run completes (``vprop.io.atomic``)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vprop.errors import InputError
from vprop.io.chromaticities import BT709
from vprop.io.hdr_video import check_hdr_video, write_hdr_video
from vprop.io.images import DAVIS_PALETTE, FRAME_SUFFIXES, write_exr, write_frame, write_indexed_png
from vprop.io.preview import overlay, tonemap_reinhard
from vprop.io.sequence import frame_files
from vprop.io.video import SourceFrames, VideoFrame, VideoInfo, output_kind, overwrites_input
from vprop.pipelines.span_outputs import SpanOutputs
from vprop.tasks.color import at_source_depth


class VideoSink:
    """Frames (uint8 RGB) into a video with the source's timing, tags and audio (``VideoWriter``), or into a
    folder of PNGs (an output path ending in /). From a source deeper than 8 bits (a 10-bit ProRes, a DPX or 16-bit
    PNG scan) each frame is written on the source's own lightness at 16 bits (``at_source_depth``): 16-bit PNGs,
    10-bit H.264, 16-bit FFV1; ``eight_bit``: 8 bits all the same."""

    def __init__(self, output, info: VideoInfo, crf: int = 18, lossless: bool = False, eight_bit: bool = False):
        png = output_kind(output, lossless) == "png"
        self.files = frame_files(output, FRAME_SUFFIXES, info.path) if png else None
        self.path = self.files.folder if png else Path(output)
        self.folders = {"frames": self.path} if png else {}
        self.source = SourceFrames(info.path) if info.deep and not eight_bit else None
        options = {"crf": crf, "lossless": lossless, "deep": self.source is not None}
        self.videos = {} if png else {"video": (self.path, options)}

    def write(self, place: SpanOutputs, frame: VideoFrame, rgb: np.ndarray) -> None:
        if self.source is not None:
            rgb = at_source_depth(rgb, self.source(frame.index))
        if self.folders:
            write_frame(place.folder("frames") / self.files.name(frame.index), rgb)
        else:
            place.video("video").write(frame, rgb)

    def picture(self, frame: VideoFrame, rgb: np.ndarray) -> np.ndarray:
        return rgb

    def complete(self, place: SpanOutputs, timing: list[VideoFrame]) -> None:
        if self.source is not None:
            self.source.close()


def check_distinct(**paths) -> None:
    """Refuse one file given for two of a run's outputs (``--preview x.mp4 --hdr10 x.mp4``): the one written last
    would replace the other. ``paths``: option name (without --) -> path or None."""
    seen: dict[Path, str] = {}
    for option, path in paths.items():
        if path is None:
            continue
        other = seen.setdefault(Path(path).resolve(), option)
        if other != option:
            raise InputError(path, f"is given for both --{other} and --{option}: one would replace the other")


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


class LabelSink:
    """Label maps as DAVIS-palette PNGs; optionally the frames with the masks drawn in (``overlay``, a video)
    and with the objects as an alpha matte (``alpha``: ProRes 4444 .mov or a directory of RGBA PNGs; the plate at
    the source's own depth where it has more than 8 bits, 16-bit PNGs then)."""

    def __init__(self, directory, info: VideoInfo, overlay_path=None, alpha_path=None):
        self.files = frame_files(directory, ".png", info.path)
        self.path = check_output_dir(self.files.folder, self.files.glob, "PNG")
        self.folders, self.videos = {"labels": self.path}, {}
        check_distinct(overlay=overlay_path, alpha=alpha_path)
        if overlay_path:
            self.videos["overlay"] = (Path(overlay_path), {})
        if alpha_path and output_kind(alpha_path, alpha=True) == "png":
            self.alpha_files = frame_files(alpha_path, FRAME_SUFFIXES, info.path)
            self.folders["alpha"] = self.alpha_files.folder
        elif alpha_path:
            self.videos["alpha"] = (Path(alpha_path), {"alpha": True, "deep": info.deep})
        self.source = SourceFrames(info.path) if alpha_path and info.deep else None

    def write(self, place: SpanOutputs, frame: VideoFrame, labels: np.ndarray) -> None:
        write_indexed_png(place.folder("labels") / self.files.name(frame.index), labels)
        if "overlay" in self.videos:
            place.video("overlay").write(frame, self.picture(frame, labels))
        if "alpha" in self.videos or "alpha" in self.folders:
            plate = frame.rgb if self.source is None else self.source(frame.index)
            matte = np.dstack([plate, np.where(labels > 0, np.iinfo(plate.dtype).max, 0).astype(plate.dtype)])
            if "alpha" in self.folders:
                write_frame(place.folder("alpha") / self.alpha_files.name(frame.index), matte)
            else:
                place.video("alpha").write(frame, matte)

    def picture(self, frame: VideoFrame, labels: np.ndarray) -> np.ndarray:
        return overlay(frame.rgb, labels, DAVIS_PALETTE)

    def complete(self, place: SpanOutputs, timing: list[VideoFrame]) -> None:
        if self.source is not None:
            self.source.close()


class RadianceSink:
    """Scene-linear frames as half-float EXRs in ``chromaticities`` (the keys' primaries: BT.709 unless they name
    others); optionally an SDR preview video (Reinhard) and, once every frame is written, HDR10 and HLG videos
    (``vprop.io.hdr_video``)."""

    def __init__(self, directory, info: VideoInfo, preview=None, hdr10=None, hlg=None, chromaticities=BT709):
        for extra in (hdr10, hlg, preview):
            if extra is not None and overwrites_input(extra, info.path):
                raise InputError(extra, "output would overwrite the input video")
        check_distinct(preview=preview, hdr10=hdr10, hlg=hlg)
        # by transfer: each written from the EXRs once all are there
        self.hdr_videos = {transfer: path for transfer, path in (("pq", hdr10), ("hlg", hlg)) if path is not None}
        for transfer, path in self.hdr_videos.items():
            check_hdr_video(path, transfer)
        self.files = frame_files(directory, ".exr", info.path)
        self.path = check_output_dir(self.files.folder, f"{self.files.prefix}*.exr", "EXR")
        self.folders = {"exr": self.path}
        self.videos = {"preview": (Path(preview), {})} if preview is not None else {}
        self.info, self.chromaticities = info, chromaticities

    def write(self, place: SpanOutputs, frame: VideoFrame, radiance: np.ndarray) -> None:
        write_exr(place.folder("exr") / self.files.name(frame.index), radiance, chromaticities=self.chromaticities)
        if self.videos:
            place.video("preview").write(frame, tonemap_reinhard(radiance))

    def picture(self, frame: VideoFrame, radiance: np.ndarray) -> np.ndarray:
        return tonemap_reinhard(radiance)

    def complete(self, place: SpanOutputs, timing: list[VideoFrame]) -> None:
        """The HDR videos, from the EXRs before they move into place: the folder appears only if they succeed."""
        for transfer, path in self.hdr_videos.items():
            write_hdr_video(path, [place.folder("exr") / self.files.name(f.index) for f in timing], timing,
                            self.info, transfer)
