"""Segment: object masks propagated from one or more mask key-frames through a video (paper Sec. 5.4)."""
from __future__ import annotations

import os
import warnings
from bisect import bisect_right
from contextlib import ExitStack
from collections.abc import Mapping, Sequence
from itertools import groupby
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import cv2
import numpy as np
import torch

from vprop.engine.confidence import ConfidenceReport, FrameConfidence, step_trust, trust_map
from vprop.errors import InputError
from vprop.engine.flow import ChainedWarp, FlowEstimator
from vprop.io.atomic import atomic_path
from vprop.io.images import DAVIS_PALETTE, fit_to_size, read_mask, write_indexed_png
from vprop.io.video import VideoFrame, VideoWriter, probe, read_frames
from vprop.engine.keys import check_all_keys_used
from vprop.models.hub import load_model
from vprop.engine.propagator import Propagator, Settings
from vprop.engine.shots import video_cuts
from vprop.tasks import seg
from vprop.tasks.seg import PerObject, SegKey


@dataclass
class SegTask:
    """Frames are seen as float RGB; a key is a SegKey (its frame's RGB and its objects' masks).

    ``ids``: the object indices of the whole video, in channel order (the same for every key, so that the
    propagations from two keys can be blended; a key without some object has an empty channel for it).
    """

    ids: tuple[int, ...]
    unaligned_key: bool = False     # the model's key inputs: see ``seg.model_inputs``
    appearance: bool = False
    out_size: tuple[int, int] | None = None     # (width, height) of the output when frames were shrunk

    def prepare(self, rgb: np.ndarray) -> np.ndarray:
        return rgb.astype(np.float32) / 255.0

    def gray(self, rgb: np.ndarray) -> np.ndarray:
        return cv2.cvtColor((rgb * 255.0 + 0.5).astype(np.uint8), cv2.COLOR_RGB2GRAY)

    def make_key(self, prepared: np.ndarray, labels: np.ndarray) -> SegKey:
        return SegKey(prepared, seg.one_hot(labels, self.ids))

    def inputs(self, rgb: np.ndarray, key: SegKey, chain: ChainedWarp | None):
        return seg.model_inputs(rgb, key, chain, self.unaligned_key, self.appearance)

    def key_output(self, rgb: np.ndarray, key: SegKey) -> np.ndarray:
        return key.masks

    def empty(self, rgb: np.ndarray) -> np.ndarray:
        return np.zeros((len(self.ids), *rgb.shape[:2]), np.float32)     # no object: all background

    def finish(self, rgb: np.ndarray, probs: np.ndarray) -> np.ndarray:
        if self.out_size is not None and len(probs) and probs.shape[-2:] != self.out_size[::-1]:
            probs = np.stack([cv2.resize(p, self.out_size, interpolation=cv2.INTER_LINEAR) for p in probs])
        return seg.to_labels(probs, self.ids)


class FrameKeys(Mapping):
    """Mask keys whose RGB is the video's own frame: ``tap`` records a key frame as it streams past,
    before the frame loop asks for its key."""

    def __init__(self, labels: dict[int, np.ndarray], task: SegTask):
        self.labels, self.task = labels, task
        self._rgb: dict[int, np.ndarray] = {}
        self._cache: tuple[int, SegKey] | None = None

    def tap(self, frames: Iterable[VideoFrame]) -> Iterator[VideoFrame]:
        for frame in frames:
            if frame.index in self.labels:
                self._rgb[frame.index] = frame.rgb
            yield frame

    def __getitem__(self, index: int) -> SegKey:
        if self._cache is None or self._cache[0] != index:
            if index not in self._rgb:
                raise KeyError(index)
            self._cache = (index, self.task.make_key(self.task.prepare(self._rgb.pop(index)), self.labels[index]))
        return self._cache[1]

    def __iter__(self):
        return iter(self.labels)

    def __len__(self) -> int:
        return len(self.labels)

    def __contains__(self, index) -> bool:
        return index in self.labels


