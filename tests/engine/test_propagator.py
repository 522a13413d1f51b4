import numpy as np
import pytest
import torch

from vprop.engine.propagator import Propagator, Settings
from vprop.eval.baselines import Passthrough
from vprop.io.video import VideoFrame
from vprop.tasks import color
from vprop.tasks.color import ColorTask


def gray_frames(n, h=24, w=32):
    for i in range(n):
        rgb = np.full((h, w, 3), 120 + i, np.uint8)
        rgb[:, (i % w):(i % w) + 4] = 200     # a moving bar gives the flow something to track
        yield VideoFrame(i, rgb, i, None)


def solid_key(rgb_value, h=24, w=32):
    return ColorTask().prepare_key(np.full((h, w, 3), rgb_value, np.uint8))


def chroma(rgb):
    return color.rgb_to_lab(rgb)[..., 1:].mean((0, 1))


@pytest.mark.parametrize("align", [False, True])
def test_online_copies_the_preceding_key(align):
    keys = {0: solid_key((160, 120, 120)), 6: solid_key((120, 120, 160))}
    out = list(Propagator(Passthrough(), ColorTask(), Settings(mode="online", align=align))(gray_frames(10), keys))
    assert [f.index for f, _ in out] == list(range(10))
    frames = list(gray_frames(10))
    task = ColorTask()
    for index, key_index in [(5, 0), (9, 6)]:
        expected = task.finish(task.prepare(frames[index].rgb), task.key_output(None, keys[key_index]))
        got = out[index][1].astype(int)
        if align:   # the flow tracks the bar; compare away from it
            got, expected = got[:, 24:], expected[:, 24:]
        assert np.abs(got - expected).max() <= 1


def test_offline_blends_both_keys_by_distance():
    keys = {0: solid_key((160, 120, 120)), 10: solid_key((120, 120, 160))}
    out = dict((f.index, rgb) for f, rgb in
               Propagator(Passthrough(), ColorTask(), Settings(mode="offline", align=False))(gray_frames(11), keys))
    a0, a10 = chroma(out[0])[0], chroma(out[10])[0]
    assert a0 > a10
    # The a channel moves monotonically from the first key's to the second's.
    series = [chroma(out[i])[0] for i in range(11)]
    assert all(x >= y - 0.5 for x, y in zip(series, series[1:]))
    assert abs(series[5] - (a0 + a10) / 2) < 0.2 * abs(a0 - a10)


def test_nearest_blend_takes_the_nearer_key():
    keys = {0: solid_key((160, 120, 120)), 10: solid_key((120, 120, 160))}
    s = Settings(mode="offline", align=False, blend="nearest")
    out = dict((f.index, rgb) for f, rgb in Propagator(Passthrough(), ColorTask(), s)(gray_frames(11), keys))
    assert np.allclose(chroma(out[3]), chroma(out[0]), atol=2)
    assert np.allclose(chroma(out[7]), chroma(out[10]), atol=2)


@pytest.mark.parametrize("mode", ["offline", "online"])
def test_sides_name_the_keys_each_frame_came_from(mode):
    """``on_sides`` is told, before each propagated frame is yielded, its keys, their chains and their shares."""
    keys = {2: solid_key((160, 120, 120)), 8: solid_key((120, 120, 160))}
    told, order = {}, []

    def on_sides(index, sides):
        told[index] = sides
        order.append(("sides", index))

    for frame, _ in Propagator(Passthrough(), ColorTask(), Settings(mode=mode))(gray_frames(12), keys,
                                                                               on_sides=on_sides):
        order.append(("frame", frame.index))
    assert sorted(told) == [0, 1, 3, 4, 5, 6, 7, 9, 10, 11]          # every frame but the keys
    assert all(order[order.index(("frame", i)) - 1] == ("sides", i) for i in told)
    assert [s.key_index for s in told[0]] == [2] and [s.key_index for s in told[10]] == [8]
    both = [s.key_index for s in told[5]]
    assert both == ([2, 8] if mode == "offline" else [2])
    for sides in told.values():
        assert all(s.chain is not None and s.chain.coords.shape == (24, 32, 2) for s in sides)
        assert np.allclose(sum(s.share for s in sides), 1.0)
    if mode == "offline":     # the nearer key has the larger share
        assert np.mean(told[3][0].share) > 0.5 > np.mean(told[7][0].share)


