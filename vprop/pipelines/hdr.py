"""HDR video from an LDR video and a few HDR key-frames; bracketed exposures merged into an HDR key.

Outputs: a folder of half-float scene-linear EXR frames (always), an SDR preview (Reinhard tone mapping,
H.264, audio kept) and an HDR10 file (HEVC 10-bit, BT.2020, SMPTE ST 2084 PQ, MaxCLL/MaxFALL).
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Callable, Iterator

import av
import cv2
import numpy as np
import torch
from av.video.reformatter import Colorspace, VideoReformatter

from vprop.engine.confidence import ConfidenceReport
from vprop.errors import InputError
from vprop.io.atomic import atomic_path
from vprop.io.images import fit_to_size, read_exr, read_linear_rgb, read_rgb, write_exr
from vprop.io.passthrough import StreamCopier, keep_video_tags
from vprop.io.video import (_SCALING, VideoFrame, VideoInfo, VideoWriter, _video_stream, coded_orientation, probe,
                            read_frames)
from vprop.engine.keys import LazyKeys, check_all_keys_used, key_files
from vprop.models.hub import load_model
from vprop.engine.propagator import Propagator, Settings
from vprop.engine.shots import video_cuts
from vprop.tasks.hdr import SATURATED, Blender, HDRKey, HDRTask, curve_for, guidance_channels

KEY_SUFFIXES = (".exr", ".hdr")
REFERENCE_WHITE_NITS = 203.0     # scene-linear 1.0 in HDR10 output (ITU-R BT.2408 reference white)


# -- keys -------------------------------------------------------------------------------------------------

def load_hdr_key(path, width: int, height: int) -> np.ndarray:
    """A key's scene-linear RGB at the video's size; NaN/Inf replaced (with a warning), negatives clipped."""
    path = Path(path)
    rgb = read_linear_rgb(path)
    bad = ~np.isfinite(rgb)
    if bad.any():
        count = int(bad.any(-1).sum())
        warnings.warn(f"{path.name}: {count} pixel(s) with NaN or Inf replaced", stacklevel=2)
        posinf = np.isposinf(rgb)
        rgb = np.nan_to_num(rgb, nan=0.0, posinf=0.0, neginf=0.0)
        rgb[posinf] = rgb.max()    # +Inf: as bright as the brightest real pixel
    rgb = np.clip(rgb, 0.0, None)
    if not rgb.any():
        raise InputError(path, "key-frame is all black (no radiance)")
    return np.ascontiguousarray(fit_to_size(rgb, width, height, path), dtype=np.float32)


class _KeysAlongFrames(LazyKeys):
    """Key data built when the frame loop reaches a key: the HDR file plus the LDR frame it is paired with.

    ``frames()`` wraps the video stream and remembers the frame being processed; the loop asks for the key
    of exactly that frame. The last key is cached (the loop reads it twice).
    """

    def __init__(self, files: dict[int, Path], width: int, height: int, blender: Blender):
        super().__init__(files, load=None)
        self.size, self.blender = (width, height), blender
        self.current: VideoFrame | None = None
        self._cached: tuple[int, HDRKey] | None = None

    def frames(self, stream) -> Iterator[VideoFrame]:
        for frame in stream:
            self.current = frame
            yield frame

    def __getitem__(self, index: int) -> HDRKey:
        if self._cached and self._cached[0] == index:
            return self._cached[1]
        if self.current is None or self.current.index != index:
            raise KeyError(index)
        key = HDRKey(load_hdr_key(self.files[index], *self.size), self.current.rgb)
        self.blender.add_key(index, key)
        self._cached = (index, key)
        return key

# -- outputs ----------------------------------------------------------------------------------------------

def tonemap_reinhard(hdr: np.ndarray, gamma: float = 2.2) -> np.ndarray:
    """SDR uint8 RGB of a scene-linear frame with OpenCV's Reinhard operator."""
    tonemap = cv2.createTonemapReinhard(gamma=gamma)
    bgr = np.ascontiguousarray(np.asarray(hdr, np.float32)[..., ::-1])
    if not bgr.any():
        return np.zeros(hdr.shape, np.uint8)
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)   # its internals warn on every call
    try:
        out = np.nan_to_num(tonemap.process(np.maximum(bgr, 1e-6)))
    finally:
        cv2.utils.logging.setLogLevel(level)
    return np.clip(out[..., ::-1] * 255.0 + 0.5, 0, 255).astype(np.uint8)