def load_mask(path, width: int, height: int) -> np.ndarray:
    """A key mask as an (H, W) label map of the video's size; one-line InputErrors for unusable files."""
    labels = read_mask(path)            # not an image, index above 254
    labels = fit_to_size(labels, width, height, path)   # other aspect: error; same aspect: nearest resize
    if not labels.any():
        warnings.warn(f"{Path(path).name}: mask has no object (all background); its frames get empty masks",
                      stacklevel=2)
    return labels


def parse_mask_option(text: str) -> tuple[int, Path]:
    """``FILE`` (frame 0) or ``IDX:FILE``. A Windows drive letter (``C:\\m.png``) is not an index."""
    head, sep, tail = text.partition(":")
    if sep and head.strip().isdigit():
        return int(head), Path(tail)
    return 0, Path(text)


def wrap_model(model: torch.nn.Module, refiner: torch.nn.Module | None = None) -> torch.nn.Module:
    """SEG(t) over every object channel; with a ``refiner``, SEG(t+s). Already wrapped models pass as they are."""
    if isinstance(model, (PerObject, seg.Refined)):
        return model
    cfg = getattr(model, "cfg", None)
    if cfg is not None and cfg.property_channels != 1:
        raise InputError(cfg.task, f"a segmentation model propagates one object at a time "
                                   f"(property_channels=1), these weights have {cfg.property_channels}")
    net = PerObject(model)
    return seg.Refined(net, refiner) if refiner is not None else net


def propagate_masks(model: torch.nn.Module, frames: Iterable[VideoFrame], masks: dict[int, np.ndarray],
                    settings: Settings, chain: bool = False, ids: tuple[int, ...] | None = None,
                    refiner: torch.nn.Module | None = None, working_short_side: int | None = None,
                    on_confidence: Callable[[FrameConfidence], None] | None = None, cuts: Sequence[int] = ()
                    ) -> Iterator[tuple[VideoFrame, np.ndarray]]:
    """(frame, label map) for every frame, from label-map keys ``masks`` (frame index -> (H, W) uint8).

    ``working_short_side``: larger frames are segmented at this short side (the size the models were trained
    at: the alignment cues are in pixels) and the probabilities up-sampled to the frame's size; keys keep
    their exact masks.

    ``chain=False``: the paper's protocol, every frame from its key through ``Propagator``.
    ``chain=True``: every frame also from the previous frame's own prediction, blended with the key's by the
    confidence of each alignment (online only). ``refiner``: the SEG(t+s) spatial network.
    ``on_confidence``: called with every frame's confidence (see ``Propagator``), at the working size.
    ``cuts``: frames that start a new shot; no mask crosses a cut (``Propagator``; ``chain``: run shot by shot).
    """
    net = wrap_model(model, refiner)
    ids = seg.object_ids(*masks.values()) if ids is None else tuple(ids)
    task = SegTask(ids, *seg.key_inputs(net))
    height, width = next(iter(masks.values())).shape if masks else (0, 0)
    scale = (working_short_side or 0) / max(1, min(height, width))
    shrunk = 0 < scale < 1          # segment small, answer at the frame's own size
    exact, originals = masks, {}
    if shrunk:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        task.out_size = (width, height)
        masks = {i: cv2.resize(m, size, interpolation=cv2.INTER_NEAREST) for i, m in masks.items()}
        frames = _shrunk(frames, size, originals)
    keys = FrameKeys(masks, task)
    if chain:    # the previous-prediction loop, shot by shot
        keyed = {bisect_right(cuts, k) for k in keys}
        results = (out for number, shot in groupby(keys.tap(frames), key=lambda f: bisect_right(cuts, f.index))
                   for out in (_chained(net, task, shot, keys, settings, on_confidence) if number in keyed
                               else _keyless_shot(task, shot, settings, on_confidence)))
    else:
        results = Propagator(net, task, settings)(keys.tap(frames), keys, on_confidence, cuts=cuts)
    for frame, labels in results:
        if shrunk:
            frame = originals.pop(frame.index)
            labels = exact.get(frame.index, labels)      # keys stay exact
        yield frame, labels


