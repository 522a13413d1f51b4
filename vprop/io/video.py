"""Streaming video on PyAV: decode and encode one frame at a time, keeping timing and colour."""

import itertools
import os
import struct
import warnings
from contextlib import ExitStack
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import numpy as np
from av.sidedata.sidedata import Type as SideDataType
from av.video.reformatter import Colorspace, Interpolation, VideoReformatter

from vprop.errors import InputError
from vprop.io.atomic import atomic_path
from vprop.io.images import FRAME_SUFFIXES, av_rgb_format, write_frame
from vprop.io.passthrough import StreamCopier, keep_video_tags
from vprop.io.sequence import ImageSequence, frame_files, is_pattern

# Frames report AVCOL_SPC_* numbers; swscale wants SWS_CS_* ones.
_SWSCALE_MATRIX = {1: Colorspace.ITU709, 4: Colorspace.FCC, 5: Colorspace.ITU601,
                   6: Colorspace.SMPTE170M, 7: Colorspace.SMPTE240M,
                   9: Colorspace.BT2020, 10: Colorspace.BT2020}
# Full-resolution chroma and exact rounding: swscale's fast defaults lose 1-2 levels
# per RGB<->YUV conversion, which adds up over decode, process, encode, re-read.
_SCALING = (Interpolation.BILINEAR | Interpolation.ACCURATE_RND
            | Interpolation.FULL_CHR_H_INT | Interpolation.FULL_CHR_H_INP)
_BT709, _LIMITED, _FULL = 1, 1, 2
_UNSET = {0, 2, 3}  # reserved / unspecified / reserved in the primaries and trc tables


@dataclass
class VideoInfo:
    path: Path | ImageSequence | None  # None: a video made from nothing (``new_video``), no source to copy from
    width: int  # as displayed, i.e. after rotation
    height: int
    fps: Fraction  # average frame rate
    frame_count: int | None  # counted from the packets, else the container's word; None: neither says
    time_base: Fraction
    rotation: int  # counter-clockwise degrees applied on decode: 0, 90, 180 or 270
    display_matrix: tuple[int, ...] | None  # the stream's 3x3 display matrix (rotation, flips) as stored
    has_audio: bool
    codec: str
    color_primaries: int  # AVCOL_PRI_*, AVCOL_TRC_*, AVCOL_SPC_*, AVCOL_RANGE_* as PyAV reports
    color_trc: int
    colorspace: int
    color_range: int
    bits: int = 8  # per colour component as decoded: 10 for a 10-bit ProRes or DPX scan, 16 for a 16-bit PNG
    # Most frames repeat a stamp (a damaged file, stamped 0 throughout): its frames are timed by their index
    timed_by_index: bool = False

    @property
    def deep(self) -> bool:
        """Whether the frames hold more than 8 bits a channel, which the outputs that can keep them keep."""
        return self.bits > 8 and self.path is not None

    @property
    def stored_size(self) -> tuple[int, int]:
        """(width, height) as the stream stores its frames, before the display rotation."""
        return (self.height, self.width) if self.rotation % 180 else (self.width, self.height)


@dataclass
class VideoFrame:
    index: int  # 0-based, decode order
    rgb: np.ndarray  # (H, W, 3) uint8, upright (uint16 when read ``deep``)
    pts: int | None
    time_base: Fraction


def probe(path) -> VideoInfo:
    """What the video (a file, or an ``ImageSequence``) is: its size, timing, colour tags and frame count."""
    path = _source(path)
    with _open(path) as container:
        stream = _video_stream(container, path)
        try:
            first = next(container.decode(stream), None)
        except av.FFmpegError as error:
            raise InputError(path, f"damaged video ({error})") from None
        if first is None:
            raise InputError(path, "no video frame could be decoded")
        rotation = _rotation(first)
        width, height = first.width, first.height
        # The packets are counted (a demux, no decoding: 11 ms for 795 frames) where they can be: a container's own
        # count can be wrong (an AVI's header also counts the frames its capture dropped: 444 for 68 frames) or
        # missing (MKV).
        index, stamps_repeat = _packet_index(path)
        # A rate averaged over repeated stamps is meaningless (288 fps for 12 frames all stamped 0): the codec's own
        fps = stream.codec_context.framerate if stamps_repeat else stream.average_rate
        return VideoInfo(
            path=path,
            width=height if rotation % 180 else width,
            height=width if rotation % 180 else height,
            fps=fps or stream.guessed_rate or stream.base_rate or Fraction(25),
            frame_count=len(index) if index is not None else stream.frames or None,
            time_base=stream.time_base,
            rotation=rotation,
            display_matrix=_display_matrix(first),
            has_audio=bool(container.streams.audio),
            codec=stream.codec_context.name,
            color_primaries=int(first.color_primaries),
            color_trc=int(first.color_trc),
            colorspace=int(first.colorspace),
            color_range=int(first.color_range),
            bits=max(component.bits for component in first.format.components),
            timed_by_index=stamps_repeat,
        )


