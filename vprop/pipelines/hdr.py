"""HDR video from an LDR video and a few HDR key-frames.

Outputs: a folder of half-float scene-linear EXR frames (always), an SDR preview (Reinhard tone mapping,
H.264, audio kept), an HDR10 file (HEVC 10-bit, BT.2020, SMPTE ST 2084 PQ, MaxCLL/MaxFALL) and an HLG one (HEVC
10-bit, BT.2020, ARIB STD-B67): ``vprop.io.hdr_video``.
Bracketed exposures are merged into an HDR key by ``vprop.io.brackets``.
"""
from __future__ import annotations

from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Callable

import torch

from vprop.engine.keys import LazyKeys, key_files
from vprop.engine.propagator import Propagator, Settings
from vprop.engine.working import propagate_at, propagation_short_side, shrink, working_size
from vprop.errors import UsageError
from vprop.io.chromaticities import BT709
from vprop.io.images import exr_chromaticities
from vprop.io.keyframes import HDR_KEY_SUFFIXES, load_hdr_key
from vprop.io.video import SourceFrames
from vprop.pipelines.run import Pipeline, RunOptions, run
from vprop.pipelines.sinks import RadianceSink
from vprop.tasks.hdr import BLEND_RULE, Blender, HDRTask, curve_for, guidance_channels


def hdr(video, hdr_keys_dir, output_dir, *, interval: int | None = None, blend: bool = True,
        gamma: float | None = None, weights: str | None = None, device: str = "cpu", batch_size: int = 4,
        hdr10=None, hlg=None, preview=None, mode: str = "offline", align: bool | None = None,
        blend_rule: str = BLEND_RULE, report=None, on_frame: Callable[[int], None] | None = None,
        on_begin: Callable[[], None] | None = None, model: torch.nn.Module | None = None,
        shots: bool = True, resume: bool = False, workers: int | None = 1, full_resolution: bool = False,
        working_side: int | None = None) -> Path:
    """Scene-linear HDR frames ``output_dir/00000.exr ...`` from an LDR video and HDR keys named by frame index.

    ``gamma``: the LDR video's camera curve is x^(1/gamma) instead of HDRCNN's; ``blend=False``: the network's
    estimate alone; ``blend_rule``: one of ``BLEND_RULES`` (``vprop.tasks.hdr.blend``).
    ``preview``: an SDR .mp4 (Reinhard); ``hdr10``: an HEVC PQ .mp4; ``hlg``: an HEVC HLG .mp4. ``report``: a
    directory for the per-frame confidence report (``vprop.engine.confidence.ConfidenceReport``). ``model``: an HDR model already loaded (a
    batch worker holds one for many videos); ``weights`` is then unused. ``shots``: find the hard cuts first; each
    shot takes radiance from its own keys only, and a shot without a key is an error. ``resume``: keep finished key
    segments in ``<output_dir>.vprop-resume/`` so that a killed run started again continues; ``workers``: processes
    at once. ``full_resolution``: propagate at the video's own size; by default frames larger than the model's
    training size (or ``working_side``, a short side) are propagated at that size, the log radiance up-sampled, the keys' fine detail carried
    along the alignment and the blending done on each full-size frame (``vprop.engine.working``). Returns
    ``output_dir``.
    """
    pipeline = hdr_pipeline(keys_dir=str(hdr_keys_dir), output_dir=str(output_dir), interval=interval, blend=blend,
                            gamma=gamma, weights=weights, mode=mode, blend_rule=blend_rule,
                            preview=preview and str(preview), hdr10=hdr10 and str(hdr10), hlg=hlg and str(hlg),
                            full_resolution=full_resolution, working_side=working_side)
    return run(video, pipeline, RunOptions(mode=mode, align=align, weights=weights, device=device,
                                           batch_size=batch_size, report=report, on_frame=on_frame, on_begin=on_begin, model=model,
                                           shots=shots, resume=resume, workers=workers)).path


