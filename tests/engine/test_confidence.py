"""Per-frame confidence from the frame loop, the report it writes, and the keys it suggests."""
import csv
import json

import cv2
import numpy as np
import pytest

from vprop.engine.confidence import ConfidenceReport, load_report, region_trust
from vprop.engine.propagator import Propagator, Settings
from vprop.engine.suggest import chain_costs, predicted, spread_keys, suggest_keys
from vprop.errors import InputError
from vprop.eval.baselines import Passthrough
from vprop.io.video import VideoFrame
from vprop.tasks.color import ColorTask

H, W = 64, 96


def texture(seed=0, h=H, w=W + 200):
    """A smooth random texture wider than the frame, so a camera pan has something to track."""
    noise = np.random.default_rng(seed).random((h // 4, w // 4, 3)).astype(np.float32)
    return (cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 1) * 255).astype(np.uint8)


def panning(n, speed=2, cut=None):
    """A camera panning over a texture at ``speed`` px/frame; from frame ``cut`` on, a different scene."""
    scenes = [texture(0), texture(1)]
    for i in range(n):
        scene = scenes[cut is not None and i >= cut]
        yield VideoFrame(i, np.ascontiguousarray(scene[:, i * speed:i * speed + W]), i, None)


def confidences(frames, keys, mode="online", align=True):
    task = ColorTask()
    key_data = {i: task.prepare_key(f.rgb) for i, f in enumerate(panning(max(keys) + 1)) if i in keys}
    seen = []
    out = list(Propagator(Passthrough(), task, Settings(mode=mode, align=align))(frames, key_data, seen.append))
    assert [c.index for c in seen] == [f.index for f, _ in out]
    return seen


def test_confidence_falls_with_distance_from_the_key():
    seen = confidences(panning(24, speed=3), {0})
    values = [c.confidence for c in seen]
    assert values[0] == 1.0 and seen[0].trust is None
    assert all(0 <= v <= 1 for v in values)
    # Pixels panned out of view and accumulated flow error: trust falls as the chain grows.
    assert values[1] > values[8] > values[16] > values[23]
    assert all(b <= a + 0.02 for a, b in zip(values[1:], values[2:]))
    assert seen[10].trust.shape == (H, W) and seen[10].key_before == 0


def test_confidence_drops_where_the_flow_chain_breaks():
    seen = confidences(panning(20, speed=2, cut=10), {0})
    values = [c.confidence for c in seen]
    assert values[9] > 0.5
    assert values[10] < 0.5 * values[9]      # a scene cut: the aligned key no longer looks like the frame


def test_offline_confidence_uses_both_keys():
    seen = confidences(panning(21, speed=3), {0, 20}, mode="offline")
    middle = seen[10]
    assert middle.key_before == 0 and middle.key_after == 20
    # Each side's trust falls with the distance from its own key, and halfway the two sides nearly agree.
    assert seen[5].forward > middle.forward > seen[15].forward
    assert seen[15].backward > middle.backward > seen[5].backward
    assert abs(middle.forward - middle.backward) < 0.1
    # Near a key the frame is trusted more than halfway between the keys.
    assert seen[2].confidence > middle.confidence < seen[18].confidence


def test_report_has_one_value_per_frame(tmp_path):
    report = ConfidenceReport(tmp_path / "new" / "rep", video="v.mp4", task="color", mode="online", worst=2)
    frames = list(panning(30, speed=3))
    task = ColorTask()
    keys = {0: task.prepare_key(frames[0].rgb), 15: task.prepare_key(frames[15].rgb)}
    for frame, rgb in Propagator(Passthrough(), task, Settings(mode="online"))(iter(frames), keys, report):
        report.picture(frame.index, lambda: rgb)
    report.write()
    loaded = load_report(tmp_path / "new" / "rep")
    assert [f["index"] for f in loaded.frames] == list(range(30))
    assert loaded.keys == [0, 15] and loaded.mode == "online"
    with open(tmp_path / "new" / "rep" / "confidence.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["index"]) for r in rows] == list(range(30))
    assert np.allclose([float(r["confidence"]) for r in rows], loaded.confidence)
    assert cv2.imread(str(tmp_path / "new" / "rep" / "confidence.png")).shape == (400, 800, 3)
    pictures = sorted(p.name for p in (tmp_path / "new" / "rep").glob("least-confident-*.png"))
    # The two least confident frames, each the last before a key, spaced apart.
    assert pictures == ["least-confident-00014.png", "least-confident-00029.png"]
    with pytest.raises(InputError, match="already holds a confidence report"):
        ConfidenceReport(tmp_path / "new" / "rep", video="v.mp4", task="color", mode="online")


def fake_report(tmp_path, steps, keys, mode="online"):
    """A report of a video whose flow step into frame s keeps exp(-steps[s]) of the trust."""
    values = np.exp(-np.cumsum(steps))
    frames = [{"index": i, "confidence": v, "step": float(np.exp(-c)), "key_before": max(k for k in keys if k <= i),
               "key_after": None, "forward": v, "backward": None} for i, (v, c) in enumerate(zip(values, steps))]
    for k in keys:
        frames[k].update(confidence=1.0, key_after=k, forward=1.0, backward=1.0)
    (tmp_path / "confidence.json").write_text(json.dumps({"video": "v", "task": "seg", "mode": mode,
                                                          "keys": keys, "frames": frames}))
    return load_report(tmp_path)


def test_suggestion_goes_where_confidence_is_lost(tmp_path):
    # Each flow step keeps nearly all trust for 30 frames, then loses much for 10 (fast motion), then keeps it.
    steps = np.r_[np.full(30, 0.002), np.full(10, 0.15), np.full(40, 0.002)]
    steps[0] = 0
    report = fake_report(tmp_path, steps, [0])
    (t,) = suggest_keys(report, 1)
    assert 30 <= t <= 40
    # With the new key there, the predicted confidence of the frames after the fast part is high again.
    assert predicted(steps, [0, t], "online")[45:].min() > 0.9


def test_suggestions_are_spaced_apart(tmp_path):
    steps = np.full(100, 0.05)
    steps[0] = 0
    chosen = sorted(suggest_keys(fake_report(tmp_path, steps, [0]), 3, min_gap=10))
    assert len(chosen) == 3 and np.diff([0] + chosen).min() >= 10
    # Uniform loss: the keys split the video into roughly equal parts.
    assert np.ptp(np.diff([0] + chosen + [100])) <= 12


def test_offline_suggestion_splits_the_longest_stretch(tmp_path):
    steps = np.full(100, 0.05)
    steps[0] = 0
    (t,) = suggest_keys(fake_report(tmp_path, steps, [0, 20, 99], mode="offline"), 1)
    assert 50 <= t <= 70


def test_spread_keys_are_even_where_the_costs_are_even_and_go_to_the_hard_part():
    costs = np.full(90, 0.05)
    costs[0] = 0
    assert sorted(spread_keys(costs, [0], 2, 5, "online")) == [29, 59]      # thirds (within a frame)
    assert sorted(spread_keys(costs, [0, 30, 60], 2, 5, "online")) == [15, 45]
    costs[40:50] = 0.5      # fast motion from frame 40 to 49: one key just after it (online), one before it
    chosen = sorted(spread_keys(costs, [0], 2, 5, "online"))
    assert chosen[0] < 40 and 45 <= chosen[1] <= 50
    assert chain_costs(costs, [0] + chosen, "online").sum() < chain_costs(costs, [0, 30, 60], "online").sum()
    # Offline each frame takes the cheaper side: the key goes where that sum is least, never worse than midway.
    (t,) = spread_keys(costs, [0, 89], 1, 5, "offline")
    assert t != 44
    assert chain_costs(costs, [0, 89, t], "offline").sum() < chain_costs(costs, [0, 44, 89], "offline").sum()


def test_region_trust_is_the_mean_around_the_objects():
    trust = np.ones((40, 80), np.float32)
    trust[:, 40:] = 0.0                 # lost on the right half
    objects = np.zeros((80, 160), bool)     # at twice the map's size
    objects[20:40, 20:40] = True        # left: rows and columns 10..19 of the map, grown by 2 or 3 each side
    assert region_trust(trust, objects) == 1.0
    objects[20:40, 100:120] = True      # and one on the right: the box spans both halves
    assert 0.3 < region_trust(trust, objects) < 0.7
    assert region_trust(trust, np.zeros_like(objects)) is None


def test_measured_rule_goes_where_the_run_lost_confidence(tmp_path):
    # The steps are alike everywhere, but the run itself lost confidence after the second key (something the
    # single steps do not show, such as an occluded object): the measured rule goes there, the step rule cannot.
    steps = np.full(80, 0.01)
    steps[0] = 0
    report = fake_report(tmp_path, steps, [0, 40])
    for frame in report.frames[41:]:
        frame["forward"] = frame["confidence"] = frame["confidence"] * np.exp(-0.1 * (frame["index"] - 40))
    (t,) = suggest_keys(report, 1, rule="measured")
    assert 40 < t < 80
    assert suggest_keys(report, 1, rule="step")[0] < 40     # equal stretches: the first one
    with pytest.raises(ValueError, match="unknown rule"):
        suggest_keys(report, 1, rule="guess")


@pytest.mark.parametrize("content, words", [
    (None, "holds no confidence.json"),
    ("{not json", "not a vprop confidence report"),
    ('{"video": "v", "task": "seg", "mode": "online", "keys": [0], "frames": [{"index": 0}]}',
     "not a vprop confidence report"),
    ('{"video": "v", "task": "seg", "mode": "online", "keys": [0], '
     '"frames": [{"index": 0, "confidence": 3, "step": 1}]}', "within 0..1"),
    ('{"video": "v", "task": "seg", "mode": "online", "keys": [0], '
     '"frames": [{"index": 0, "confidence": 1, "step": 1, "area": 1.5}]}', "within 0..1"),
])
def test_bad_reports_are_one_line_errors(tmp_path, content, words):
    if content is not None:
        (tmp_path / "confidence.json").write_text(content)
    with pytest.raises(InputError, match=words.replace(".", r"\.")):
        load_report(tmp_path)