def new_video(width: int, height: int, fps) -> VideoInfo:
    """What ``VideoWriter`` needs to write a video made from nothing (synthetic clips): untagged colour (so
    written as BT.709), no rotation, no audio."""
    fps = Fraction(fps)
    return VideoInfo(path=None, width=width, height=height, fps=fps, frame_count=None, time_base=1 / fps,
                     rotation=0, display_matrix=None, has_audio=False, codec="", color_primaries=2, color_trc=2,
                     colorspace=2, color_range=0)


def read_frames(path, start: int = 0, stop: int | None = None,
                index: "FrameIndex | None" = None, deep: bool = False) -> Iterator[VideoFrame]:
    """Yield the frames one by one; a damaged tail ends the video with a warning.

    ``deep``: the frames as 16-bit RGB (uint16, 0..65535), keeping a source's bits beyond 8.

    ``start``/``stop``: only frames ``[start, stop)``, numbered as in the whole video. With the video's
    ``index`` (``index_frames``) the decoder seeks to the keyframe before ``start`` instead of decoding from
    frame 0; without one, or where the index proves wrong, the frames before ``start`` are decoded and dropped.
    """
    path = _source(path)
    whole = start == 0 and stop is None
    with _open(path) as container:
        stream = _video_stream(container, path)
        stream.thread_type = "AUTO"
        reformatter, decoded = VideoReformatter(), _Decoded(container, stream)
        count, frames = _seek(container, stream, decoded, start, index) if start else (0, decoded.frames())
        size = (stream.codec_context.width, stream.codec_context.height)
        for frame in frames:
            if count >= start:
                if stop is not None and count >= stop:
                    break
                if all(size) and (frame.width, frame.height) != size:
                    _refuse_size_change(path, count, frame, size)
                yield VideoFrame(count, _to_rgb(frame, reformatter, deep), frame.pts,
                                 frame.time_base or stream.time_base)
            count += 1
        if not whole:
            return      # a part of the video: the whole video's reader gives the warnings
        if count == 0:
            raise InputError(path, "no video frame could be decoded")
        problem = decoded.problem or _missing_tail(container, stream, decoded.last) or (
            decoded.bad_packets and f"{decoded.bad_packets} damaged packets skipped")
        if problem:
            warnings.warn(f"{path.name}: damaged or truncated video, {count} frames decoded "
                          f"({problem})", stacklevel=2)


def _refuse_size_change(path: Path | ImageSequence, index: int, frame, size: tuple[int, int]):
    """Every frame must have the first one's size: a scan replaced by one of another resolution, or a stream that
    changes resolution midway, is named, not resized behind the user's back."""
    change = f"is {frame.width}×{frame.height}, where the first frame is {size[0]}×{size[1]}"
    if isinstance(path, ImageSequence):
        raise InputError(path.file(path.first + index), f"{change}: every frame of a sequence must have one size")
    raise InputError(path, f"frame {index} {change}: vprop needs one size throughout")


class SourceFrames:
    """A video's frames by index at the source's own depth (``read_frames(deep=True)``), for an output that keeps
    it: read forward, and opened again at the frame asked for where that is behind the last one read or well
    ahead of it (spans come in any order)."""

    AHEAD = 50      # frames: further than this, seeking beats decoding up to the frame

    def __init__(self, path):
        self.path, self._frames, self._next = _source(path), None, 0
        self._index, self._indexed = None, False     # the packet index, demuxed once, when a seek first needs it

    def __call__(self, number: int) -> np.ndarray:
        if self._frames is None or not self._next <= number <= self._next + self.AHEAD:
            self.close()
            if number > 0 and not self._indexed:
                self._index, self._indexed = index_frames(self.path), True
            self._frames, self._next = read_frames(self.path, number, None, self._index, deep=True), number
        for frame in self._frames:
            self._next = frame.index + 1
            if frame.index == number:
                return frame.rgb
        raise InputError(self.path, f"frame {number} could not be decoded again")

    def close(self) -> None:
        if self._frames is not None:
            self._frames.close()
            self._frames = None


