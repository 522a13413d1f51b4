"""The one frame loop shared by every task: key-frame schedule, flow chains, batched inference, two-sided blending.

Frames stream through; only the frames between two keys are held (for the backward pass of offline mode),
so memory grows with the key interval, never with the length of the video.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Collection, Iterable, Iterator, Mapping, Protocol

import cv2
import numpy as np
import torch

from vprop.engine.confidence import FrameConfidence, step_trust, trust_map
from vprop.engine.flow import ChainedWarp, FlowEstimator
from vprop.io.video import VideoFrame

MODES = ("offline", "online")
BLENDS = ("confidence", "nearest")
PRECISIONS = ("auto", "fp32", "bf16")
# Settings.far_side's default: a side is left to its flow-aligned key where its key is more than 7/3 times as far as
# the other's. On the DAVIS dev videos (854x480, offline K=30) colour PSNR and CDC were unchanged to the printed
# digit at 0.25 and lost 0.01 dB at 0.35 and 0.03 dB at 0.5; HDR log-RMSE at K=10-40 unchanged at 0.25. 0.30 (with
# the key check, to pay for its two frames a segment): -0.002 dB at K=20 and -0.005 at K=30, no video below 0.25 by
# more than 0.016 dB, CDC +0.2% / +0.04%, HDR unchanged to 4 digits; K=10 skips the same sides as at 0.25.
FAR_SIDE = 0.30


class Task(Protocol):
    """What a task adds to the shared loop: its per-frame view, its network inputs and its output."""

    def prepare(self, rgb: np.ndarray) -> Any: ...                       # per-frame view (e.g. Lab)
    def key(self, prepared: Any, data: Any) -> Any: ...    # a key from its data (e.g. a file's) and its own frame
    def gray(self, prepared: Any) -> np.ndarray: ...                    # uint8 luminance for optical flow
    def inputs(self, prepared: Any, key: Any, chain: ChainedWarp | None) -> tuple[np.ndarray, np.ndarray]: ...
    def key_output(self, prepared: Any, key: Any) -> np.ndarray: ...    # output property at a key frame
    def finish(self, prepared: Any, prop: np.ndarray) -> Any: ...       # final frame from a (C, H, W) property
    def empty(self, prepared: Any) -> np.ndarray: ...    # property of a frame in a keyless shot (allow_missing)
    # With Settings.repair: a chain is mended once it has newly failed (since its last repair) on more than this
    # fraction of the frame; what a repair could not mend does not trigger it again.
    repair_above: float
    # With Settings.lookup (tasks that have it): outputs (C, H, W) with the key's property found by patch matching
    # where the chains failed (``vprop.engine.lookup``), for frames propagated from one key (made ready once).
    def looked_up(self, prepared: list, key: Any, chains: list[ChainedWarp], props: list[np.ndarray]
                  ) -> list[np.ndarray]: ...
    # With alignment: a side at most this many frames from its key leaves the network out, and its flow-aligned
    # key stands for its output (as on the far side, Settings.far_side); 0: every frame runs the network.
    near_key: int
    # At the working size (vprop.engine.working, colour and HDR): how a frame gets back the key's detail (DETAILS).
    detail: str


@dataclass
class Settings:
    mode: str = "offline"           # offline: both surrounding keys; online: the preceding key only
    align: bool = True              # chained-flow alignment of the key (False: the paper's plain TPN)
    blend: str = "confidence"       # offline blending of the two propagations
    batch_size: int = 4
    device: str = "cpu"
    allow_missing: bool = False     # a shot without keys gets the task's empty output instead of an error
    flow: str = "medium"            # the optical flow's configuration (``vprop.engine.flow.FLOW_PRESETS``)
    working_flow: str = "fast-full"  # the flow's configuration at the working size (``vprop.engine.working``)
    precision: str = "auto"         # the network's convolutions: auto (bf16 where the CPU has it natively), fp32, bf16
    repair: bool = False            # mend broken chains by a flow straight to the key (ChainedWarp.repaired)
    lookup: bool = False            # where a chain failed, also the key's property by patch matching (Task.looked_up)
    # Offline, with alignment: a side whose share of the blend by distance (the other key's distance over the two
    # keys' distance) is under this is not run through the network; its flow-aligned key stands for its output.
    far_side: float = FAR_SIDE
    # Offline, with alignment: each side of a segment between two keys is also propagated into the other key's frame
    # and scored there against that key, beside its flow-aligned key; where the network's two scores together are
    # worse, both sides of the segment give their flow-aligned keys (``Propagator._key_score``).
    key_check: bool = False


@dataclass
class Side:
    """One key's part in a propagated frame: ``share`` of its output (a per-pixel map, or a number) came from
    key ``key_index``, aligned to the frame by ``chain`` (None without alignment)."""

    key_index: int
    chain: ChainedWarp | None
    share: np.ndarray | float


@dataclass
class _Pending:
    frame: VideoFrame
    prepared: Any
    gray: np.ndarray | None = None         # luminance, when flow or confidence needs it
    step: float = 1.0                      # step_trust from the previous frame, when confidence is reported
    to_prev: np.ndarray | None = None      # flows to / from the previous frame, kept for the backward chain
    from_prev: np.ndarray | None = None
    chain: ChainedWarp | None = field(default=None, repr=False)   # alignment to the preceding key, until used
    forward_chain: ChainedWarp | None = field(default=None, repr=False)   # kept after use when sides are asked for
    forward: np.ndarray | None = None      # (C, H, W) property propagated from the preceding key
    forward_conf: np.ndarray | None = None
    forward_aligned: np.ndarray | None = None  # the flow-aligned key, kept for Settings.key_check
    forward_trust: np.ndarray | None = None    # trust map of the forward pass, when confidence is reported
    skip_forward: bool = False             # the forward side leaves the network out (Propagator._skipped)


class Propagator:
    """Runs a model over a stream of frames and key-frames. The model is stateless; this holds the loop."""

    def __init__(self, model: torch.nn.Module, task: Task, settings: Settings):
        if settings.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if settings.blend not in BLENDS:
            raise ValueError(f"blend must be one of {BLENDS}")
        if settings.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}")
        if not 0.0 <= settings.far_side <= 0.5:     # above a half, both sides of a frame could be the far one
            raise ValueError("far_side must be within 0..0.5")
        if settings.lookup and not hasattr(task, "looked_up"):
            raise ValueError(f"lookup: {type(task).__name__} has no look-up (colour has)")
        self.model, self.task, self.s = model, task, settings
        self.flow = FlowEstimator(settings.flow)
        # Direct flows to the key (Settings.repair) are estimated at another size: an OpenCV DIS instance that
        # alternates between sizes gives results that depend on its earlier calls, so they have their own.
        self.direct_flow = FlowEstimator(settings.flow)

    @torch.inference_mode()
    def infer(self, batch: list[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
        """The model's outputs for a batch of (guidance, property) inputs, one network call."""
        guidance = torch.from_numpy(np.stack([g for g, _ in batch])).to(self.s.device)
        prop = torch.from_numpy(np.stack([p for _, p in batch])).to(self.s.device)
        if guidance.device.type == "cpu":
            # Channels-last: the convolutions follow their input's layout, and on CPU run ~1.3x faster in it
            # (benchmarks/profile_colorize.py); the results equal the default layout's to float rounding.
            guidance = guidance.contiguous(memory_format=torch.channels_last)
            prop = prop.contiguous(memory_format=torch.channels_last)
        with torch.autocast(guidance.device.type, torch.bfloat16, enabled=self.bf16(guidance.device)):
            return list(self.model(guidance, prop).float().cpu().contiguous().numpy())

    def bf16(self, device: torch.device) -> bool:
        """Whether the network's convolutions run in bfloat16 (the scans always run in float32, vprop.ops).

        "auto": on a CPU that computes bf16 natively (AVX512-BF16 or AMX), where the convolutions run ~1.5x
        faster and colour PSNR and CDC on the DAVIS dev videos are float32's to the printed digit
        (benchmarks/eval_color_sizes.py); elsewhere bf16 is emulated and slower, and on GPUs the network is
        not the frame's cost."""
        if self.s.precision != "auto":
            return self.s.precision == "bf16"
        return device.type == "cpu" and _native_cpu_bf16()

    def _propagate(self, items: list[_Pending], key: Any, chains: list[ChainedWarp | None], skip: list[bool]) -> list:
        """(output, blending confidence, flow-aligned key) of each of ``items`` from ``key``, one batch; the output
        of an item marked in ``skip`` is its flow-aligned key (``_skipped``), for the others the network's."""
        inputs = [self.task.inputs(it.prepared, key, ch) for it, ch in zip(items, chains)]
        networked = [x for x, f in zip(inputs, skip) if not f]
        outputs = iter(self.infer(networked) if networked else [])
        results = [self._aligned_key(x[1]) if f else next(outputs) for x, f in zip(inputs, skip)]
        # Not on a skipped side: on a far one it counts little in the blend, on a near one its chain rarely failed.
        looking = [i for i, (ch, f) in enumerate(zip(chains, skip)) if ch is not None and not f]
        if self.s.lookup and looking:
            found = self.task.looked_up([items[i].prepared for i in looking], key, [chains[i] for i in looking],
                                        [results[i] for i in looking])
            for i, out in zip(looking, found):
                results[i] = out
        return [(out, self.blend_weight(ch, x[1].shape[-2:]), self._aligned_key(x[1]))
                for out, x, ch in zip(results, inputs, chains)]

    def _aligned_key(self, prop: np.ndarray) -> np.ndarray:
        """The flow-aligned key's property among a network's property inputs (the first of its groups, whatever the
        number of channels: a mask model's has one per object): the output of a side that skips the network."""
        cfg = getattr(self.model, "cfg", None)
        return prop if cfg is None else prop[: len(prop) // cfg.property_groups]

    def _skipped(self, from_key: int, to_other_key: int | None) -> bool:
        """Whether a side ``from_key`` frames from its key leaves the network out for its flow-aligned key: it is
        near its key (``Task.near_key``), or, with the other side's key ``to_other_key`` frames away (None: no
        other side), it is the far side (``Settings.far_side``), its share of a blend by distance under the
        threshold. Without alignment there is no flow-aligned key to stand in."""
        if not self.s.align:
            return False
        far = to_other_key is not None and to_other_key / (from_key + to_other_key) < self.s.far_side
        return far or from_key <= self.task.near_key

    @staticmethod
    def blend_weight(chain: ChainedWarp | None, shape) -> np.ndarray:
        """How much a propagation along ``chain`` counts in a blend, per pixel (1 without alignment)."""
        if chain is None:
            return np.ones(shape, np.float32)
        # Smooth so the blend has no seams along chain boundaries; keep a floor so weights never vanish.
        return cv2.GaussianBlur(chain.confidence(), (0, 0), 3) + 1e-3

    def __call__(self, frames: Iterable[VideoFrame], keys: Mapping[int, Any],
                 on_confidence: Callable[[FrameConfidence], None] | None = None, cuts: Collection[int] = (),
                 on_key: Callable[[int, Any], None] | None = None,
                 on_sides: Callable[[int, list[Side]], None] | None = None,
                 on_flows: Callable[[int, np.ndarray, np.ndarray], None] | None = None
                 ) -> Iterator[tuple[VideoFrame, Any]]:
        """Yield (frame, output) in decode order. ``keys`` maps frame index -> the task's key data, read once
        when the loop reaches that frame; ``Task.key`` turns it and the frame into the key.

        ``on_confidence``: called with every frame's ``FrameConfidence`` just before the frame is yielded.
        ``cuts``: the frames that start a new shot (``vprop.engine.shots``). Nothing crosses a cut: a frame takes keys
        (and flow) from its own shot only. A shot without a key is an error, or, with ``Settings.allow_missing``,
        the task's ``empty`` output (the caller checks this beforehand to name the shot).
        ``on_key``: called with (index, key) as each key is built, before any frame propagated from it is yielded.
        ``on_sides``: called with (index, sides) just before each propagated (non-key) frame is yielded: which keys
        its output came from, along which alignment, in which shares (``Side``). Asking for them keeps each
        frame's alignment until the frame is done.
        ``on_flows``: called with (index, to_prev, from_prev), the optical flows between a frame and the one before
        it in its shot, as soon as the loop has estimated them (before the frame is yielded), so that a caller
        who needs the one-step motion does not estimate it again.
        """
        align, offline = self.s.align, self.s.mode == "offline" and bool(keys)
        key_order, cut_order = sorted(keys), sorted(c for c in cuts if c > 0)
        shot_end = 0           # index of the next cut: the current shot ends just before it
        shot_last_key = -1     # the last key of the current shot (-1: none)
        prev_gray = None
        key_index, key, chain, key_gray = None, None, None, None
        sink = on_confidence or (lambda _: None)
        track = on_confidence is not None
        keep_chains = on_sides is not None
        tell = on_sides or (lambda index, sides: None)
        checking = offline and align and self.s.key_check
        key_item = None        # the current key's own frame (Settings.key_check)
        pending: list[_Pending] = []      # frames since the last key, oldest first
        waiting: list[_Pending] = []      # frames whose forward pass is not run yet
        for frame in frames:
            if frame.index >= shot_end:     # a new shot: finish the last one, forget its key and its flow
                if frame.index > 0:
                    self._forward(waiting, key, key_gray, key_index, keep_chains, track)
                    yield from self._close_segment(pending, None, None, offline, key_index, None, on_confidence, on_sides)
                waiting, pending, prev_gray = [], [], None
                key_index, key, chain, key_gray, key_item = None, None, None, None, None
                shot_end = next((c for c in cut_order if c > frame.index), float("inf"))
                shot_last_key = max((k for k in key_order if frame.index <= k < shot_end), default=-1)
            prepared = self.task.prepare(frame.rgb)
            if shot_last_key < 0 and self.s.allow_missing:    # a shot without keys: empty output, nothing held
                sink(FrameConfidence(frame.index, 0.0))
                yield frame, self.task.finish(prepared, self.task.empty(prepared))
                continue
            item = _Pending(frame, prepared)
            if align or track:
                item.gray = self.task.gray(prepared)
            if prev_gray is not None:
                if align:
                    item.to_prev, item.from_prev = self.flow.both_ways(item.gray, prev_gray)
                    if on_flows is not None:
                        on_flows(frame.index, item.to_prev, item.from_prev)
                if track:
                    item.step = step_trust(prev_gray, item.gray, item.to_prev, item.from_prev)
            prev_gray = item.gray
            if frame.index in keys:
                probe = None
                if checking and pending and key is not None:   # the forward side goes one step further, into here
                    step = self._repair(chain.step(item.to_prev, item.from_prev), item.gray, key_gray)
                    probe = replace(item, gray=None, chain=step)   # no gray: no trust map
                    waiting.append(probe)
                self._forward(waiting, key, key_gray, key_index, keep_chains, track, checking)
                waiting = []
                new_key = self.task.key(prepared, keys[frame.index])
                if on_key is not None:
                    on_key(frame.index, new_key)
                check = None
                if probe is not None:
                    check = _KeyCheck(self._key_score(probe, probe.forward, probe.forward_aligned, new_key), key_item,
                                      key)
                yield from self._close_segment(pending, new_key, item, offline, key_index, frame.index, on_confidence,
                                              on_sides, check)
                pending = []
                # key_gray when confidence is reported (the forward pass's trust maps are built from it) or chains
                # are repaired (by a flow straight to the key)
                key_index, key, key_gray = frame.index, new_key, item.gray if track or self.s.repair else None
                chain = ChainedWarp.identity(*frame.rgb.shape[:2]) if align else None
                key_item = item
                sink(FrameConfidence.at_key(frame.index, item.step))
                yield frame, self.task.finish(prepared, self.task.key_output(prepared, key))
                continue
            if key is not None:
                if align:
                    chain = chain.step(item.to_prev, item.from_prev)
                    chain = self._repair(chain, item.gray, key_gray)
                item.chain = chain
                later = bisect.bisect_right(key_order, frame.index)
                two_sided = offline and later < len(key_order) and key_order[later] < shot_end
                item.skip_forward = self._skipped(frame.index - key_index,
                                                 key_order[later] - frame.index if two_sided else None)
                waiting.append(item)
                if len(waiting) >= self.s.batch_size:
                    self._forward(waiting, key, key_gray, key_index, keep_chains, track, checking)
                    waiting = []
            pending.append(item)
            # Online, and after the shot's last key in either mode, a frame is final as soon as its forward pass ran:
            # nothing is held, however long the video.
            if not offline or frame.index > shot_last_key:
                while pending and pending[0].forward is not None:
                    done = pending.pop(0)
                    sink(_one_sided(done, key_index))
                    tell(done.frame.index, [Side(key_index, done.forward_chain, 1.0)])
                    yield done.frame, self.task.finish(done.prepared, done.forward)
        self._forward(waiting, key, key_gray, key_index, keep_chains, track)
        yield from self._close_segment(pending, None, None, offline, key_index, None, on_confidence, on_sides)

    def _repair(self, chain: ChainedWarp, gray: np.ndarray, key_gray: np.ndarray | None) -> ChainedWarp:
        """With ``Settings.repair``, a chain that has failed on part of the frame, mended by a flow straight
        between the frame and its key (``ChainedWarp.repaired``)."""
        if not self.s.repair or chain.broken() - chain.unmended <= self.task.repair_above:
            return chain
        # Estimated at half the frames' size: at their own size the direct flows (four a frame offline) took
        # vprop from 0.97x to 0.72x the flow baseline's speed at 854x480, for 0.04 dB more (bench_colorize.py).
        return chain.repaired(*self.direct_flow.both_ways_at_half(gray, key_gray))

    def _forward(self, items: list[_Pending], key, key_gray: np.ndarray | None, key_index: int | None,
                 keep_chains: bool = False, track: bool = False, keep_aligned: bool = False) -> None:
        if not items:
            return
        for it, (out, conf, aligned) in zip(items, self._propagate(items, key, [it.chain for it in items],
                                                                   [it.skip_forward for it in items])):
            if it.gray is not None and key_gray is not None and track:
                it.forward_trust = trust_map(it.chain, key_gray, it.gray, it.frame.index - key_index)
            it.forward, it.forward_conf = out, conf
            it.forward_aligned = aligned if keep_aligned else None
            it.forward_chain, it.chain = it.chain if keep_chains else None, None

    def _key_score(self, item: _Pending, network: np.ndarray, aligned: np.ndarray, truth_key: Any) -> float:
        """How much better the network did than the flow-aligned key, propagating another key into ``item``, the
        frame of the key ``truth_key``, whose property is the truth there: the flow-aligned key's mean squared error
        less the network's (Settings.key_check)."""
        truth = self.task.key_output(item.prepared, truth_key)
        return float(np.mean((aligned - truth) ** 2) - np.mean((network - truth) ** 2))

    def _close_segment(self, pending, next_key, next_item, offline, prev_index, next_index, on_confidence=None,
                       on_sides=None, check: _KeyCheck | None = None):
        """Finish the frames between two keys: backward propagation from the next key, then blending. With
        ``check`` (Settings.key_check), both sides give their flow-aligned keys if the network lost to them at the
        keys' frames."""
        if not pending:
            return
        sink = on_confidence or (lambda _: None)
        tell = on_sides or (lambda index, sides: None)
        if next_key is None or not (offline or pending[0].forward is None):
            for it in pending:
                if it.forward is None:
                    raise ValueError("no key-frame before or after these frames")
                sink(_one_sided(it, prev_index))
                tell(it.frame.index, [Side(prev_index, it.forward_chain, 1.0)])
                yield it.frame, self.task.finish(it.prepared, it.forward)
            return
        # Backward chain: walk from the next key down to the first pending frame, running the network a batch
        # at a time so that only outputs, not alignments, are held.
        backward: list = [None] * len(pending)
        back_trust: list = [None] * len(pending)
        back_chains: list = [None] * len(pending)     # kept only when sides are asked for
        back_aligned: list = [None] * len(pending)     # kept only for the key check
        batch: list[int] = []
        chains: list[ChainedWarp | None] = []
        # A backward side may be near its key (Task.near_key); with a forward side it may also be the far one.
        skip = [self._skipped(next_index - it.frame.index, it.frame.index - prev_index if it.forward is not None
                              else None) for it in pending]
        chain = ChainedWarp.identity(*pending[0].frame.rgb.shape[:2]) if self.s.align else None
        later = next_item
        # With the key check the walk goes one step further, into the previous key's frame (index -1).
        last = -1 if check is None else -2
        at = lambda i: pending[i] if i >= 0 else check.prev_item      # noqa: E731
        for i in range(len(pending) - 1, last, -1):
            if chain is not None:   # walking backwards, the chain's "previous" frame is the later one
                chain = chain.step(later.from_prev, later.to_prev)
                chain = self._repair(chain, at(i).gray, next_item.gray)
                later = at(i)
            batch.append(i)
            chains.append(chain)
            if on_sides is not None and i >= 0:
                back_chains[i] = chain
            if on_confidence is not None and i >= 0:
                back_trust[i] = trust_map(chain, next_item.gray, pending[i].gray,
                                          next_index - pending[i].frame.index)
            if len(batch) == self.s.batch_size or i == last + 1:
                for j, (out, conf, aligned) in zip(batch, self._propagate([at(j) for j in batch], next_key, chains,
                                                                          [j >= 0 and skip[j] for j in batch])):
                    if j < 0:
                        back_score = self._key_score(check.prev_item, out, aligned, check.prev_key)
                        continue
                    backward[j] = (out, conf)
                    if check is not None:   # else not held: a view that keeps the frame's whole network input alive
                        back_aligned[j] = aligned
                batch, chains = [], []
        if check is not None:
            # Summed, not side by side: on the DAVIS dev videos (offline K=10) a side's own score alone lost
            # 0.03 dB on breakdance-flare, the sum gained 0.01-0.03 dB on three videos and lost on none.
            if check.forward + back_score < 0:
                for it in pending:
                    it.forward = it.forward_aligned
                backward = [(aligned, conf) for aligned, (_, conf) in zip(back_aligned, backward)]
            for it in pending:
                it.forward_aligned = None
        for it, (out, back_conf), tb, back_chain in zip(pending, backward, back_trust, back_chains):
            t = it.frame.index
            if it.forward is None:
                if on_confidence is not None:
                    sink(FrameConfidence(t, float(tb.mean()), it.step, None, next_index, None, float(tb.mean()), tb))
                tell(t, [Side(next_index, back_chain, 1.0)])
                yield it.frame, self.task.finish(it.prepared, out)
                continue
            d_prev, d_next = t - prev_index, next_index - t
            if self.s.blend == "nearest":
                result = it.forward if d_prev <= d_next else out
                wf, wb = float(d_prev <= d_next), float(d_prev > d_next)
            else:
                result, wf, wb = self.blend_sides(it, out, back_conf, d_prev, d_next)
            if on_confidence is not None:
                # The trust of the blend: each side's trust, weighted as the blend weighed its output.
                trust = (it.forward_trust * wf + tb * wb) / (wf + wb)
                sink(FrameConfidence(t, float(trust.mean()), it.step, prev_index, next_index,
                                     float(it.forward_trust.mean()), float(tb.mean()), trust))
            if on_sides is not None:
                total = wf + wb
                tell(t, [Side(prev_index, it.forward_chain, wf / total), Side(next_index, back_chain, wb / total)])
            yield it.frame, self.task.finish(it.prepared, result)

    def blend_sides(self, item: _Pending, backward: np.ndarray, backward_conf: np.ndarray, d_prev: int, d_next: int
                    ) -> tuple[np.ndarray, Any, Any]:
        """(blend, forward weight, backward weight) of a frame's two propagations: each side weighed by its chain's
        confidence and the other key's distance, or, where the model carries a learned blend
        (``vprop.models.side_blend``), by the forward weight it gives (the backward side has the rest)."""
        forward, forward_conf = item.forward, item.forward_conf
        blend = getattr(self.model, "side_blend", None)
        if blend is None:
            wf, wb = forward_conf * d_next, backward_conf * d_prev
            return (forward * wf + backward * wb) / (wf + wb), wf, wb
        as_tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a, np.float32))[None].to(self.s.device)  # noqa: E731
        with torch.inference_mode():
            weight = blend(*(as_tensor(a) for a in self.side_inputs(item, backward, backward_conf, d_prev, d_next)))
        wf = weight[0, 0].float().cpu().numpy()
        return forward * wf + backward * (1.0 - wf), wf, 1.0 - wf

    def side_inputs(self, item: _Pending, backward: np.ndarray, backward_conf: np.ndarray, d_prev: int, d_next: int
                    ) -> tuple[np.ndarray, ...]:
        """What a learned blend (``SideBlend.forward``) reads of a frame, each without the batch axis: both sides
        (C, H, W), their confidences (1, H, W), the next key's share of the distance (1, 1, 1), the frame's gray
        level in 0..1 (1, H, W)."""
        return (item.forward, backward, item.forward_conf[None], backward_conf[None],
                np.full((1, 1, 1), d_next / (d_prev + d_next), np.float32),
                self.task.gray(item.prepared)[None] / np.float32(255.0))


@dataclass
class _KeyCheck:
    """Settings.key_check in one segment: the forward side's score at the next key's frame
    (``Propagator._key_score``), and what scoring the backward side at the previous key's frame needs."""

    forward: float
    prev_item: _Pending
    prev_key: Any


def _native_cpu_bf16() -> bool:
    cpu = torch.cpu    # private probes, absent from some builds: without them, float32
    return any(getattr(cpu, probe, lambda: False)() for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))


def _one_sided(item: _Pending, key_index: int) -> FrameConfidence:
    """A frame propagated from its preceding key alone."""
    trust = item.forward_trust
    value = float(trust.mean()) if trust is not None else 1.0
    return FrameConfidence(item.frame.index, value, item.step, key_index, None, value, None, trust)
