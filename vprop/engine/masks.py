"""The frame loop for object masks: label-map keys, the working size, and the chained (previous-prediction)
protocol beside ``Propagator``'s paper protocol. Everything a call needs comes in as arguments."""
from __future__ import annotations

from bisect import bisect_right
from itertools import groupby, tee
from typing import Callable, Iterable, Iterator, Mapping, Sequence

import cv2
import numpy as np
import torch

from vprop.engine.confidence import FrameConfidence, region_trust, step_trust, trust_map
from vprop.engine.flow import ChainedWarp, FlowEstimator
from vprop.engine.propagator import Propagator, Settings
from vprop.engine.working import shrink_frames, working_size
from vprop.errors import UsageError
from vprop.io.video import VideoFrame
from vprop.models.seg import key_inputs, wrap_model
from vprop.tasks.seg import SegKey, SegTask, object_ids


def propagate_masks(model: torch.nn.Module, frames: Iterable[VideoFrame], masks: dict[int, np.ndarray],
                    settings: Settings, chain: bool = False, ids: tuple[int, ...] | None = None,
                    refiner: torch.nn.Module | None = None, working_short_side: int | None = None,
                    on_confidence: Callable[[FrameConfidence], None] | None = None, cuts: Sequence[int] = (),
                    grabcut: bool = False) -> Iterator[tuple[VideoFrame, np.ndarray]]:
    """(frame, label map) for every frame, from label-map keys ``masks`` (frame index -> (H, W) uint8).

    ``working_short_side``: larger frames are segmented at this short side (the size the models were trained
    at: the alignment cues are in pixels) and the probabilities up-sampled to the frame's size; keys keep
    their exact masks.

    ``chain=False``: the paper's protocol, every frame from its key through ``Propagator``.
    ``chain=True``: every frame also from the previous frame's own prediction, blended with the key's by the
    confidence of each alignment (online only). ``refiner``: the SEG(t+s) spatial network. ``grabcut``: every
    propagated mask snapped to its frame by a graph cut (``vprop.models.seg.GrabCut``).
    ``on_confidence``: called with every frame's confidence (see ``Propagator``), at the working size.
    ``cuts``: frames that start a new shot; no mask crosses a cut (``Propagator``; ``chain``: run shot by shot).
    """
    if chain and settings.mode == "offline":     # as the CLI: the chained protocol has no backward pass
        raise UsageError("--chain", "works online only (drop --mode offline)")
    net = wrap_model(model, refiner, grabcut)
    if on_confidence is None:
        yield from _masks(net, frames, masks, settings, chain, ids, working_short_side, None, cuts)
        return
    # A frame's confidence comes just before its labels: held until they come, to add the trust around its objects.
    held: list[FrameConfidence] = []
    for frame, labels in _masks(net, frames, masks, settings, chain, ids, working_short_side, held.append, cuts):
        objects = labels > 0
        area = float(np.count_nonzero(objects)) / objects.size
        for confidence in held:     # a key, a keyless frame or one whose objects are lost: its own confidence
            around = None if confidence.trust is None else region_trust(confidence.trust, objects)
            confidence.object = confidence.confidence if around is None else around
            confidence.area = area
            on_confidence(confidence)
        held.clear()
        yield frame, labels


def _masks(net, frames, masks, settings, chain, ids, working_short_side, on_confidence, cuts):
    """``propagate_masks`` itself, with the model wrapped (``wrap_model``); confidences go to ``on_confidence`` as
    the frame loop reports them."""
    ids = object_ids(*masks.values()) if ids is None else tuple(ids)
    height, width = next(iter(masks.values())).shape if masks else (0, 0)
    size = working_size(width, height, working_short_side)
    if size is None:
        yield from _propagate(net, SegTask(ids, *key_inputs(net)), frames, masks, settings, chain, on_confidence,
                              cuts)
        return
    # Segment small, answer at the frame's own size: the outputs come in decode order, so each pairs with its
    # original frame from a second view of the stream (tee holds only the frames the loop holds).
    task = SegTask(ids, *key_inputs(net), out_size=(width, height))
    small = {i: cv2.resize(m, size, interpolation=cv2.INTER_NEAREST) for i, m in masks.items()}
    originals, frames = tee(frames)
    shrunk = shrink_frames(frames, size)
    for original, (frame, labels) in zip(originals, _propagate(net, task, shrunk, small, settings, chain,
                                                               on_confidence, cuts)):
        assert original.index == frame.index, "outputs out of decode order"
        yield original, masks.get(frame.index, labels)      # keys stay exact


def _propagate(net, task: SegTask, frames: Iterable[VideoFrame], masks: Mapping[int, np.ndarray], settings: Settings,
               chain: bool, on_confidence, cuts: Sequence[int]):
    """(frame, labels) at the frames' own size: the paper's protocol, or the chained one shot by shot."""
    if not chain:
        return Propagator(net, task, settings)(frames, masks, on_confidence, cuts=cuts)
    keyed = {bisect_right(cuts, k) for k in masks}
    return (out for number, shot in groupby(frames, key=lambda f: bisect_right(cuts, f.index))
            for out in (_chained(net, task, shot, masks, settings, on_confidence) if number in keyed
                        else _keyless_shot(task, shot, settings, on_confidence)))


def _keyless_shot(task: SegTask, frames: Iterable[VideoFrame], s: Settings, on_confidence=None):
    """A shot without a mask key: all background when allowed (the caller named the shot beforehand)."""
    if not s.allow_missing:
        raise ValueError("a shot without a mask key-frame")
    for frame in frames:
        rgb = task.prepare(frame.rgb)
        if on_confidence is not None:
            on_confidence(FrameConfidence(frame.index, 0.0))
        yield frame, task.finish(rgb, task.empty(rgb))


def _chained(model, task: SegTask, frames, masks: Mapping[int, np.ndarray], s: Settings, on_confidence=None):
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
        if frame.index in masks:
            if before:   # the plain loop handles the frames before the first key (backward from it)
                yield from ((f, out) for f, out in runner(iter(before + [frame]), {frame.index: masks[frame.index]},
                                                          lambda c: c.index != frame.index and sink(c))
                            if f.index != frame.index)
                before = []
            if on_confidence is not None:
                flows = (flow(gray, prev_gray), flow(prev_gray, gray)) if s.align and prev_gray is not None else ()
                sink(FrameConfidence.at_key(frame.index, step_trust(prev_gray, gray, *flows)
                                            if prev_gray is not None else 1.0))
            key, key_gray, key_index = task.key(rgb, masks[frame.index]), gray, frame.index
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
        (from_key, from_prev_pred) = runner.infer([task.inputs(rgb, key, chain), task.inputs(rgb, prev, step)])
        w_key = runner.blend_weight(chain, gray.shape)
        w_prev = runner.blend_weight(step, gray.shape)
        probs = (from_key * w_key + from_prev_pred * w_prev) / (w_key + w_prev)
        if on_confidence is not None:
            trust = trust_map(chain, key_gray, gray, frame.index - key_index)
            value = float(trust.mean())
            sink(FrameConfidence(frame.index, value, float(trust_map(step, prev_gray, gray, 1).mean()), key_index,
                                 None, value, None, trust))
        prev, prev_gray = SegKey(rgb, np.ascontiguousarray(np.clip(probs, 0, 1), dtype=np.float32)), gray
        yield frame, task.finish(rgb, probs)
    if before:
        raise UsageError("--mask", "no mask key-frame within the video")