def test_flows_are_the_one_steps_of_each_shot_told_before_their_frame():
    """``on_flows`` hands out the loop's own flows between each frame and the one before it in its shot (none into a
    shot's first frame), each before its frame is yielded: the mask memory takes them instead of estimating them."""
    from vprop.engine.flow import FlowEstimator

    keys = {0: solid_key((160, 120, 120), 96, 128), 6: solid_key((120, 120, 160), 96, 128)}
    told, order = {}, []

    def on_flows(index, to_prev, from_prev):
        told[index] = (to_prev, from_prev)
        order.append(("flows", index))

    loop = Propagator(Passthrough(), ColorTask(), Settings(mode="online"))
    for frame, _ in loop(gray_frames(10, 96, 128), keys, cuts=[6], on_flows=on_flows):
        order.append(("frame", frame.index))
    assert sorted(told) == [1, 2, 3, 4, 5, 7, 8, 9]          # not into frame 0, nor across the cut at 6
    assert all(order.index(("flows", i)) < order.index(("frame", i)) for i in told)
    frames = list(gray_frames(10, 96, 128))
    task, flow = ColorTask(), FlowEstimator(Settings().flow)
    gray = [task.gray(task.prepare(f.rgb)) for f in frames]
    assert np.allclose(told[3][0], flow(gray[3], gray[2])) and np.allclose(told[3][1], flow(gray[2], gray[3]))
    assert np.abs(told[3][0][..., 0]).max() > 0.5            # they do carry the bar's motion


def test_frames_before_the_first_key_come_from_the_following_key():
    keys = {4: solid_key((120, 150, 120))}
    for mode in ("online", "offline"):
        out = list(Propagator(Passthrough(), ColorTask(), Settings(mode=mode, align=True))(gray_frames(8), keys))
        assert [f.index for f, _ in out] == list(range(8))
        assert np.abs(chroma(out[0][1]) - chroma(out[4][1])).max() < 3


def counted(frames, consumed: list):
    """``frames``, noting each index in ``consumed`` as the loop takes it."""
    for f in frames:
        consumed.append(f.index)
        yield f


def test_online_streams_without_waiting_for_the_end():
    """Online output is yielded while frames are still arriving: memory does not grow with the video."""
    consumed = []
    keys = {0: solid_key((160, 120, 120))}
    stream = Propagator(Passthrough(), ColorTask(), Settings(mode="online", align=True, batch_size=2))(
        counted(gray_frames(1000), consumed), keys)
    for _ in range(5):
        next(stream)
    assert len(consumed) < 10


def online_runs(weights, settings: list[Settings]) -> list[list]:
    """The tiny colour model's outputs on six gray frames from one key, once per ``settings``."""
    from vprop.models.hub import load_weights_file
    model, _ = load_weights_file(weights)
    keys = {0: solid_key((160, 120, 120))}
    return [list(Propagator(model, ColorTask(), s)(gray_frames(6), keys)) for s in settings]


def test_model_runs_batched_and_unbatched_alike(tiny_color_weights):
    runs = online_runs(tiny_color_weights, [Settings(mode="online", batch_size=b) for b in (1, 4)])
    for (f1, a), (f2, b) in zip(*runs):
        assert f1.index == f2.index
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_offline_streams_after_the_last_key():
    consumed = []
    keys = {0: solid_key((160, 120, 120)), 4: solid_key((120, 120, 160))}
    stream = Propagator(Passthrough(), ColorTask(), Settings(mode="offline", align=True, batch_size=2))(
        counted(gray_frames(1000), consumed), keys)
    for _ in range(12):
        next(stream)
    assert len(consumed) < 20


def test_bf16_convolutions_keep_the_colours(tiny_color_weights):
    runs = online_runs(tiny_color_weights, [Settings(mode="online", precision=p) for p in ("fp32", "bf16")])
    for (_, a), (_, b) in zip(*runs):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 2


def test_precision_is_checked():
    with pytest.raises(ValueError, match="precision"):
        Propagator(Passthrough(), ColorTask(), Settings(precision="fp16"))


@pytest.mark.parametrize("far", [-0.1, 0.6])
def test_far_side_is_checked(far):
    with pytest.raises(ValueError, match="far_side"):
        Propagator(Passthrough(), ColorTask(), Settings(far_side=far))


