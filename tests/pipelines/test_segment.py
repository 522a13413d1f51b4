"""The seg task through the shared frame loop: baselines, object indices, keys, the chained protocol."""
import av
import cv2
import numpy as np
import pytest
import torch

from support.seg_media import SIZE, save_palette, square_frame, square_labels
from vprop.engine.masks import propagate_masks
from vprop.engine.propagator import Settings
from vprop.engine.working import working_short_side
from vprop.errors import InputError
from vprop.eval.baselines import Passthrough
from vprop.eval.metrics import jaccard
from vprop.eval import seg as eval_seg
from vprop.eval.seg import evaluate_seg, seg_methods
from vprop.io.images import DAVIS_PALETTE, read_mask
from vprop.io.preview import overlay
from vprop.io.keyframes import parse_mask_option
from vprop.io.video import VideoFrame
from vprop.models import seg as seg_models
from vprop.models.hub import load_weights_file
from vprop.models.tpn import SwitchableTPN
from vprop.pipelines.segment import segment
from vprop.tasks import seg


def frames(n=10):
    for i in range(n):
        yield VideoFrame(i, square_frame(i, *SIZE), i, None)


def decoded(path):
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def mean_j(outputs, label=1):
    return np.mean([jaccard(out == label, square_labels(f.index) > 0) for f, out in outputs if f.index > 0])


def test_flow_follows_the_moving_square_better_than_copying():
    key = {0: square_labels(0)}
    copy = list(propagate_masks(Passthrough(), frames(), key, Settings(mode="online", align=False)))
    flow = list(propagate_masks(Passthrough(), frames(), key, Settings(mode="online", align=True)))
    assert [f.index for f, _ in flow] == list(range(10))
    assert mean_j(flow) > mean_j(copy) + 0.2
    assert mean_j(flow) > 0.8


def test_mask_confidence_around_the_objects_ignores_the_background_elsewhere():
    rng = np.random.default_rng(0)

    def flickering():       # far below the square, noise that changes every frame: no flow can follow it
        for f in frames():
            f.rgb[38:] = rng.integers(0, 256, f.rgb[38:].shape, dtype=np.uint8)
            yield f

    def confidences(video):
        seen = []
        outs = list(propagate_masks(Passthrough(), video, {0: square_labels(0)},
                                    Settings(mode="online", align=True), on_confidence=seen.append))
        assert [c.index for c in seen] == [f.index for f, _ in outs] and seen[0].object == 1.0
        return np.array([c.confidence for c in seen]), np.array([c.object for c in seen])
    clean, noisy = confidences(frames()), confidences(flickering())
    assert (clean[0] - noisy[0])[3:].min() > 0.1             # the whole frame's confidence falls with the noise
    assert np.abs(clean[1] - noisy[1]).max() < 0.05          # the square's does not
    assert clean[1][-1] < clean[0][-1]                       # the moving square is harder than the still background


def test_mask_confidence_reports_the_area_the_output_covers():
    seen = []
    outs = list(propagate_masks(Passthrough(), frames(), {0: square_labels(0)}, Settings(mode="online", align=True),
                                on_confidence=seen.append))
    areas = [c.area for c in seen]
    assert areas == [np.count_nonzero(labels) / labels.size for _, labels in outs]
    assert areas[0] == np.count_nonzero(square_labels(0)) / square_labels(0).size and 0 < min(areas)


def test_evaluate_seg_runs_the_baselines_through_the_loop():
    truth = {i: square_labels(i) for i in range(10)}
    scores = evaluate_seg(lambda: frames(), truth, seg_methods(None), keep=True)
    assert list(scores) == ["copy", "flow"]
    assert scores["flow"].J > scores["copy"].J
    assert scores["flow"].F > scores["copy"].F
    assert scores["flow"].frames == list(range(1, 10))
    assert set(scores["flow"].samples) == set(range(1, 10))