class _Decoded:
    """The decoded frames of ``stream``, skipping damaged packets (the decoder resyncs at the next keyframe)."""

    def __init__(self, container, stream):
        self.container, self.stream = container, stream
        self.bad_packets, self.problem, self.last = 0, None, None

    def frames(self):
        try:
            for packet in self.container.demux(self.stream):
                try:
                    frames = packet.decode()
                except av.error.InvalidDataError:
                    self.bad_packets += 1
                    continue
                for frame in frames:
                    self.last = frame
                    yield frame
        except av.FFmpegError as error:
            self.problem = f"decoding stopped: {error}"


@dataclass(frozen=True)
class FrameIndex:
    """Every frame's timestamp, in the order frames are numbered, and where decoding can start."""

    pts: tuple[int, ...]            # pts of frame 0, 1, ... (presentation order)
    keyframes: tuple[int, ...]      # the frames that are keyframes, ascending
    seek_to: tuple[int, ...]        # per keyframe, a timestamp at or before its packet (min of pts and dts)

    def __len__(self) -> int:
        return len(self.pts)


def index_frames(path) -> FrameIndex | None:
    """The frames' timestamps from the packets alone (a demux, no decoding: fast, even for a film).

    None where the packets cannot say which frame is which (a missing or repeated pts, packets the decoder
    discards): ranges are then read by decoding from frame 0. An image sequence's frames are its files, each a
    keyframe, numbered from pts 0: its index needs no demux (which would read every file).
    """
    return _packet_index(path)[0]


def _packet_index(path) -> tuple[FrameIndex | None, bool]:
    """(``index_frames``, whether most of the packets repeat a stamp): one demux for both."""
    path = _source(path)
    if isinstance(path, ImageSequence):
        every = tuple(range(path.count))
        return FrameIndex(every, every, every), False
    with _open(path) as container:
        stream = _video_stream(container, path)
        packets = []
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue        # the end-of-stream marker
                if packet.pts is None or packet.is_discard or packet.is_corrupt:
                    return None, False
                packets.append((packet.pts, packet.dts if packet.dts is not None else packet.pts,
                                packet.is_keyframe))
        except av.FFmpegError:
            return None, False
    packets.sort()
    pts = tuple(p for p, _, _ in packets)
    if not pts or len(set(pts)) != len(pts):
        return None, 2 * len(set(pts)) < len(pts)
    keyframes = tuple(i for i, (_, _, key) in enumerate(packets) if key)
    return FrameIndex(pts, keyframes, tuple(min(packets[i][0], packets[i][1]) for i in keyframes)), False


def _seek(container, stream, decoded: _Decoded, start: int, index: FrameIndex | None) -> tuple[int, Iterator]:
    """The decoded frames from frame ``start`` on, if the index allows a seek, and the number of the first.

    Seeks to the last keyframe at or before ``start`` and drops what decodes before ``start``'s timestamp
    (frames of that keyframe's group, and the undecodable leading pictures of an open group). If the first frame
    at or after it is not ``start``'s, the index was wrong: the stream is read again from its beginning.
    """
    if index is None or start >= len(index) or not index.keyframes or index.keyframes[0] > start:
        return 0, decoded.frames()
    position = max(i for i, k in enumerate(index.keyframes) if k <= start)
    container.seek(index.seek_to[position], stream=stream, backward=True, any_frame=False)
    want = index.pts[start]
    frames = decoded.frames()
    for frame in frames:
        if frame.pts is None or frame.pts > want:
            break
        if frame.pts == want:
            return start, itertools.chain([frame], frames)
    container.seek(0, stream=stream, backward=True, any_frame=False)
    return 0, decoded.frames()


def _missing_tail(container, stream, last) -> str | None:
    """Say so when the video ends well before the duration its header announces.

    FFmpeg treats a cut-off file as a normal end of file; the header's duration is
    what still remembers the full length. (Frame counts are no help: AVI counts
    dropped-frame slots, MP4 edit lists trim frames.)
    """
    if last is None or last.pts is None:
        return None
    end = float(last.pts * (last.time_base or stream.time_base) + 1 / (stream.average_rate or 25))
    # Where the header says the video ends, in the same clock as the frames' timestamps.
    if stream.duration:
        announced = float(((stream.start_time or 0) + stream.duration) * stream.time_base)
    elif container.duration:
        announced = ((container.start_time or 0) + container.duration) / av.time_base
    else:
        return None
    # Some slack: audio may outlast the video, and durations are rounded.
    if end < announced - max(0.5, 2 / float(stream.average_rate or 25)):
        return f"ends at {end:.2f} s of {announced:.2f} s"
    return None


