"""Seg and HDR training pairs from tiny synthetic data: shapes, ranges, finiteness, the log mean."""
import itertools

import numpy as np
import pytest
import torch

from vprop.tasks import hdr as hdr_task
from vprop.training.hdr_data import HDRPairs, find_panoramas, load_panoramas, log_mean
from vprop.training.seg_data import SegPairs, load_seg_clips, seg_bce

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("aligned", [True, False])
def test_seg_pairs_shapes_and_ranges(davis, tmp_path, aligned):
    clips = load_seg_clips(sorted(davis.glob("*.mp4")), 48, tmp_path / "cache")
    assert clips[0].labels.shape == (len(clips[0]), 48, 64) and clips[0].present.all()
    assert set(np.unique(clips[0].labels)) == {0, 1}
    data = SegPairs(clips, (32, 48), 4, aligned, seed=0)
    for guidance, prop, truth in itertools.islice(iter(data), 6):
        assert guidance.shape == (9 if aligned else 6, 32, 48)
        assert prop.shape == truth.shape == (1, 32, 48)
        for t in (guidance, prop, truth):
            assert t.dtype == torch.float32 and torch.isfinite(t).all()
        assert 0 <= prop.min() and prop.max() <= 1 and set(truth.unique().tolist()) <= {0.0, 1.0}
        assert truth.sum() > 0          # the square is inside every frame


def test_seg_bce_reads_output_as_probability():
    target = torch.tensor([[1.0, 0.0]])
    good, bad = torch.tensor([[0.99, 0.01]]), torch.tensor([[0.2, 0.8]])
    assert seg_bce(good, target) < seg_bce(bad, target)
    wrong = torch.tensor([[0.0, 1.0]], requires_grad=True)     # clamped values still get a gradient
    seg_bce(wrong, target).backward()
    assert wrong.grad[0, 0] < 0 < wrong.grad[0, 1]


def test_hdr_pairs_shapes_and_log_mean(panoramas):
    panos = load_panoramas(find_panoramas([panoramas]))
    mean = log_mean(panos)
    expected = np.mean([np.log(p + hdr_task.EPS).mean() for p in panos])
    assert mean == pytest.approx(expected, rel=1e-4)
    data = HDRPairs(panos, (64, 48), (32, 48), 4, True, seed=0, log_mean=mean)
    for guidance, prop, truth in itertools.islice(iter(data), 6):
        assert guidance.shape == (9, 32, 48) and prop.shape == truth.shape == (3, 32, 48)
        for t in (guidance, prop, truth):
            assert t.dtype == torch.float32 and torch.isfinite(t).all()
        assert 0 <= guidance[:6].min() and guidance[:6].max() <= 1          # LDR frames in 0..1
        assert truth.min() >= np.log(hdr_task.EPS) - mean - 1e-4          # U = log(H + 0.01) - log_mean


def test_perturbed_masks_keep_range_and_shape_and_change_some():
    from vprop.training.seg_data import perturb_masks

    torch.manual_seed(0)
    masks = torch.zeros(12, 1, 40, 48)
    masks[:, :, 10:30, 12:36] = 1.0
    out = perturb_masks(masks, 3)
    assert out.shape == masks.shape and out.min() >= 0 and out.max() <= 1
    changed = [(o - m).abs().sum() > 0 for o, m in zip(out, masks)]
    assert 0 < sum(changed) < len(masks)          # about a third stay as they are
    area = out.flatten(1).sum(1) / masks[0].sum()
    assert ((area - 1).abs() < 0.7).all()         # a few pixels of error, not a different object


def recorded_presets(monkeypatch, module) -> list[str]:
    """The FLOW_PRESETS names ``module`` builds its FlowEstimators with, from now on."""
    made = []

    class Recorded(module.FlowEstimator):
        def __init__(self, preset="medium"):
            made.append(preset)
            super().__init__(preset)

    monkeypatch.setattr(module, "FlowEstimator", Recorded)
    return made


def test_colour_clips_keep_the_flow_they_were_made_with(davis, tmp_path, monkeypatch):
    """TrainConfig.flow reaches the clips' flows, and each preset has its own cache entry."""
    from vprop.training import data

    made = recorded_presets(monkeypatch, data)
    path = sorted(davis.glob("*.mp4"))[0]
    fast = data.load_clip(path, 48, tmp_path, flow="fast-full")
    medium = data.load_clip(path, 48, tmp_path)
    assert made == ["fast-full", "medium"] and len(list(tmp_path.glob("*.npz"))) == 2
    assert not np.array_equal(fast.to_prev, medium.to_prev)
    again = data.load_clip(path, 48, tmp_path, flow="fast-full")     # read back, not recomputed
    assert made == ["fast-full", "medium"] and np.array_equal(again.to_prev, fast.to_prev)


def test_clip_cache_written_by_two_processes_at_once(davis, tmp_path, monkeypatch):
    """Ranks sharing a cache directory may finish the same clip together: neither write may break the other."""
    import threading

    from vprop.training import data

    both_writing = threading.Barrier(2, timeout=60)
    save = np.savez

    def savez_together(*args, **kwargs):
        save(*args, **kwargs)
        both_writing.wait()                     # both have written, neither has put its file in place yet

    monkeypatch.setattr(data.np, "savez", savez_together)
    path, cache, clips, errors = sorted(davis.glob("*.mp4"))[0], tmp_path / "cache", [], []

    def load():
        try:
            clips.append(data.load_clip(path, 48, cache))
        except Exception as error:  # noqa: BLE001 - the test reports whichever failed
            errors.append(error)

    workers = [threading.Thread(target=load) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == [] and len(clips) == 2
    entries = list(cache.iterdir())             # one entry, no temporary left behind
    assert len(entries) == 1 and entries[0].name.startswith(f"{path.stem}-") and entries[0].suffix == ".npz"
    monkeypatch.setattr(data.np, "savez", save)
    assert np.array_equal(data.load_clip(path, 48, cache).lab, clips[0].lab)


def test_colour_validation_runs_both_methods_with_the_runs_flow(davis, tmp_path, monkeypatch):
    from vprop.engine import propagator
    from vprop.models.tpn import SwitchableTPN, TPNConfig
    from vprop.training.data import load_clip
    from vprop.training.run import color_validation

    clip = load_clip(sorted(davis.glob("*.mp4"))[0], 48, tmp_path, flow="fast-full")
    made = recorded_presets(monkeypatch, propagator)
    model = SwitchableTPN(TPNConfig("color", 5, 2, hidden_channels=4, hidden_stride=2, base_width=4, max_width=8,
                                    depth=3, decoder="residual", extra={"aligned": True})).eval()
    scores = color_validation([clip], intervals=(3,), limit=7, flow="fast-full")(model)
    assert set(scores) == {"psnr@K3/flow", "psnr@K3/vprop"} and all(v > 10 for v in scores.values())
    assert made and set(made) == {"fast-full"}