def test_evaluate_seg_segments_at_the_working_side_asked_for_the_baselines_at_the_frames_size(monkeypatch):
    model = SwitchableTPN(seg_models.seg_config(hidden_channels=4, base_width=4, max_width=8, depth=3))
    sides = {}

    def recorded(net, frames, keys, settings, working_short_side=None, **kwargs):
        sides[net] = working_short_side
        return iter(())
    monkeypatch.setattr(eval_seg, "propagate_masks", recorded)
    methods = seg_methods(model)
    truth = {i: square_labels(i) for i in range(3)}
    evaluate_seg(lambda: frames(), truth, methods)
    assert sides[methods["vprop"][0]] == 240 and sides[methods["flow"][0]] is None
    evaluate_seg(lambda: frames(), truth, methods, working_side=320)
    assert sides[methods["vprop"][0]] == 320 and sides[methods["flow"][0]] is None
    evaluate_seg(lambda: frames(), truth, methods, full_resolution=True)
    assert sides[methods["vprop"][0]] is None and sides[methods["flow"][0]] is None


def test_multi_object_indices_are_kept_exactly():
    labels = square_labels(0, label=7)
    labels[2:10, 40:60] = 3
    outs = list(propagate_masks(Passthrough(), frames(), {0: labels}, Settings(mode="online", align=True)))
    for _, out in outs:
        assert out.dtype == np.uint8
        assert set(np.unique(out)) <= {0, 3, 7}
    assert set(np.unique(outs[-1][1])) == {0, 3, 7}


def test_per_object_model_shares_the_guidance_and_serves_any_object_count():
    torch.manual_seed(0)
    model = SwitchableTPN(seg_models.seg_config(hidden_channels=4, base_width=4, max_width=8, depth=3, decoder="residual"))
    net = seg_models.PerObject(model).eval()
    g, p = torch.rand(2, 9, 32, 40), torch.rand(2, 3, 32, 40)
    with torch.no_grad():
        out = net(g, p)
        one = model(g[:1], p[:1, 1:2])
    assert out.shape == p.shape
    assert torch.allclose(out[:1, 1:2], one, atol=1e-5)
    assert net(g, p[:, :0]).shape == (2, 0, 32, 40)


def test_to_labels_background_is_one_minus_max():
    probs = np.zeros((2, 1, 3), np.float32)
    probs[0, 0] = [0.9, 0.3, 0.6]
    probs[1, 0] = [0.1, 0.2, 0.7]
    assert seg.to_labels(probs, (4, 9)).tolist() == [[4, 0, 9]]
    assert seg.to_labels(np.zeros((0, 2, 2), np.float32), ()).tolist() == [[0, 0], [0, 0]]


def test_offline_two_keys_and_chained_protocol():
    keys = {0: square_labels(0), 6: square_labels(6, label=2)}
    offline = list(propagate_masks(Passthrough(), frames(), keys, Settings(mode="offline", align=True)))
    assert [f.index for f, _ in offline] == list(range(10))
    assert set(np.unique(offline[8][1])) == {0, 2}        # after the last key only its object
    chained = list(propagate_masks(Passthrough(), frames(), {0: square_labels(0)},
                                   Settings(mode="online", align=True), chain=True))
    assert [f.index for f, _ in chained] == list(range(10))
    assert mean_j(chained) > 0.8


def test_frames_before_the_first_key_are_propagated_backward():
    outs = list(propagate_masks(Passthrough(), frames(), {3: square_labels(3)}, Settings(mode="online")))
    chained = list(propagate_masks(Passthrough(), frames(), {3: square_labels(3)}, Settings(mode="online"),
                                   chain=True))
    for run in (outs, chained):
        assert [f.index for f, _ in run] == list(range(10))
        assert np.array_equal(run[3][1], square_labels(3))
        # the square is 2 px further left each frame before the key: a copied key would score J < 0.6 at frame 0
        assert min(jaccard(out == 1, square_labels(f.index) > 0) for f, out in run[:3]) > 0.85