class VideoWriter:
    """Write frames with the source's timing, colour and stream tags, display matrix, audio and subtitles.

    The output kind follows the path: .mp4/.mov H.264, .mkv H.264 (FFV1 if lossless),
    a directory (existing, or a path ending in "/") one PNG per frame. With ``alpha`` frames are RGBA and
    the output a .mov in ProRes 4444 or a directory of RGBA PNGs, for compositing. Nothing appears
    at the output path unless the `with` block completes.

    ``chunk``: a piece of a longer output (``vprop.io.chunks``), written to the path ``chunk`` with the encoder
    ``output`` would get, but the video stream alone: the tags, display matrix, audio and subtitles are given to
    the whole when the pieces are joined. ``packet_times`` then holds the (pts, dts) of every packet as the
    encoder made them, which a container may shift or round.
    """

    def __init__(self, output, source: VideoInfo, crf: int = 18, lossless: bool = False, alpha: bool = False,
                 chunk=None, deep: bool = False):
        self.path, self.kind = _output_kind(output, lossless, alpha)
        self.files = frame_files(output, FRAME_SUFFIXES, source.path) if self.kind == "png" else None
        if self.files:
            self.path = self.files.folder
        self.source, self.crf, self.channels = source, crf, 4 if alpha else 3
        self.deep = deep    # 16-bit RGB(A) in: 16-bit PNGs, 10-bit H.264, 16-bit FFV1 (ProRes 4444 is 10-bit anyway)
        self.chunk = chunk is not None
        if self.chunk:
            if self.kind == "png":
                raise ValueError("a directory of frames is not written in chunks")
            self.path = Path(chunk)
        self.packet_times: list[tuple[int, int | None]] = []
        check_output(self.path, source.path)
        # Stored as the source stored it (display matrix copied), so sideways when rotated.
        width, height = source.stored_size
        # yuv420p needs even sizes: odd ones get one edge row/column, as FFmpeg users do.
        even = self.kind == "h264"
        self.size = (width + even * (width % 2), height + even * (height % 2))
        self._stack = None

    def __enter__(self):
        with ExitStack() as stack:
            self._tmp = stack.enter_context(atomic_path(self.path, directory=self.kind == "png"))
            if self.kind != "png":
                self._out = stack.enter_context(av.open(str(self._tmp), "w"))
                companion = None if self.chunk else open_companion(self.source.path)
                self._src = None if companion is None else stack.enter_context(companion)
                self._add_streams()
            self._stack = stack.pop_all()
        return self

    def write(self, frame: VideoFrame, rgb: np.ndarray):
        if self._stack is None:
            raise RuntimeError("VideoWriter.write() outside its `with` block")
        rgb = np.asarray(rgb)
        expected, dtype = (self.source.height, self.source.width, self.channels), np.uint16 if self.deep else np.uint8
        if rgb.dtype != dtype or rgb.shape != expected:
            raise ValueError(f"expected {np.dtype(dtype)} {expected} frame, got {rgb.dtype} {rgb.shape}")
        if self.kind == "png":
            write_frame(self._tmp / self.files.name(frame.index), rgb)
            return
        rgb = coded_orientation(rgb, self.source.rotation)
        pad = ((0, self.size[1] - rgb.shape[0]), (0, self.size[0] - rgb.shape[1]), (0, 0))
        rgb = np.pad(rgb, pad, mode="edge")
        image = av.VideoFrame.from_ndarray(rgb, format=av_rgb_format(rgb))
        image = self._reformatter.reformat(image, format=self._video.pix_fmt,
                                           interpolation=_SCALING, **self._matrix)
        image.pts, image.time_base = self._pts(frame), self.source.time_base
        self._mux(self._video.encode(image))
        if self._copier:
            self._copier.copy_until(float(image.pts * image.time_base))

    def __exit__(self, exc_type, exc, tb):
        stack, self._stack = self._stack, None
        if exc_type is None and self.kind != "png":
            try:
                self._mux(self._video.encode(None))
                if self._copier:
                    self._copier.finish()
            except BaseException as error:
                stack.__exit__(type(error), error, error.__traceback__)
                raise
        return stack.__exit__(exc_type, exc, tb)

    def _mux(self, packets):
        for packet in packets:
            if self.chunk:
                self.packet_times.append((packet.pts, packet.dts))
            self._out.mux(packet)

    def _add_streams(self):
        source, colour = self.source, _output_colour(self.source)
        if self.kind == "ffv1":
            video = self._out.add_stream("ffv1", rate=source.fps)
            video.pix_fmt, self._matrix = "gbrp16le" if self.deep else "bgr0", {}  # FFV1 refuses 8-bit gbrp here
            del colour["colorspace"], colour["color_range"]  # RGB needs no YUV matrix
        else:
            if self.kind == "prores4444":
                video = self._out.add_stream("prores_ks", rate=source.fps)
                video.pix_fmt = "yuva444p10le"
                video.codec_context.options = {"profile": "4444"}
            else:
                video = self._out.add_stream("libx264", rate=source.fps)
                video.pix_fmt = "yuv420p10le" if self.deep else "yuv420p"     # 10 bits, as FFmpeg keeps them
                video.codec_context.options = {"crf": str(self.crf)}
            # Encode with the same matrix and range the tags announce, so colours don't shift.
            self._matrix = {"dst_colorspace": _SWSCALE_MATRIX[colour["colorspace"]],
                            "dst_color_range": colour["color_range"]}
        for name, value in colour.items():
            setattr(video.codec_context, name, value)
        video.width, video.height = self.size
        # The source time base on both, so VFR timestamps survive unchanged.
        video.time_base = video.codec_context.time_base = source.time_base
        self._video, self._reformatter, self._last_pts = video, VideoReformatter(), None
        self._copier = None
        if self._src is not None:
            self._copier = keep_companion(self._src, source, video, self._out)

    def _pts(self, frame: VideoFrame) -> int:
        self._last_pts = output_pts(frame, self.source, self._last_pts)
        return self._last_pts