_BT709_TO_BT2020 = np.array([[0.6274, 0.3293, 0.0433],
                             [0.0691, 0.9195, 0.0114],
                             [0.0164, 0.0880, 0.8956]], np.float32)


def pq_encode(nits: np.ndarray) -> np.ndarray:
    """SMPTE ST 2084 inverse EOTF: absolute luminance in cd/m² -> non-linear signal 0..1."""
    m1, m2, c1, c2, c3 = 2610 / 16384, 2523 / 4096 * 128, 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
    y = np.clip(np.asarray(nits, np.float32) / 10000.0, 0.0, 1.0) ** m1
    return ((c1 + c2 * y) / (1 + c3 * y)) ** m2


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


def write_hdr10(output, exr_paths: list[Path], frames: list[VideoFrame], source: VideoInfo,
                white: float = REFERENCE_WHITE_NITS, crf: int = 18) -> Path:
    """Encode EXR frames as HEVC 10-bit PQ / BT.2020 (``hvc1``) with MaxCLL/MaxFALL, the source's audio kept."""
    output = Path(output)
    if "libx265" not in av.codecs_available:
        raise InputError(output, "HDR10 needs libx265, which this PyAV's FFmpeg does not include")
    if output.suffix.lower() not in (".mp4", ".mov", ".mkv"):
        raise InputError(output, "HDR10 output must be .mp4, .mov or .mkv")
    cll, fall = light_levels(hdr10_nits(read_exr(p), white) for p in exr_paths)
    params = ":".join([
        "hdr-opt=1", "repeat-headers=1", "colorprim=bt2020", "transfer=smpte2084", "colormatrix=bt2020nc",
        "range=limited", "master-display=G(8500,39850)B(6550,2300)R(35400,14600)WP(15635,16450)L(10000000,1)",
        f"max-cll={cll},{fall}", "log-level=error",
    ])
    width, height = source.stored_size   # sideways when rotated: the display matrix is copied
    width, height = width + width % 2, height + height % 2
    with atomic_path(output) as tmp, av.open(str(tmp), "w") as out, av.open(str(source.path)) as src:
        video = out.add_stream("libx265", rate=source.fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p10le"
        video.codec_context.options = {"crf": str(crf), "x265-params": params}
        video.codec_context.color_primaries, video.codec_context.color_trc = 9, 16     # BT.2020, SMPTE 2084
        video.codec_context.colorspace, video.codec_context.color_range = 9, 1         # BT.2020 NCL, limited
        if output.suffix.lower() != ".mkv":
            video.codec_tag = "hvc1"     # what Apple players need to play HEVC in MP4/MOV
        video.time_base = video.codec_context.time_base = source.time_base
        keep_video_tags(_video_stream(src, source.path), video, source.display_matrix)
        copier = StreamCopier(src, out)
        reformatter, last = VideoReformatter(), None
        for path, frame in zip(exr_paths, frames):
            signal = coded_orientation(pq_encode(hdr10_nits(read_exr(path), white)), source.rotation)
            pad = ((0, height - signal.shape[0]), (0, width - signal.shape[1]), (0, 0))
            rgb48 = np.round(np.pad(signal, pad, mode="edge") * 65535).astype(np.uint16)
            image = av.VideoFrame.from_ndarray(rgb48, format="rgb48le")
            image = reformatter.reformat(image, format="yuv420p10le", dst_colorspace=Colorspace.BT2020,
                                         dst_color_range=1, interpolation=_SCALING)
            pts = frame.index if frame.pts is None else round(frame.pts * frame.time_base / source.time_base)
            pts = pts if last is None or pts > last else last + 1
            image.pts, image.time_base, last = pts, source.time_base, pts
            for packet in video.encode(image):
                out.mux(packet)
            copier.copy_until(float(pts * source.time_base))
        for packet in video.encode(None):
            out.mux(packet)
        copier.finish()
    return output


# -- the pipeline -----------------------------------------------------------------------------------------

def hdr(video, hdr_keys_dir, output_dir, *, interval: int | None = None, blend: bool = True,
        gamma: float | None = None, weights: str | None = None, device: str = "cpu", batch_size: int = 4,
        hdr10=None, preview=None, mode: str = "offline", align: bool | None = None, blend_rule: str = "clipped",
        report=None, on_frame: Callable[[int], None] | None = None, model: torch.nn.Module | None = None,
        shots: bool = True) -> Path:
    """Scene-linear HDR frames ``output_dir/00000.exr ...`` from an LDR video and HDR keys named by frame index.

    ``gamma``: the LDR video's camera curve is x^(1/gamma) instead of HDRCNN's; ``blend=False``: the network's
    estimate alone; ``blend_rule``: "clipped" (the LDR wherever it did not clip) or "paper" (eq. 10).
    ``preview``: an SDR .mp4 (Reinhard); ``hdr10``: an HEVC PQ .mp4. ``report``: a directory for the per-frame
    confidence report (``vprop.engine.confidence.ConfidenceReport``). ``model``: an HDR model already loaded (a batch
    worker holds one for many videos); ``weights`` is then unused. ``shots``: find the hard cuts first; each shot
    takes radiance from its own keys only, and a shot without a key is an error. Returns ``output_dir``.
    """
    info = probe(video)
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise InputError(output_dir, "exists and is not a directory")
    if output_dir.is_dir() and any(output_dir.glob("*.exr")):
        raise InputError(output_dir, "already holds EXR files; choose an empty or new directory")
    for extra in (hdr10, preview):
        if extra is not None and Path(extra).resolve() == Path(video).resolve():
            raise InputError(extra, "output would overwrite the input video")
    if hdr10 is not None and "libx265" not in av.codecs_available:
        raise InputError(hdr10, "HDR10 needs libx265, which this PyAV's FFmpeg does not include")
    files = key_files(hdr_keys_dir, interval, info.frame_count, KEY_SUFFIXES)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # NaN and resize warnings are shown once, when the key is used
        for path in files.values():       # fail before any work on a bad key
            load_hdr_key(path, info.width, info.height)
    cuts = video_cuts(video, files) if shots else []
    confidence = ConfidenceReport(report, video=video, task="hdr", mode=mode) if report else None
    if model is None:
        model, _ = load_model("hdr", weights, device)
    aligned = model.cfg.extra.get("aligned", True) if align is None else align
    if model.cfg.guidance_channels != guidance_channels(aligned):
        raise InputError(weights or "hdr", f"model expects {model.cfg.guidance_channels} guidance channels; "
                                           f"{'aligned' if aligned else 'unaligned'} HDR inputs have "
                                           f"{guidance_channels(aligned)}")
    curve = curve_for(gamma)
    task = HDRTask(float(model.cfg.extra.get("log_mean", 0.0)))
    blender = Blender(curve, mode, rule=blend_rule)
    keys = _KeysAlongFrames(files, info.width, info.height, blender)
    settings = Settings(mode=mode, align=aligned, batch_size=batch_size, device=device)
    seen: list[VideoFrame] = []
    with atomic_path(output_dir, directory=True) as tmp:
        preview_writer = VideoWriter(preview, info) if preview is not None else None
        with (preview_writer if preview_writer else _Null()) as pw:
            for frame, estimate in Propagator(model, task, settings)(keys.frames(read_frames(video)), keys,
                                                                     on_confidence=confidence, cuts=cuts):
                out = blender(frame.index, frame.rgb, estimate) if blend else estimate
                if confidence:
                    confidence.picture(frame.index, lambda: tonemap_reinhard(out))
                write_exr(Path(tmp) / f"{frame.index:05d}.exr", out)
                if pw is not None:
                    pw.write(frame, tonemap_reinhard(out))
                seen.append(VideoFrame(frame.index, None, frame.pts, frame.time_base))
                if on_frame:
                    on_frame(frame.index)
            check_all_keys_used(files, [f.index for f in seen])
            if confidence:
                confidence.write()
        if hdr10 is not None:
            write_hdr10(hdr10, [Path(tmp) / f"{f.index:05d}.exr" for f in seen], seen, info)
    return output_dir


class _Null:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


# -- bracketed exposures -> HDR key ----------------------------------------------------------------------

BRACKET_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")


def _exif_exposure(path: Path) -> float | None:
    from PIL import Image

    try:
        with Image.open(path) as image:
            exif = image.getexif()
            value = exif.get_ifd(0x8769).get(33434) or exif.get(33434)
    except Exception:
        return None
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError, ZeroDivisionError):
        return None