def test_segment_writes_palette_pngs_and_an_overlay(tmp_path, square_video, tiny_seg_weights):
    labels = square_labels(0, label=5)
    mask = save_palette(tmp_path / "m.png", labels)
    seen = []
    out = segment(square_video, {0: mask}, tmp_path / "out", weights=str(tiny_seg_weights),
                  overlay=tmp_path / "ov.mp4", on_frame=seen.append)
    assert seen == list(range(10))
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"{i:05d}.png" for i in range(10)]
    assert np.array_equal(read_mask(out / "00000.png"), labels)
    last = read_mask(out / "00009.png")
    assert set(np.unique(last)) == {0, 5}
    assert jaccard(last == 5, square_labels(9) > 0) > 0.5
    # the overlay is the video with the key's object tinted and outlined in its palette colour
    inputs, shown = decoded(square_video), decoded(tmp_path / "ov.mp4")
    assert len(shown) == 10 and shown[0].shape == (SIZE[1], SIZE[0], 3)
    inside = cv2.erode(labels, np.ones((5, 5), np.uint8)) > 0   # away from the outline and 4:2:0 chroma edges
    drawn = overlay(inputs[0], labels, DAVIS_PALETTE).astype(int)
    assert np.abs(shown[0].astype(int) - drawn)[inside].mean() < 6
    assert np.abs(shown[0].astype(int) - inputs[0])[inside].mean() > 40


def test_tiny_seg_weights_rebuild_a_one_channel_seg_model(tiny_seg_weights):
    model, meta = load_weights_file(tiny_seg_weights)
    assert model.cfg.task == "seg" and model.cfg.property_channels == 1
    assert model.cfg.guidance_channels == seg.guidance_channels(True) == 9


def test_empty_mask_warns_and_gives_empty_masks(tmp_path, square_video, tiny_seg_weights):
    mask = save_palette(tmp_path / "empty.png", np.zeros((48, 64), np.uint8))
    with pytest.warns(UserWarning, match="no object"):
        out = segment(square_video, {0: mask}, tmp_path / "out", weights=str(tiny_seg_weights))
    assert all(not read_mask(p).any() for p in out.iterdir())


def test_same_aspect_mask_is_resized_nearest(tmp_path, square_video, tiny_seg_weights):
    big = np.kron(square_labels(0, label=3), np.ones((2, 2), np.uint8))
    mask = save_palette(tmp_path / "big.png", big)
    with pytest.warns(UserWarning, match="resized"):
        out = segment(square_video, {0: mask}, tmp_path / "out", weights=str(tiny_seg_weights))
    assert np.array_equal(read_mask(out / "00000.png"), square_labels(0, label=3))


def test_key_beyond_the_end_fails_before_work(tmp_path, square_video, tiny_seg_weights):
    mask = save_palette(tmp_path / "m.png", square_labels(0))
    with pytest.raises(InputError, match="beyond"):
        segment(square_video, {0: mask, 50: mask}, tmp_path / "out", weights=str(tiny_seg_weights))
    assert not (tmp_path / "out").exists()


def test_parse_mask_option():
    assert parse_mask_option("a.png") == (0, __import__("pathlib").Path("a.png"))
    assert parse_mask_option("50:b.png")[0] == 50
    assert parse_mask_option("C:\\m.png")[0] == 0


def test_working_size_segments_small_and_answers_at_the_frames_size():
    """Frames above the working size are segmented small; the labels come back at the frame's size, the key
    frame's own mask exactly, the original frames are what is yielded, and the moving square is still tracked."""
    key = {0: square_labels(0)}
    small = list(propagate_masks(Passthrough(), frames(), key, Settings(mode="online", align=True),
                                 working_short_side=SIZE[1] // 2))
    assert [f.index for f, _ in small] == list(range(10))
    assert all(out.shape == (SIZE[1], SIZE[0]) and f.rgb.shape[:2] == (SIZE[1], SIZE[0]) for f, out in small)
    assert np.array_equal(small[0][1], square_labels(0))
    copy = list(propagate_masks(Passthrough(), frames(), key, Settings(mode="online", align=False)))
    assert mean_j(small) > mean_j(copy)


def test_models_segment_at_their_training_size():
    model = SwitchableTPN(seg_models.seg_config(hidden_channels=4, base_width=4, max_width=8, depth=3, decoder="residual"))
    assert working_short_side(model) == 240                      # weights from before it was recorded
    model.cfg.extra["short_side"] = 180
    assert working_short_side(seg_models.PerObject(model)) == 180
    assert working_short_side(Passthrough()) is None             # the baselines run at the frames' size
