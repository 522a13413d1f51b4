"""Broken flow chains mended by a flow straight to the key (ChainedWarp.repaired, Settings.repair)."""
import numpy as np

from vprop.engine.flow import BROKEN, ChainedWarp, FlowEstimator
from vprop.engine.propagator import Propagator, Settings
from vprop.eval.baselines import Passthrough
from vprop.io.video import VideoFrame
from vprop.tasks.color import ColorTask, rgb_to_lab

H, W = 24, 32


def broken_chain():
    """An identity chain whose left half has failed: wrong coordinates, large accumulated inconsistency."""
    chain = ChainedWarp.identity(H, W)
    chain.coords[:, :16] += 5.0
    chain.error[:, :16] = 3 * BROKEN
    return chain


def test_a_consistent_direct_flow_mends_only_where_the_chain_failed():
    shift = np.zeros((H, W, 2), np.float32)
    shift[..., 0] = 2.0                                    # the frame's pixels sit 2 px right of the key's
    chain = broken_chain()
    assert chain.broken() == 0.5
    mended = chain.repaired(shift, -shift)
    # Left half (failed): the direct flow's coordinates and its (zero) inconsistency; right half: the chain kept.
    xs = np.arange(W, dtype=np.float32)
    assert np.allclose(mended.coords[:, :14, 0], xs[:14] + 2.0) and np.allclose(mended.coords[:, :16, 1],
                                                                                np.arange(H)[:, None])
    assert np.array_equal(mended.coords[:, 16:], chain.coords[:, 16:])
    assert mended.error[:, :14].max() == 0 and mended.broken() < 0.1
    assert mended.valid[:, :14].min() == 1.0


def test_an_inconsistent_direct_flow_is_not_taken():
    there, back = np.zeros((H, W, 2), np.float32), np.zeros((H, W, 2), np.float32)
    there[..., 0], back[..., 0] = 2.0, 1.0                  # forward and backward disagree by 3 px
    chain = broken_chain()
    mended = chain.repaired(there, back)
    assert np.array_equal(mended.coords, chain.coords) and np.array_equal(mended.error, chain.error)


def jumping_frames(n):
    """A textured scene that jumps 6 px right at frame 3 and back at frame 5: one flow step too many for DIS's
    consistency, but the frame is the key's content again."""
    rng = np.random.default_rng(1)
    texture = np.clip(rng.normal(128, 50, (H * 2, W * 2)), 0, 255).astype(np.uint8)
    texture = np.repeat(np.repeat(texture, 2, 0), 2, 1)[:H, :W]
    for i in range(n):
        gray = np.roll(texture, 6, axis=1) if 3 <= i < 5 else texture
        yield VideoFrame(i, np.dstack([gray] * 3), i, None)


def test_repair_asks_for_direct_flows_only_once_a_chain_has_failed(monkeypatch):
    calls = []
    key_rgb = next(jumping_frames(1)).rgb.copy()
    key_rgb[..., 0] = np.clip(key_rgb[..., 0].astype(int) + 40, 0, 255)
    keys = {0: rgb_to_lab(key_rgb)}
    original = FlowEstimator.both_ways      # every flow of the loop and of a repair is one of a pair
    for repair in (False, True):
        monkeypatch.setattr(FlowEstimator, "both_ways",
                            lambda self, a, b, repair=repair: calls.extend([repair] * 2) or original(self, a, b))
        list(Propagator(Passthrough(), ColorTask(), Settings(mode="online", repair=repair))(jumping_frames(8), keys))
    plain, mended = calls.count(False), calls.count(True)
    assert plain == 2 * 7                  # two flows per frame after the first
    assert plain < mended < plain + 2 * 7      # some frames' chains failed (the jumps) and were mended, not all


def test_a_task_sets_how_much_failure_a_repair_waits_for(monkeypatch):
    repairs = []
    original = ChainedWarp.repaired
    monkeypatch.setattr(ChainedWarp, "repaired", lambda self, *flows: repairs.append(1) or original(self, *flows))
    keys = {0: rgb_to_lab(next(jumping_frames(1)).rgb)}
    counts = []
    for above in (0.0, 1.0):      # any newly failed pixel; never (a whole frame can fail at most)
        repairs.clear()
        list(Propagator(Passthrough(), ColorTask(repair_above=above), Settings(mode="online", repair=True))(
            jumping_frames(8), keys))
        counts.append(len(repairs))
    assert counts[0] > 0 and counts[1] == 0