def _shrunk(frames: Iterable[VideoFrame], size: tuple[int, int], originals: dict[int, VideoFrame]):
    """The frames at ``size`` (width, height); each original is kept in ``originals`` until its answer is out."""
    for frame in frames:
        originals[frame.index] = frame
        yield VideoFrame(frame.index, cv2.resize(frame.rgb, size, interpolation=cv2.INTER_AREA), frame.pts,
                         frame.time_base)


def _keyless_shot(task: SegTask, frames: Iterable[VideoFrame], s: Settings, on_confidence=None):
    """A shot without a mask key: all background when allowed (the caller named the shot beforehand)."""
    if not s.allow_missing:
        raise ValueError("a shot without a mask key-frame")
    for frame in frames:
        rgb = task.prepare(frame.rgb)
        if on_confidence is not None:
            on_confidence(FrameConfidence(frame.index, 0.0))
        yield frame, task.finish(rgb, task.empty(rgb))


def _chained(model, task: SegTask, frames, keys: FrameKeys, s: Settings, on_confidence=None):
    """Previous-prediction protocol: each frame from its key (long chain) and from the previous frame's
    prediction (one flow step); the two are combined by their alignment confidences. A frame's reported
    confidence is its key chain's: the previous predictions carry whatever that chain lost."""
    flow = FlowEstimator()
    sink = on_confidence or (lambda _: None)
    key = chain = prev = key_gray = key_index = None     # prev: SegKey of the previous frame's own prediction
    prev_gray, before = None, []     # frames before the first key: propagated backward from it afterwards
    runner = Propagator(model, task, Settings(mode="online", align=s.align, batch_size=s.batch_size,
                                              device=s.device))
    for frame in frames:
        rgb = task.prepare(frame.rgb)
        gray = task.gray(rgb)
        if frame.index in keys:
            if before:   # the plain loop handles the frames before the first key (backward from it)
                yield from ((f, out) for f, out in runner(iter(before + [frame]), {frame.index: keys[frame.index]},
                                                          lambda c: c.index != frame.index and sink(c))
                            if f.index != frame.index)
                before = []
            if on_confidence is not None:
                flows = (flow(gray, prev_gray), flow(prev_gray, gray)) if s.align and prev_gray is not None else ()
                sink(FrameConfidence.at_key(frame.index, step_trust(prev_gray, gray, *flows)
                                            if prev_gray is not None else 1.0))
            key, key_gray, key_index = keys[frame.index], gray, frame.index
            chain = ChainedWarp.identity(*gray.shape) if s.align else None
            prev, prev_gray = key, gray
            yield frame, task.finish(rgb, key.masks)
            continue
        if key is None:
            before.append(frame)
            continue
        step = None
        if s.align:
            to_prev, from_prev = flow(gray, prev_gray), flow(prev_gray, gray)
            chain = chain.step(to_prev, from_prev)
            step = ChainedWarp.identity(*gray.shape).step(to_prev, from_prev)
        (from_key, from_prev_pred) = runner._infer([task.inputs(rgb, key, chain), task.inputs(rgb, prev, step)])
        w_key = runner._confidence(chain, gray.shape)
        w_prev = runner._confidence(step, gray.shape)
        probs = (from_key * w_key + from_prev_pred * w_prev) / (w_key + w_prev)
        if on_confidence is not None:
            trust = trust_map(chain, key_gray, gray, frame.index - key_index)
            value = float(trust.mean())
            sink(FrameConfidence(frame.index, value, float(trust_map(step, prev_gray, gray, 1).mean()), key_index,
                                 None, value, None, trust))
        prev, prev_gray = SegKey(rgb, np.ascontiguousarray(np.clip(probs, 0, 1), dtype=np.float32)), gray
        yield frame, task.finish(rgb, probs)
    if before:
        raise InputError("masks", "no mask key-frame within the video")