def hdr_pipeline(*, keys_dir: str, output_dir: str, interval: int | None, blend: bool, gamma: float | None,
                 weights: str | None, mode: str, blend_rule: str, preview: str | None, hdr10: str | None,
                 hlg: str | None = None, full_resolution: bool = False,
                 working_side: int | None = None) -> Pipeline:
    def find_keys(info):
        return key_files(keys_dir, interval, info.frame_count, HDR_KEY_SUFFIXES, info.path)

    def propagation(model, settings, info):
        if model.cfg.guidance_channels != guidance_channels(settings.align):   # only an --align against the weights
            raise UsageError("--align" if settings.align else "--no-align",
                             f"{weights or 'the HDR model'} expects {model.cfg.guidance_channels} guidance channels; "
                             f"{'aligned' if settings.align else 'unaligned'} HDR inputs have "
                             f"{guidance_channels(settings.align)}")
        size = working_size(info.width, info.height, propagation_short_side(model, working_side, full_resolution))

        def propagate(frames, files, cuts, on_confidence):
            blender = Blender(curve_for(gamma), mode, rule=blend_rule)
            keys = LazyKeys(files, lambda path: _load_key(path, info))
            deep = DeepLDR(info.path) if blend and info.deep else None
            try:
                yield from propagate_hdr(model, settings, frames, keys, size, blender if blend else None,
                                         on_confidence, cuts, log_mean=float(model.cfg.extra.get("log_mean", 0.0)),
                                         deep=deep)
            finally:
                if deep is not None:
                    deep.close()
        return propagate

    recipe = partial(hdr_pipeline, keys_dir=keys_dir, output_dir=output_dir, interval=interval, blend=blend,
                     gamma=gamma, weights=weights, mode=mode, blend_rule=blend_rule, preview=preview, hdr10=hdr10,
                     hlg=hlg, full_resolution=full_resolution, working_side=working_side)
    # Chains mended by a flow straight to the key: log-RMSE -8% offline at K=40 on the dev clips (README).
    def open_sink(info, files):
        # The output answers in the keys' primaries, as it does in their units: the first key's
        primaries = exr_chromaticities(files[min(files)]) if files else None
        return RadianceSink(output_dir, info, preview, hdr10, hlg, primaries or BT709)
    return Pipeline("hdr", find_keys, _load_key, open_sink, propagation, recipe, repair_chains=True)


class DeepLDR:
    """A source deeper than 8 bits, read again at its depth for the blending (the network sees 8 bits): its keys'
    frames and the others apart, each read forward (offline, a key comes before the frames ahead of it)."""

    def __init__(self, path):
        self.keys, self.frames = SourceFrames(path), SourceFrames(path)

    def close(self) -> None:
        self.keys.close()
        self.frames.close()


def propagate_hdr(model: torch.nn.Module, settings: Settings, frames, keys, size: tuple[int, int] | None = None,
                  blender: Blender | None = None, on_confidence=None, cuts=(), detail: bool = True,
                  log_mean: float = 0.0, deep: DeepLDR | None = None):
    """(frame, scene-linear radiance) of every frame, propagated from ``keys`` (frame index -> the key's radiance
    at the frames' size) and, with a ``blender``, blended with the frame's own LDR (the blender is handed each
    key as the loop builds it). ``size``: the working size (width, height) to propagate at
    (``vprop.engine.working``; with ``detail``, the keys' fine detail carried to the frames), or None for the
    frames' own size. The blending is always at the frames' own size. ``log_mean``: the model's (its config's
    ``extra``), which it subtracts from the log radiance it sees. ``deep``: the blending reads the LDR there, at
    the source's depth (``vprop.tasks.hdr.ldr_codes``)."""
    task = HDRTask(log_mean)
    on_key = blender.add_key if blender is not None else None
    if on_key is not None and deep is not None:
        on_key = lambda index, key: blender.add_key(index, replace(key, ldr=deep.keys(index)))  # noqa: E731
    if size is None:
        run = Propagator(model, task, settings)(frames, keys, on_confidence, cuts=cuts, on_key=on_key)
    else:
        run = propagate_at(size, model, task, settings, frames, keys, shrink, on_confidence, cuts, on_key=on_key,
                           detail=detail)
    for frame, estimate in run:
        if blender is None:
            yield frame, estimate
            continue
        yield frame, blender(frame.index, frame.rgb if deep is None else deep.frames(frame.index), estimate)


def _load_key(path, info):
    return load_hdr_key(path, info.width, info.height)