def _parse_time(text: str) -> float:
    if "/" in text:
        a, b = text.split("/", 1)
        return float(a) / float(b)
    return float(text)


def bracket_times(directory) -> dict[Path, float]:
    """The exposure time of each bracket image: ``times.txt`` ("filename seconds" per line) or EXIF."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(directory, "no such directory")
    images = sorted(p for p in directory.iterdir()
                    if p.suffix.lower() in BRACKET_SUFFIXES and not p.name.startswith("."))
    if len(images) < 2:
        raise InputError(directory, "need at least two bracketed exposures (.png/.jpg/.tif)")
    sidecar = directory / "times.txt"
    given: dict[str, float] = {}
    if sidecar.is_file():
        for number, line in enumerate(sidecar.read_text().splitlines(), 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = re.split(r"\s+", line)
            try:
                if len(parts) != 2:
                    raise ValueError
                given[parts[0]] = _parse_time(parts[1])
            except (ValueError, ZeroDivisionError):
                raise InputError(sidecar, f"line {number}: expected 'filename seconds', got {line!r}") from None
    times = {}
    for path in images:
        t = given.get(path.name)
        if t is None:
            t = _exif_exposure(path)
        if t is None:
            raise InputError(path, "no exposure time (add a line to times.txt or keep the EXIF ExposureTime)")
        if not (np.isfinite(t) and t > 0):
            raise InputError(path, f"exposure time must be positive, got {t}")
        times[path] = float(t)
    if len(set(times.values())) < 2:
        raise InputError(directory, "all brackets have the same exposure time")
    return times


def merge_brackets(directory, samples: int = 70) -> np.ndarray:
    """Scene-linear RGB (H, W, 3) float32 from bracketed 8-bit exposures: Debevec calibration + merge."""
    times = bracket_times(directory)
    images, shape = [], None
    for path in times:
        rgb = read_rgb(path)
        if shape is not None and rgb.shape != shape:
            raise InputError(path, f"size {rgb.shape[1]}x{rgb.shape[0]} differs from the other brackets "
                                   f"({shape[1]}x{shape[0]})")
        shape = rgb.shape
        images.append(np.ascontiguousarray(rgb[..., ::-1]))   # OpenCV's order
    exposure = np.array(list(times.values()), np.float32)
    _warn_if_clipped_everywhere(directory, images, min(times.values()))
    response = cv2.createCalibrateDebevec(samples=samples).process(images, exposure)
    merged = cv2.createMergeDebevec().process(images, exposure, response)
    rgb = np.nan_to_num(np.asarray(merged, np.float32)[..., ::-1], nan=0.0, posinf=0.0, neginf=0.0)
    return np.ascontiguousarray(np.clip(rgb, 0, None))


def _warn_if_clipped_everywhere(directory, images: list[np.ndarray], shortest: float,
                                at_most: float = 0.001) -> None:
    """Where even the shortest exposure clipped, no bracket measured the radiance: the merge can only guess it."""
    clipped = np.logical_and.reduce([image.max(-1) >= SATURATED * 255 for image in images])
    share = float(clipped.mean())
    if share > at_most:
        seconds = f"1/{1 / shortest:.0f}" if shortest < 1 else f"{shortest:g}"
        warnings.warn(f"{Path(directory).name}: {share:.1%} of the pixels are clipped in every exposure, even the "
                      f"shortest ({seconds} s): their radiance is unknown and merged too dark; add a shorter exposure",
                      stacklevel=3)


def hdr_merge(directory, output) -> Path:
    """Merge the brackets in ``directory`` into ``output`` (.exr, half float)."""
    output = Path(output)
    if output.suffix.lower() != ".exr":
        raise InputError(output, "output must be an .exr file")
    rgb = merge_brackets(directory)
    write_exr(output, rgb)
    return output
