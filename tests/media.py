"""Small synthetic videos, made with PyAV in tmp_path so tests need no data files."""

from fractions import Fraction

import av
import numpy as np


def pattern(index: int, width: int, height: int) -> np.ndarray:
    """A frame that changes over time and is not symmetric, so rotations show."""
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[..., 0] = (index * 9) % 256
    rgb[..., 1] = np.linspace(0, 200, width, dtype=np.uint8)[None, :]
    rgb[: height // 4, : width // 3] = 255
    return rgb


def write_video(path, frames=24, size=(64, 48), rate=24, pts=None, time_base=None,
                audio=None, rotation=None, colour=None, content=pattern, options=None):
    """Encode `frames` H.264 frames; `audio` is an audio codec name for a 440 Hz mono sine."""
    width, height = size
    with av.open(str(path), "w", options=options or {}) as out:
        video = out.add_stream("libx264", rate=rate)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
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
    return path