def segment(video, masks: dict[int, Path], output_dir, *, mode: str = "online", weights: str | None = None,
            device: str = "cpu", batch_size: int = 4, overlay=None, chain: bool = False, align: bool | None = None,
            refine: bool = False, refine_weights: str | None = None, alpha=None, full_resolution: bool = False,
            report=None, on_frame: Callable[[int], None] | None = None, model: torch.nn.Module | None = None,
            refiner: torch.nn.Module | None = None, shots: bool = True, allow_missing: bool = False) -> Path:
    """Write one DAVIS-palette PNG per frame (``OUTDIR/00000.png`` ...) with the objects of the mask keys.

    ``masks``: frame index -> mask file (palette, grayscale-index, binary or DAVIS-colour PNG); each frame
    takes its nearest preceding key (online) or both surrounding keys (offline). ``overlay``: also write a
    video of the frames with the masks blended in (audio kept). ``refine``: SEG(t+s), the coarse masks refined
    by the spatial network (``refine_weights``, default the shipped one). ``alpha``: also write the frames with
    the objects as an alpha matte (ProRes 4444 .mov or a directory of RGBA PNGs). Frames larger than the
    model's training size are segmented at that size unless ``full_resolution``. ``report``: a directory for
    the per-frame confidence report (``vprop.engine.confidence.ConfidenceReport``). ``model``/``refiner``: already
    loaded (a batch worker holds them for many videos); ``weights``/``refine_weights`` are then unused.
    ``shots``: find the hard cuts first; each shot takes masks from its own keys only, and a shot without one is an
    error, or with ``allow_missing`` all background. Returns the output directory.
    """
    if not masks:
        raise InputError("--mask", "give at least one mask key-frame")
    if chain and mode == "offline":
        raise InputError("--chain", "works online only (drop --mode offline)")
    info = probe(video)
    labels: dict[int, np.ndarray] = {}
    for index, path in sorted(masks.items()):
        if index < 0:
            raise InputError(path, "negative frame index")
        if info.frame_count is not None and index >= info.frame_count:
            raise InputError(path, f"key index {index} is beyond the video's end "
                                   f"({info.frame_count} frames, last index {info.frame_count - 1})")
        labels[index] = load_mask(path, info.width, info.height)
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise InputError(output_dir, "exists and is not a directory")
    if output_dir.is_dir() and any(output_dir.glob("[0-9]*.png")):
        raise InputError(output_dir, "already holds PNG files; choose an empty or new directory")
    try:
        output_dir.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(output_dir.parent, f"cannot create output directory ({error.strerror})") from None
    if not os.access(output_dir.parent, os.W_OK | os.X_OK):
        raise InputError(output_dir.parent, "output directory is not writable")
    cuts = video_cuts(video, masks, allow_missing) if shots else []
    confidence = ConfidenceReport(report, video=video, task="seg", mode=mode) if report else None
    if model is None:
        model, _ = load_model("seg", weights, device)
    if refiner is None and (refine or refine_weights):
        refiner, _ = load_model("seg-refine", refine_weights, device)
    settings = Settings(mode=mode, align=model.cfg.extra.get("aligned", True) if align is None else align,
                        batch_size=batch_size, device=device, allow_missing=allow_missing)
    seen = set()
    # Opened before any work, so a bad --overlay/--alpha path fails at once; each only appears when complete.
    writers = [VideoWriter(overlay, info) if overlay else None,
               VideoWriter(alpha, info, alpha=True) if alpha else None]
    with atomic_path(output_dir, directory=True) as tmp, ExitStack() as stack:
        overlay_out, alpha_out = (stack.enter_context(w) if w else None for w in writers)
        working = None if full_resolution else seg.working_short_side(model)
        for frame, out in propagate_masks(model, read_frames(video), labels, settings, chain=chain,
                                          refiner=refiner, working_short_side=working, on_confidence=confidence,
                                          cuts=cuts):
            write_indexed_png(Path(tmp) / f"{frame.index:05d}.png", out)
            if confidence:
                confidence.picture(frame.index, lambda: seg.overlay(frame.rgb, out, DAVIS_PALETTE))
            if overlay_out:
                overlay_out.write(frame, seg.overlay(frame.rgb, out, DAVIS_PALETTE))
            if alpha_out:
                alpha_out.write(frame, np.dstack([frame.rgb, np.where(out > 0, 255, 0).astype(np.uint8)]))
            seen.add(frame.index)
            if on_frame:
                on_frame(frame.index)
        check_all_keys_used(masks, seen)
        if confidence:
            confidence.write()
    return output_dir