class CountingShift(torch.nn.Module):
    """The aligned key's property, shifted: a 'network' whose output tells whether it ran; counts the frames."""

    def __init__(self):
        super().__init__()
        self.frames = 0

    def forward(self, guidance, prop):
        self.frames += len(prop)
        return prop + 0.2


def test_offline_far_side_takes_the_aligned_key_without_the_network():
    keys = {0: solid_key((160, 120, 120)), 8: solid_key((120, 120, 160))}
    runs = {}
    for far in (0.0, 0.25):
        model = CountingShift()
        out = Propagator(model, ColorTask(), Settings(mode="offline", align=True, far_side=far))(gray_frames(9), keys)
        runs[far] = ({f.index: rgb.astype(int) for f, rgb in out}, model.frames)
    (every, all_frames), (near, near_frames) = runs[0.0], runs[0.25]
    # 7 frames between the keys, two sides each; a side whose key is over 3/4 of the way (1 frame of 8 from the
    # other key) is the far one: frame 1's backward side and frame 7's forward side.
    assert (all_frames, near_frames) == (14, 12)
    assert np.array_equal(every[4], near[4])
    for t in (1, 7):
        assert np.abs(every[t] - near[t]).max() > 0
        # The far side's shift is gone, so the output moved towards the unshifted keys' chroma.
        assert np.abs(chroma(near[t].astype(np.uint8)) - chroma(every[t].astype(np.uint8))).max() > 0.5


@pytest.mark.parametrize("mode", ["offline", "online"])
def test_a_side_near_its_key_takes_the_aligned_key_without_the_network(mode):
    keys = {0: solid_key((160, 120, 120)), 8: solid_key((120, 120, 160))}
    runs = {}
    for near in (0, 2):
        model = CountingShift()
        out = Propagator(model, ColorTask(near_key=near), Settings(mode=mode, align=True, far_side=0.0))(
            gray_frames(9), keys)
        runs[near] = ({f.index: rgb.astype(int) for f, rgb in out}, model.frames)
    (every, all_frames), (near, near_frames) = runs[0], runs[2]
    # Frames 1..7 between the keys. Online the sides of frames 1 and 2 are near key 0; offline also the backward
    # sides of frames 6 and 7, near key 8.
    assert (all_frames, near_frames) == ((14, 10) if mode == "offline" else (7, 5))
    assert np.array_equal(every[4], near[4])
    for t in (1, 2):
        assert np.abs(chroma(near[t].astype(np.uint8)) - chroma(every[t].astype(np.uint8))).max() > 0.5


class Towards(torch.nn.Module):
    """Half way from the aligned key's property to one colour's chroma: a 'network' that gains where the truth is
    that colour and loses where the aligned key is already right; counts the frames."""

    def __init__(self, rgb_value):
        super().__init__()
        self.target = torch.from_numpy(color.key_chroma(solid_key(rgb_value)).mean((1, 2)))[:, None, None]
        self.frames = 0

    def forward(self, guidance, prop):
        self.frames += len(prop)
        return 0.5 * prop + 0.5 * self.target


def test_the_key_check_gives_each_segment_the_aligned_keys_where_the_network_lost_there():
    red, blue = (160, 120, 120), (120, 120, 160)
    # Segment 0-4 between two red keys: the aligned keys are exact, the network only loses. Segment 4-8 from red to
    # blue: the network (towards blue) gains going forward, ties going backward (from blue, it stays blue).
    keys = {0: solid_key(red), 4: solid_key(red), 8: solid_key(blue)}
    runs = {}
    for check in (False, True):
        model = Towards(blue)
        out = Propagator(model, ColorTask(), Settings(mode="offline", far_side=0.0, key_check=check))(
            gray_frames(9), keys)
        runs[check] = ({f.index: rgb.astype(int) for f, rgb in out}, model.frames)
    (plain, plain_frames), (checked, checked_frames) = runs[False], runs[True]
    assert (plain_frames, checked_frames) == (12, 16)     # two sides of 6 frames; and two checks a segment
    red_chroma = chroma(np.full((24, 32, 3), red, np.uint8))
    for t in (1, 2, 3):
        assert np.abs(chroma(checked[t].astype(np.uint8)) - red_chroma).max() < 0.5
        assert np.abs(chroma(plain[t].astype(np.uint8)) - red_chroma).max() > 2
    for t in (5, 6, 7):
        assert np.array_equal(checked[t], plain[t])
    # Each segment's decision is its own: the run from key 4 gives segment 4-8 as the whole run does.
    later = Propagator(Towards(blue), ColorTask(), Settings(mode="offline", far_side=0.0, key_check=True))(
        (f for f in gray_frames(9) if f.index >= 4), {i: keys[i] for i in (4, 8)})
    assert all(np.array_equal(rgb, checked[f.index]) for f, rgb in later)


