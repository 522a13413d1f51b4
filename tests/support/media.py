"""Small synthetic videos, made with PyAV in tmp_path so tests need no data files."""

import hashlib
from fractions import Fraction

import av
import numpy as np
import pytest


def pattern(index: int, width: int, height: int) -> np.ndarray:
    """A frame that changes over time and is not symmetric, so rotations show."""
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[..., 0] = (index * 9) % 256
    rgb[..., 1] = np.linspace(0, 200, width, dtype=np.uint8)[None, :]
    rgb[: height // 4, : width // 3] = 255
    return rgb


def h264_stream(container, rate, size):
    """A libx264 stream of ``size`` (width, height), yuv420p, that encodes on one thread: x264's output depends on its
    thread count, so the clips the tests make are the same on every machine (a real clip's masks moved with it)."""
    stream = container.add_stream("libx264", rate=rate)
    stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
    stream.codec_context.thread_count = 1
    return stream


def write_video(path, frames=24, size=(64, 48), rate=24, pts=None, time_base=None,
                audio=None, rotation=None, colour=None, content=pattern, options=None,
                subtitles=None, tags=None):
    """Encode `frames` H.264 frames; `audio` is an audio encoder name for a 440 Hz mono sine.

    `subtitles`: [(start s, end s, text)] muxed as a SubRip stream (Matroska holds it).
    `tags`: {"container" | "video" | "audio" | "subtitle": {tag: value}}.
    """
    width, height = size
    tags = tags or {}
    with av.open(str(path), "w", options=options or {}) as out:
        out.metadata.update(tags.get("container", {}))
        video = h264_stream(out, rate, (width, height))
        matrix = {}
        if colour:  # {"colorspace": AVCOL_SPC, "color_range": ..., "sws": SWS_CS}
            for name in ("colorspace", "color_range"):
                setattr(video.codec_context, name, colour[name])
            matrix = {"dst_colorspace": colour["sws"], "dst_color_range": colour["color_range"]}
        if time_base:
            video.time_base = video.codec_context.time_base = time_base
        if rotation:
            video.set_display_rotation(rotation)
        sound = out.add_stream(audio, rate=48000, layout="mono") if audio else None
        text = _subrip(path, subtitles) if subtitles else None
        text_stream = out.add_stream_from_template(text.streams.subtitles[0]) if text else None
        for stream in (video, sound, text_stream):
            if stream is not None:
                stream.metadata.update(tags.get(stream.type, {}))
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(content(i, width, height), format="rgb24")
            frame = frame.reformat(format="yuv420p", **matrix)
            frame.pts = pts[i] if pts else i
            if time_base:
                frame.time_base = time_base
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound:
            total, start = int(48000 * frames / Fraction(rate)), 0
            while start < total:
                n = min(1024, total - start)
                wave = 0.3 * np.sin(2 * np.pi * 440 * (np.arange(n) + start) / 48000)
                if audio == "aac":
                    samples, fmt = wave.astype(np.float32)[None], "fltp"
                else:
                    samples, fmt = (wave * 32767).astype(np.int16)[None], "s16"
                chunk = av.AudioFrame.from_ndarray(samples, format=fmt, layout="mono")
                chunk.sample_rate, chunk.pts = 48000, start
                out.mux(sound.encode(chunk))
                start += n
            out.mux(sound.encode(None))
        if text:
            for packet in text.demux(text.streams.subtitles[0]):
                if packet.size:
                    packet.stream = text_stream
                    out.mux(packet)
            text.close()
    return path


def _subrip(path, subtitles):
    def clock(seconds):
        ms = round(seconds * 1000)
        return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"
    srt = path.with_name(path.name + ".srt")
    srt.write_text("".join(f"{i}\n{clock(a)} --> {clock(b)}\n{line}\n\n"
                           for i, (a, b, line) in enumerate(subtitles, 1)))
    return av.open(str(srt))


def packets(path, kind="audio"):
    """(codec, [(sha256 of the bytes, pts in seconds)]) of the first stream of `kind` ("audio", "subtitles").

    Two files with equal lists carry the same packets bit for bit, at the same times.
    """
    with av.open(str(path)) as container:
        stream = container.streams.get(**{kind: 0})[0]
        return stream.codec_context.codec.canonical_name, [
            (hashlib.sha256(bytes(p)).hexdigest(), p.pts * p.time_base) for p in container.demux(stream) if p.size]


def write_sound(path, seconds=0.5, rate=48000):
    """A 440 Hz sine as 16-bit PCM (a WAV, say): the separate sound of an image sequence."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=rate)
        stream.layout = "mono"
        samples = (np.sin(2 * np.pi * 440 * np.arange(int(rate * seconds)) / rate) * 8000).astype(np.int16)
        for start in range(0, len(samples), 1024):
            frame = av.AudioFrame.from_ndarray(samples[None, start:start + 1024], format="s16", layout="mono")
            frame.sample_rate, frame.pts = rate, start
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def need_encoder(name):
    """Skip the test when this FFmpeg build cannot encode `name`, which the test clip needs."""
    try:
        av.Codec(name, "w")
    except av.codec.codec.UnknownCodecError:
        pytest.skip(f"this FFmpeg build has no {name} encoder to make the test clip")
