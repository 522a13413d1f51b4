"""HDR delivery video from scene-linear frames, HEVC 10-bit BT.2020: HDR10 (SMPTE ST 2084 PQ, with MaxCLL/MaxFALL),
or HLG (ARIB STD-B67, broadcast HDR, which needs no metadata and plays on SDR screens too)."""
from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import Colorspace, VideoReformatter

from vprop.errors import InputError
from vprop.io.atomic import atomic_path
from vprop.io.images import read_exr
from vprop.io.video import (_SCALING, VideoFrame, VideoInfo, coded_orientation, keep_companion, open_companion,
                            output_pts)


REFERENCE_WHITE_NITS = 203.0     # scene-linear 1.0 in HDR10 output (ITU-R BT.2408 reference white)
HLG_REFERENCE_SIGNAL = 0.75      # scene-linear 1.0 in HLG output: the HLG signal of BT.2408's reference white


_BT709_TO_BT2020 = np.array([[0.6274, 0.3293, 0.0433],
                             [0.0691, 0.9195, 0.0114],
                             [0.0164, 0.0880, 0.8956]], np.float32)


def pq_encode(nits: np.ndarray) -> np.ndarray:
    """SMPTE ST 2084 inverse EOTF: absolute luminance in cd/m² -> non-linear signal 0..1."""
    m1, m2, c1, c2, c3 = 2610 / 16384, 2523 / 4096 * 128, 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
    y = np.clip(np.asarray(nits, np.float32) / 10000.0, 0.0, 1.0) ** m1
    return ((c1 + c2 * y) / (1 + c3 * y)) ** m2


_HLG_A, _HLG_B, _HLG_C = 0.17883277, 0.28466892, 0.55991073


def hlg_encode(light: np.ndarray) -> np.ndarray:
    """ITU-R BT.2100 HLG OETF: normalised scene light 0..1 -> non-linear signal 0..1."""
    e = np.clip(np.asarray(light, np.float32), 0.0, 1.0)
    log = _HLG_A * np.log(np.maximum(12 * e - _HLG_B, 1e-6)) + _HLG_C
    return np.where(e <= 1 / 12, np.sqrt(3 * e), log).astype(np.float32)


def hlg_decode(signal: np.ndarray) -> np.ndarray:
    """The HLG OETF's inverse: non-linear signal 0..1 -> normalised scene light 0..1."""
    v = np.clip(np.asarray(signal, np.float32), 0.0, 1.0)
    return np.where(v <= 0.5, v * v / 3, (np.exp((v - _HLG_C) / _HLG_A) + _HLG_B) / 12).astype(np.float32)


def hlg_light(hdr: np.ndarray) -> np.ndarray:
    """Scene-linear BT.709 RGB -> BT.2020 RGB as HLG's normalised scene light, 1.0 at ``HLG_REFERENCE_SIGNAL``
    (clipped at HLG's peak, about 3.8 times that white)."""
    white = float(hlg_decode(np.float32(HLG_REFERENCE_SIGNAL)))
    return np.clip(np.asarray(hdr, np.float32) @ _BT709_TO_BT2020.T * np.float32(white), 0.0, 1.0)


def hdr10_nits(hdr: np.ndarray, white: float = REFERENCE_WHITE_NITS) -> np.ndarray:
    """Scene-linear BT.709 RGB -> BT.2020 RGB in cd/m² (clipped to PQ's 10000)."""
    return np.clip(np.asarray(hdr, np.float32) @ _BT709_TO_BT2020.T * white, 0.0, 10000.0)


def light_levels(frames_nits) -> tuple[int, int]:
    """(MaxCLL, MaxFALL) of CTA-861.3: brightest pixel and brightest frame average, on max(R, G, B)."""
    cll = fall = 0.0
    for nits in frames_nits:
        peak = nits.max(-1)
        cll, fall = max(cll, float(peak.max())), max(fall, float(peak.mean()))
    return int(np.ceil(cll)), int(np.ceil(fall))


