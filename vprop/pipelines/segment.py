"""Segment: object masks propagated from one or more mask key-frames through a video (paper Sec. 5.4)."""
from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Callable

import torch

from vprop.engine.keys import check_key_indices
from vprop.engine.masks import propagate_masks
from vprop.errors import UsageError
from vprop.io.keyframes import load_mask
from vprop.models.hub import load_model
from vprop.engine.working import propagation_short_side
from vprop.pipelines.run import Pipeline, RunOptions, run
from vprop.pipelines.sinks import LabelSink


def segment(video, masks: dict[int, Path], output_dir, *, mode: str | None = None, weights: str | None = None,
            device: str = "cpu", batch_size: int = 4, overlay=None, chain: bool = False, align: bool | None = None,
            refine: bool = False, refine_weights: str | None = None, alpha=None, full_resolution: bool = False,
            working_side: int | None = None, report=None, on_frame: Callable[[int], None] | None = None,
            on_begin: Callable[[], None] | None = None, model: torch.nn.Module | None = None,
            refiner: torch.nn.Module | None = None, shots: bool = True, allow_missing: bool = False,
            resume: bool = False, workers: int | None = 1, adapt: int = 0, grabcut: bool = True,
            memory: bool = True) -> Path:
    """Write one DAVIS-palette PNG per frame (``OUTDIR/00000.png`` ...) with the objects of the mask keys.

    ``masks``: frame index -> mask file (palette, grayscale-index, binary or DAVIS-colour PNG); each frame
    takes its nearest preceding key (online) or both surrounding keys (offline); ``mode`` None: ``default_mode``.
    ``overlay``: also write a video of the frames with the masks blended in (audio kept). ``refine``: SEG(t+s), the
    coarse masks refined by the spatial network (``refine_weights``, default the shipped one). ``alpha``: also write
    the frames with the objects as an alpha matte (ProRes 4444 .mov or a directory of RGBA PNGs). Frames larger than
    the model's training size (or ``working_side``, a short side) are segmented at that size unless
    ``full_resolution``. ``report``: a directory for the per-frame confidence report
    (``vprop.engine.confidence.ConfidenceReport``). ``model``/``refiner``: already loaded (a batch worker holds them
    for many videos); ``weights``/``refine_weights`` are then unused.
    ``shots``: find the hard cuts first; each shot takes masks from its own keys only, and a shot without one is an
    error, or with ``allow_missing`` all background. ``chain``: the previous-prediction protocol (online only).
    ``resume``: keep finished key segments in ``<output_dir>.vprop-resume/`` so that a killed run started again
    continues; ``workers``: processes at once. ``adapt``: first fine-tune a copy of the model for this many steps on
    the first mask key (``vprop.training.adapt``; its cost is logged); 0: the model as it is. ``grabcut``: snap every
    propagated mask to its frame by a graph cut (``vprop.models.seg.GrabCut``); ``memory``: SEG(t)'s cut also hears
    the frame before (offline, after a shot's last key only: ``vprop.engine.masks``). Returns the output directory.
    """
    if not masks:
        raise UsageError("--mask", "give at least one mask key-frame")
    mode = mode or default_mode(len(masks), chain)
    if chain and mode == "offline":
        raise UsageError("--chain", "works online only (drop --mode offline)")
    if adapt < 0:
        raise UsageError("--adapt", f"steps must be 0 or more, not {adapt}")
    pipeline = seg_pipeline(masks={int(i): str(p) for i, p in masks.items()}, output_dir=str(output_dir),
                            overlay=overlay and str(overlay), alpha=alpha and str(alpha), chain=chain,
                            refine=refine, refine_weights=refine_weights, full_resolution=full_resolution,
                            working_side=working_side, device=device, refiner=refiner, adapt=adapt, grabcut=grabcut,
                            memory=memory)
    return run(video, pipeline, RunOptions(mode=mode, align=align, weights=weights, device=device,
                                           batch_size=batch_size, report=report, on_frame=on_frame,
                                           on_begin=on_begin, model=model, shots=shots,
                                           allow_missing=allow_missing, resume=resume, workers=workers)).path


def seg_pipeline(*, masks: dict[int, str], output_dir: str, overlay: str | None, alpha: str | None, chain: bool,
                 refine: bool, refine_weights: str | None, full_resolution: bool, device: str,
                 refiner: torch.nn.Module | None, adapt: int = 0, grabcut: bool = True,
                 memory: bool = True, working_side: int | None = None) -> Pipeline:
    def propagation(model, settings, info):
        net_refiner = refiner
        if net_refiner is None and (refine or refine_weights):
            net_refiner, _ = load_model("seg-refine", refine_weights, device)
        working = propagation_short_side(model, working_side, full_resolution)

        def propagate(frames, files, cuts, on_confidence):
            labels = {index: _load_key(path, info) for index, path in sorted(files.items())}
            return propagate_masks(model, frames, labels, settings, chain=chain, refiner=net_refiner,
                                   working_short_side=working, on_confidence=on_confidence, cuts=cuts, grabcut=grabcut,
                                   memory=memory)
        return propagate

    recipe = partial(seg_pipeline, masks=masks, output_dir=output_dir, overlay=overlay, alpha=alpha, chain=chain,
                     refine=refine, refine_weights=refine_weights, full_resolution=full_resolution,
                     working_side=working_side, device=device,
                     refiner=refiner, adapt=adapt, grabcut=grabcut, memory=memory)
    return Pipeline("seg", lambda info: check_key_indices({i: Path(p) for i, p in masks.items()}, info.frame_count),
                    _load_key, lambda info, _: LabelSink(output_dir, info, overlay, alpha), propagation, recipe,
                    partial(_adapt, steps=adapt, working_side=working_side, full_resolution=full_resolution)
                    if adapt else None)


def _load_key(path, info):
    return load_mask(path, info.width, info.height)


def _adapt(model, rgb, labels, steps: int, working_side: int | None, full_resolution: bool):
    from vprop.training.adapt import adapt_to_key     # training code, imported only by runs that adapt
    return adapt_to_key(model, rgb, labels, steps, working_side, full_resolution)


def default_mode(keys: int, chain: bool = False) -> str:
    """Offline with two or more key masks, online with one or with ``chain``: with keys every 20 or 40 frames
    offline scored the higher mean J and F on the DAVIS videos (README, "Masks")."""
    return "offline" if keys > 1 and not chain else "online"
