"""The frame loop for object masks: label-map keys, the working size, and the chained (previous-prediction)
protocol beside ``Propagator``'s paper protocol. Everything a call needs comes in as arguments."""
from __future__ import annotations

from bisect import bisect_right
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from itertools import groupby, islice, tee
from typing import Callable, Iterable, Iterator, Mapping, Sequence

import cv2
import numpy as np
import torch

from vprop.engine.confidence import FrameConfidence, region_trust, step_trust, trust_map
from vprop.engine.flow import ChainedWarp, FlowEstimator
from vprop.engine.propagator import Propagator, Settings, Side
from vprop.engine.working import PropertyOnly, shrink_frames, working_size
from vprop.errors import UsageError
from vprop.io.video import VideoFrame
from vprop.models.seg import (MEMORY_FLOW_TRUST, GrabCut, cut_probabilities, grabcut_snap, key_colour_models, key_inputs,
                              rgb_uint8, wrap_model)
from vprop.tasks.seg import SegKey, SegTask, object_ids


def propagate_masks(model: torch.nn.Module, frames: Iterable[VideoFrame], masks: dict[int, np.ndarray],
                    settings: Settings, chain: bool = False, ids: tuple[int, ...] | None = None,
                    refiner: torch.nn.Module | None = None, working_short_side: int | None = None,
                    on_confidence: Callable[[FrameConfidence], None] | None = None, cuts: Sequence[int] = (),
                    grabcut: bool = False, memory: bool = False) -> Iterator[tuple[VideoFrame, np.ndarray]]:
    """(frame, label map) for every frame, from label-map keys ``masks`` (frame index -> (H, W) uint8).

    ``working_short_side``: larger frames are segmented at this short side (the size the models were trained
    at: the alignment cues are in pixels) and the probabilities up-sampled to the frame's size; keys keep
    their exact masks.

    ``chain=False``: the paper's protocol, every frame from its key through ``Propagator``.
    ``chain=True``: every frame also from the previous frame's own prediction, blended with the key's by the
    confidence of each alignment (online only). ``refiner``: the SEG(t+s) spatial network. ``grabcut``: every
    propagated mask snapped to its frame by a graph cut (``vprop.models.seg.GrabCut``); ``memory`` too: SEG(t)'s
    cut also hears the frame before (``_remembered``; offline, after a shot's last key only:
    ``_blended_then_remembered``). A model already wrapped keeps its wrapping.
    ``on_confidence``: called with every frame's confidence (see ``Propagator``), at the working size.
    ``cuts``: frames that start a new shot; no mask crosses a cut (``Propagator``; ``chain``: run shot by shot).
    """
    if chain and settings.mode == "offline":     # as the CLI: the chained protocol has no backward pass
        raise UsageError("--chain", "works online only (drop --mode offline)")
    net = wrap_model(model, refiner, grabcut, memory)
    if on_confidence is None:
        yield from _masks(net, frames, masks, settings, chain, ids, working_short_side, None, cuts)
        return
    # A frame's confidence comes before its labels (the memory's loop reads a batch ahead): held until they come, to
    # add the trust around its objects.
    held: dict[int, FrameConfidence] = {}
    for frame, labels in _masks(net, frames, masks, settings, chain, ids, working_short_side,
                                lambda confidence: held.__setitem__(confidence.index, confidence), cuts):
        objects = labels > 0
        confidence = held.pop(frame.index)
        around = None if confidence.trust is None else region_trust(confidence.trust, objects)
        # a key, a keyless frame or one whose objects are lost: its own confidence
        confidence.object = confidence.confidence if around is None else around
        confidence.area = float(np.count_nonzero(objects)) / objects.size
        on_confidence(confidence)
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
        if isinstance(net, GrabCut) and net.memory > 0 and settings.align:
            if settings.mode == "online":
                return _remembered(net, task, frames, masks, settings, on_confidence, cuts)
            return _blended_then_remembered(net, task, frames, masks, settings, on_confidence, cuts)
        return Propagator(net, task, settings)(frames, masks, on_confidence, cuts=cuts)
    keyed = {bisect_right(cuts, k) for k in masks}
    return (out for number, shot in groupby(frames, key=lambda f: bisect_right(cuts, f.index))
            for out in (_chained(net, task, shot, masks, settings, on_confidence) if number in keyed
                        else _keyless_shot(task, shot, settings, on_confidence)))


def _blended_then_remembered(cut: GrabCut, task: SegTask, frames: Iterable[VideoFrame], masks: Mapping[int, np.ndarray],
                             settings: Settings, on_confidence, cuts: Sequence[int]):
    """Offline with the memory: each shot's frames up to its last key from both keys around them (``Propagator``,
    offline), the frames after that key online from it with the memory (``_remembered``): like an online run's
    frames, they have one key. The last key's frame is read by both parts and answered once."""
    shot = lambda index: bisect_right(cuts, index)  # noqa: E731
    last_key: dict[int, int] = {}
    for k in masks:
        last_key[shot(k)] = max(last_key.get(shot(k), k), k)
    online = replace(settings, mode="online")
    latest: list[VideoFrame] = []       # the latest frame read: where a tail starts, its shot's last key

    def recorded(part: Iterable[VideoFrame]) -> Iterator[VideoFrame]:
        for frame in part:
            latest[:] = [frame]
            yield frame

    def from_key(key: VideoFrame, part: Iterable[VideoFrame]) -> Iterator[VideoFrame]:
        yield key
        yield from part

    for tail, part in groupby(frames, key=lambda f: f.index > last_key.get(shot(f.index), f.index)):
        if not tail:
            yield from Propagator(cut, task, settings)(recorded(part), masks, on_confidence, cuts=cuts)
            continue
        key = latest[0]
        report = None if on_confidence is None else (lambda c, key=key: c.index != key.index and on_confidence(c))
        yield from islice(_remembered(cut, task, from_key(key, part), masks, online, report, cuts), 1, None)