def output_pts(frame: VideoFrame, source: VideoInfo, last: int | None) -> int:
    """The timestamp, in the source's time base, that ``frame`` is written with after a frame written at ``last``:
    its own; its index's at the average rate where it has none or the source's stamps repeat throughout
    (``VideoInfo.timed_by_index``: such a file would play in a blink); the next tick where it does not follow."""
    if frame.pts is None or source.timed_by_index:
        pts = round(frame.index / source.fps / source.time_base)
    else:
        pts = round(frame.pts * (frame.time_base or source.time_base) / source.time_base)
    return following_pts(pts, last)


def following_pts(pts: int, last: int | None) -> int:
    """``pts``, or the next tick after ``last`` where it does not follow it: the encoder rejects repeated
    timestamps, and one repeated stamp (a damaged file) is best a tick late, the file's own clock kept."""
    return pts if last is None or pts > last else last + 1


def open_companion(source: Path | ImageSequence | None):
    """The container whose sound, subtitles and tags a new video keeps: the source video itself, or the sound file
    given with an image sequence; None where there is none."""
    if source is None or isinstance(source, ImageSequence) and source.audio is None:
        return None
    return av.open(str(source.audio)) if isinstance(source, ImageSequence) else _open(source)


def keep_companion(companion, source: VideoInfo, video, output) -> StreamCopier:
    """Give the new ``video`` stream (of ``output``) the source video stream's tags and display matrix, and
    ``output`` the sound and subtitles of ``companion`` (``open_companion``). Before the first mux."""
    if not isinstance(source.path, ImageSequence):
        keep_video_tags(_video_stream(companion, source.path), video, source.display_matrix)
    return StreamCopier(companion, output)


def _source(video) -> Path | ImageSequence:
    return video if isinstance(video, ImageSequence) else Path(video)


def _open(path: Path | ImageSequence):
    if isinstance(path, ImageSequence):
        options = {"framerate": str(path.fps), "start_number": str(path.first)}
        try:
            return av.open(path.pattern, format="image2", options=options, metadata_errors="replace")
        except av.FFmpegError as error:
            raise InputError(path.file(path.first), f"cannot be read ({error.strerror or error})") from None
    if not path.exists():
        raise InputError(path, "no such file")
    if path.is_dir():
        raise InputError(path, "is a directory, not a video file")
    try:
        return av.open(str(path), metadata_errors="replace")
    except PermissionError:
        raise InputError(path, "cannot read (permission denied)") from None
    except av.FFmpegError as error:
        raise InputError(path, f"not a video file ({error.strerror or error})") from None