def test_the_key_check_is_offline_only():
    keys = {0: solid_key((160, 120, 120)), 4: solid_key((160, 120, 120))}
    runs = [list(Propagator(CountingShift(), ColorTask(), Settings(mode="online", key_check=check))(gray_frames(8),
                                                                                                   keys))
            for check in (False, True)]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(*runs))


def test_online_never_skips_the_network():
    keys = {0: solid_key((160, 120, 120)), 8: solid_key((120, 120, 160))}
    model = CountingShift()
    list(Propagator(model, ColorTask(), Settings(mode="online", align=True, far_side=0.5))(gray_frames(9), keys))
    assert model.frames == 7


class FirstGroup(torch.nn.Module):
    """A one-object 'mask model' whose property input has three groups (warped key, key, colour cue): returns the
    warped key's group, so the output is the aligned key."""
    cfg = None

    def forward(self, guidance, prop):
        return prop[:, :1]


def test_a_far_side_of_several_objects_keeps_each_objects_own_aligned_mask():
    from vprop.models import seg as seg_models
    from vprop.tasks.seg import SegTask

    class Probabilities(SegTask):
        def finish(self, rgb, probs):
            return probs

    FirstGroup.cfg = seg_models.seg_config(unaligned_key=True, appearance=True)
    net = seg_models.PerObject(FirstGroup())
    h, w = 24, 32
    first, last = np.zeros((h, w), np.uint8), np.zeros((h, w), np.uint8)
    first[2:8, 2:8], first[14:20, 20:28] = 1, 2        # object 2 lies where no object is at the last key
    last[2:8, 2:8] = 1
    rng = np.random.default_rng(0)
    still = rng.integers(0, 255, (h, w, 3), np.uint8)      # a still, textured frame: the flow is the identity
    frames = [VideoFrame(i, still, i, None) for i in range(11)]
    out = {f.index: p for f, p in Propagator(net, Probabilities((1, 2), True, True),
                                              Settings(mode="offline", align=True, far_side=0.25))(
        iter(frames), {0: first, 10: last})}
    # Frame 9's forward side (9 frames from key 0, 1 from key 10) is the far one: key 0's masks, aligned, each in
    # its own channel, weighed 1 against 9 in the blend by distance.
    assert out[9].shape == (2, h, w)
    assert np.allclose(out[9][1, 16, 24], 0.1, atol=0.02) and np.allclose(out[9][0, 16, 24], 0.0, atol=0.02)
    assert np.allclose(out[9][0, 4, 4], 1.0, atol=0.02)


def test_a_learned_side_blend_starts_as_the_hand_set_rule_and_can_overrule_it():
    from vprop.models.side_blend import SideBlend

    keys = {0: solid_key((160, 120, 120)), 10: solid_key((120, 120, 160))}

    def run(model, mode="offline"):
        s = Settings(mode=mode, align=False)
        return dict((f.index, rgb) for f, rgb in Propagator(model, ColorTask(), s)(gray_frames(11), keys))

    hand = run(Passthrough())
    learned = Passthrough()
    learned.side_blend = SideBlend(2, width=8, scale=4)
    assert all(np.abs(run(learned)[i].astype(int) - hand[i]).max() <= 1 for i in hand)
    with torch.no_grad():
        learned.side_blend.net[-1].bias.fill_(8.0)     # the forward side everywhere
    offline = run(learned)
    assert np.allclose(chroma(offline[7]), chroma(offline[0]), atol=1)
    assert not np.allclose(chroma(hand[7]), chroma(hand[0]), atol=1)
    online = run(learned, "online")
    assert all(np.array_equal(online[i], run(Passthrough(), "online")[i]) for i in online)