def _remembered(cut: GrabCut, task: SegTask, frames: Iterable[VideoFrame], masks: Mapping[int, np.ndarray],
                settings: Settings, on_confidence, cuts: Sequence[int]):
    """The paper's protocol online with a one-frame memory (``vprop.models.seg.MEMORY_WEIGHT``): the network runs in
    batches as ``Propagator`` runs it, and then the cut frame by frame, each frame's probabilities mixed with the
    frame before's final mask, aligned by one step of flow. The memory starts at a key (the key's own mask) and goes
    forward only, so it never crosses a shot's cut: frames before a shot's first key are cut without it.

    Only the mix and the cut wait for the frame before. The step to the frame before comes from the loop's own
    one-step flows (``on_flows``); the key's colour models and the step's check come from the frames alone, so
    they are worked out ahead for a batch in the torch threads' number of threads (OpenCV lets go of the GIL). A
    batch's mixes and cuts then run in one thread of their own while the network runs on the next batch.
    """
    keys: dict[int, SegKey] = {}
    sides: dict[int, list[Side]] = {}
    flows: dict[int, tuple[np.ndarray, np.ndarray]] = {}     # held from estimate to output: a batch at most
    outputs = Propagator(cut.net, PropertyOnly(task), settings)(
        frames, masks, on_confidence, cuts=cuts, on_key=keys.__setitem__, on_sides=sides.__setitem__,
        on_flows=lambda index, *both: flows.__setitem__(index, both))

    def ahead(frame: VideoFrame, probs: np.ndarray) -> dict:
        """What a frame's mix and cut need that does not depend on the frame before's output."""
        work = {"frame": frame, "probs": np.clip(probs, 0.0, 1.0), "side": sides.pop(frame.index, [None])[0]}
        side, step = work["side"], flows.pop(frame.index, None)
        if frame.index in keys or side is None or not len(probs):
            return work
        key = keys[side.key_index]
        key_rgb = rgb_uint8(side.chain.warp(key.rgb))
        key_masks = side.chain.warp(np.ascontiguousarray(key.masks.transpose(1, 2, 0))).reshape(*probs.shape[1:], -1)
        work["models"] = [key_colour_models(key_rgb, key_masks[..., k], side.chain.valid) for k in range(len(probs))]
        if step is not None and side.key_index < frame.index:
            work["step"] = ChainedWarp.identity(*probs.shape[1:]).step(*step)
        return work

    remembered = None      # (index, (P, H, W) mask) of the frame before, while it can be followed: the cutter's own

    def decide(works: list[dict]) -> list[tuple[VideoFrame, np.ndarray]]:
        """A batch's frames mixed with the frame before and cut, in order (in the one cutter thread)."""
        nonlocal remembered
        done = []
        for work in works:
            frame, probs, side = work["frame"], work["probs"], work["side"]
            prepared = task.prepare(frame.rgb)
            if "key_masks" in work:
                remembered = (frame.index, work["key_masks"])
                done.append((frame, task.finish(prepared, probs)))
                continue
            if "models" not in work:     # a keyless shot's empty output, or no object to cut
                remembered = None
                done.append((frame, task.finish(prepared, probs)))
                continue
            step = work.get("step")
            if step is not None and remembered is not None and remembered[0] == frame.index - 1:
                aligned = step.warp(np.ascontiguousarray(remembered[1].transpose(1, 2, 0)))
                weight = cut.memory * ((step.valid > 0.5) & (step.error < MEMORY_FLOW_TRUST))
                probs = probs + weight * (aligned.reshape(*weight.shape, -1).transpose(2, 0, 1) - probs)
            decided = np.stack([grabcut_snap(frame.rgb, p, models) for p, models in zip(probs, work["models"])])
            forward = side.key_index < frame.index
            remembered = (frame.index, decided.astype(np.float32)) if forward else None
            done.append((frame, task.finish(prepared, cut_probabilities(probs, decided))))
        return done

    # GrabCut runs on one core and lets go of the GIL: a batch is cut while the network runs on the next one
    cutting = None
    with ThreadPoolExecutor(max(1, torch.get_num_threads())) as pool, ThreadPoolExecutor(1) as cutter:
        while chunk := list(islice(outputs, settings.batch_size)):
            works = list(pool.map(lambda item: ahead(*item), chunk))
            for work in works:
                index = work["frame"].index
                if index in keys:    # the keys a later frame can still follow stay
                    work["key_masks"] = keys[index].masks
                    for older in [i for i in keys if i < index]:
                        del keys[older]
            previous, cutting = cutting, cutter.submit(decide, works)
            if previous is not None:
                yield from previous.result()
        if cutting is not None:
            yield from cutting.result()


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