def _video_stream(container, path: Path | ImageSequence):
    # Cover art in audio files shows up as a one-picture "video" stream.
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            # FFmpeg opens a still image as a one-frame video (image2, png_pipe, ...): a key-frame given
            # where the video goes would otherwise fail later as "key index 30 is beyond the video's end".
            name = container.format.name
            if isinstance(path, ImageSequence):
                return stream
            if name == "image2" or name.endswith("_pipe") or (name == "gif" and stream.frames == 1):
                raise InputError(path, f"is a still image ({stream.codec_context.name}), not a video file")
            return stream
    raise InputError(path, "not a video file (no video stream)")


def _rotation(frame) -> int:
    return round((frame.rotation or 0) / 90) % 4 * 90


def _display_matrix(frame) -> tuple[int, ...] | None:
    try:
        matrix = frame.side_data.get(SideDataType.DISPLAYMATRIX)
    except ValueError:
        # PyAV (18.1) cannot name every kind of side data a newer FFmpeg attaches (a 16-bit TIFF's: "31 is not a valid
        # Type") and then reads none; such pictures (stills, sequences) carry no display matrix.
        return None
    return struct.unpack("9i", bytes(matrix)) if matrix is not None else None


def coded_orientation(image: np.ndarray, rotation: int) -> np.ndarray:
    """Undo the rotation applied on decode: frames are stored as the source stored them,
    and the copied display matrix turns them upright again in players and editors."""
    return np.rot90(image, -(rotation // 90))


def _to_rgb(frame, reformatter, deep: bool = False) -> np.ndarray:
    rgb = reformatter.reformat(
        frame, format="rgb48le" if deep else "rgb24",
        src_colorspace=_decode_matrix(frame.colorspace, frame.height),
        src_color_range=_FULL if frame.color_range == _FULL else _LIMITED,
        interpolation=_SCALING,
    ).to_ndarray()
    return np.ascontiguousarray(np.rot90(rgb, _rotation(frame) // 90))


def _decode_matrix(colorspace: int, height: int):
    if colorspace in _SWSCALE_MATRIX:
        return _SWSCALE_MATRIX[colorspace]
    # Untagged video: do what players do, BT.709 for HD and BT.601 below it.
    return Colorspace.ITU709 if height >= 720 else Colorspace.ITU601


def _output_colour(source: VideoInfo) -> dict:
    """The source's colour tags, with BT.709 limited range standing in for missing ones."""
    def known(value):
        return _BT709 if value in _UNSET else value
    return {
        "color_primaries": known(source.color_primaries),
        "color_trc": known(source.color_trc),
        "colorspace": source.colorspace if source.colorspace in _SWSCALE_MATRIX else _BT709,
        "color_range": source.color_range if source.color_range == _FULL else _LIMITED,
    }


def output_kind(output, lossless: bool = False, alpha: bool = False) -> str:
    """"png" (a directory of frames, or a pattern of their names), "h264", "ffv1" or "prores4444", as
    ``VideoWriter`` would write ``output``."""
    return _output_kind(output, lossless, alpha)[1]


def _output_kind(output, lossless: bool, alpha: bool = False) -> tuple[Path, str]:
    text, path = os.fspath(output), Path(output)
    if text.endswith(("/", os.sep)) or path.is_dir() or is_pattern(path):
        return path, "png"
    suffix = path.suffix.lower()
    if alpha:
        if suffix != ".mov":
            raise InputError(path, "an alpha matte needs .mov (ProRes 4444) or a directory ending in /")
        return path, "prores4444"
    if suffix == ".mkv":
        return path, "ffv1" if lossless else "h264"
    if suffix in (".mp4", ".mov"):
        if lossless:
            raise InputError(path, "lossless output needs .mkv or a PNG directory")
        return path, "h264"
    raise InputError(path, f"unsupported output type '{suffix}' "
                           "(use .mp4, .mov, .mkv or a directory ending in /)")


def overwrites_input(path, source: Path | ImageSequence) -> bool:
    """Whether writing ``path`` would replace the input video, or an input sequence's folder."""
    path, source = Path(path), source.folder if isinstance(source, ImageSequence) else Path(source)
    return path.resolve() == source.resolve() or (
        path.exists() and source.exists() and os.path.samefile(path, source))


def check_output(path: Path, source: Path | ImageSequence | None):
    """Refuse to overwrite the input (if any); make the output's folder, which must be writable."""
    if source is not None and overwrites_input(path, source):
        raise InputError(path, "output would overwrite the input "
                               f"{'sequence' if isinstance(source, ImageSequence) else 'video'}")
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(folder, f"cannot create output directory ({error.strerror})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(folder, "output directory is not writable")