TRANSFERS = {"pq": ("HDR10", "smpte2084", 16), "hlg": ("HLG", "arib-std-b67", 18)}   # name, x265's, FFmpeg's


def transfer_signal(hdr: np.ndarray, transfer: str) -> np.ndarray:
    """Scene-linear BT.709 RGB -> the BT.2020 signal 0..1 of ``transfer`` ("pq" or "hlg")."""
    return pq_encode(hdr10_nits(hdr)) if transfer == "pq" else hlg_encode(hlg_light(hdr))


def check_hdr_video(output, transfer: str) -> None:
    """Refuse before any work an HDR video this FFmpeg cannot encode or whose container cannot hold it."""
    name = TRANSFERS[transfer][0]
    if "libx265" not in av.codecs_available:
        raise InputError(output, f"{name} needs libx265, which this PyAV's FFmpeg does not include")
    if Path(output).suffix.lower() not in (".mp4", ".mov", ".mkv"):
        raise InputError(output, f"{name} output must be .mp4, .mov or .mkv")


def write_hdr_video(output, exr_paths: list[Path], frames: list[VideoFrame], source: VideoInfo,
                    transfer: str = "pq", crf: int = 18) -> Path:
    """Encode EXR frames as HEVC 10-bit BT.2020 (``hvc1``), the source's audio kept: ``transfer`` "pq" (HDR10,
    scene-linear 1.0 at ``REFERENCE_WHITE_NITS``, with MaxCLL/MaxFALL) or "hlg" (1.0 at ``HLG_REFERENCE_SIGNAL``)."""
    output = Path(output)
    check_hdr_video(output, transfer)
    params = ["repeat-headers=1", "colorprim=bt2020", f"transfer={TRANSFERS[transfer][1]}", "colormatrix=bt2020nc",
              "range=limited", "log-level=error"]
    if transfer == "pq":
        cll, fall = light_levels(hdr10_nits(read_exr(p)) for p in exr_paths)
        params += ["hdr-opt=1", f"max-cll={cll},{fall}",
                   "master-display=G(8500,39850)B(6550,2300)R(35400,14600)WP(15635,16450)L(10000000,1)"]
    width, height = source.stored_size   # sideways when rotated: the display matrix is copied
    width, height = width + width % 2, height + height % 2
    with open_companion(source.path) or nullcontext() as src, atomic_path(output) as tmp, \
            av.open(str(tmp), "w") as out:
        video = out.add_stream("libx265", rate=source.fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p10le"
        video.codec_context.options = {"crf": str(crf), "x265-params": ":".join(params)}
        video.codec_context.color_primaries, video.codec_context.color_trc = 9, TRANSFERS[transfer][2]  # BT.2020
        video.codec_context.colorspace, video.codec_context.color_range = 9, 1         # BT.2020 NCL, limited
        if output.suffix.lower() != ".mkv":
            video.codec_tag = "hvc1"     # what Apple players need to play HEVC in MP4/MOV
        video.time_base = video.codec_context.time_base = source.time_base
        copier = keep_companion(src, source, video, out) if src else None
        reformatter, last = VideoReformatter(), None
        for path, frame in zip(exr_paths, frames):
            signal = coded_orientation(transfer_signal(read_exr(path), transfer), source.rotation)
            pad = ((0, height - signal.shape[0]), (0, width - signal.shape[1]), (0, 0))
            rgb48 = np.round(np.pad(signal, pad, mode="edge") * 65535).astype(np.uint16)
            image = av.VideoFrame.from_ndarray(rgb48, format="rgb48le")
            image = reformatter.reformat(image, format="yuv420p10le", dst_colorspace=Colorspace.BT2020,
                                         dst_color_range=1, interpolation=_SCALING)
            pts = last = output_pts(frame, source, last)
            image.pts, image.time_base = pts, source.time_base
            for packet in video.encode(image):
                out.mux(packet)
            if copier:
                copier.copy_until(float(pts * source.time_base))
        for packet in video.encode(None):
            out.mux(packet)
        if copier:
            copier.finish()
    return output
