"""``vprop segment --adapt STEPS``: the model adapted once, before the spans; its cost printed; worker processes
use the adapted copy; the caller's model is left as it was."""
from dataclasses import replace

import pytest
import torch

from support.cli import misused, run
from support.seg_media import save_palette, square_labels
from vprop.models.hub import load_weights_file, save_weights
from vprop.models.seg import seg_config
from vprop.models.tpn import SwitchableTPN
from vprop.errors import UsageError
from vprop.io.images import read_mask
from vprop.pipelines.run import RunOptions, run as run_pipeline
from vprop.pipelines.segment import seg_pipeline, segment


@pytest.fixture(scope="module")
def untrained_paper_seg(tmp_path_factory):
    """A tiny untrained seg model with the paper's decoder: its masks start far from the truth, so a few steps of
    adaptation change them (a residual one starts at the flow-warped key, which on the square is already right)."""
    torch.manual_seed(0)
    cfg = seg_config(aligned=True, hidden_channels=4, hidden_stride=4, base_width=4, max_width=16, depth=3)
    path = tmp_path_factory.mktemp("weights") / "paper-seg.safetensors"
    save_weights(SwitchableTPN(cfg), path, {"note": "untrained, for tests"})
    return path


def files(folder):
    return [(p.name, p.read_bytes()) for p in sorted(folder.iterdir())]


def test_adapted_runs_write_the_same_masks_with_one_or_two_workers(tmp_path, square_video, tiny_seg_weights):
    masks = [save_palette(tmp_path / "m0.png", square_labels(0, label=2)),
             "5:" + str(save_palette(tmp_path / "m5.png", square_labels(5, label=2)))]   # two spans
    outputs = {}
    for workers in (1, 2):
        result = run("segment", square_video, *(a for m in masks for a in ("--mask", m)), "-o", tmp_path / f"w{workers}",
                     "--weights", tiny_seg_weights, "--adapt", 3, "--workers", workers)
        assert result.exit_code == 0, result.output
        outputs[workers] = files(tmp_path / f"w{workers}")
        said = [line for line in result.output.splitlines() if "adapted the mask model" in line]
        assert len(said) == 1, result.output      # once, in the parent, never per worker
        assert "3 steps" in said[0] and " s" in said[0]
    assert len(outputs[1]) == 10 and outputs[2] == outputs[1]


def test_worker_processes_run_the_adapted_model_not_the_loaded_one(tmp_path, square_video, tiny_seg_weights,
                                                                   untrained_paper_seg):
    """The run's adaptation hook swaps in a model that differs visibly (the untrained paper decoder answers all
    background); workers must answer with it."""
    other, _ = load_weights_file(untrained_paper_seg)
    masks = {0: str(save_palette(tmp_path / "m0.png", square_labels(0))),
             5: str(save_palette(tmp_path / "m5.png", square_labels(5)))}

    def segment_with(name, adapt, workers):
        pipeline = seg_pipeline(masks=masks, output_dir=str(tmp_path / name), overlay=None, alpha=None, chain=False,
                                refine=False, refine_weights=None, full_resolution=False, device="cpu", refiner=None)
        pipeline = replace(pipeline, adapt=adapt)
        run_pipeline(square_video, pipeline, RunOptions(mode="online", weights=str(tiny_seg_weights), workers=workers))
        return [read_mask(p) for p in sorted((tmp_path / name).iterdir())]

    plain = segment_with("plain", None, 2)
    swapped = segment_with("swapped", lambda model, rgb, labels: other, 2)
    assert all(m.any() for m in plain)
    assert [i for i, m in enumerate(swapped) if m.any()] == [0, 5]      # the keys alone: the swapped model's answer


def test_the_callers_model_is_not_changed(tmp_path, square_video, tiny_seg_weights):
    model, _ = load_weights_file(tiny_seg_weights)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    segment(square_video, {0: save_palette(tmp_path / "m0.png", square_labels(0))}, tmp_path / "out", model=model,
            adapt=5)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert len(list((tmp_path / "out").iterdir())) == 10


def test_negative_steps_are_a_usage_error(tmp_path, square_video):
    mask = save_palette(tmp_path / "m0.png", square_labels(0))
    misused(run("segment", square_video, "--mask", mask, "-o", tmp_path / "out", "--adapt", -1), "--adapt")


class Stop(Exception):
    """Stands for a kill: the run ends mid-way without cleaning up its state."""


def test_a_resumed_adapted_run_writes_the_uninterrupted_masks_and_refuses_other_steps(tmp_path, square_video,
                                                                                      tiny_seg_weights):
    masks = {0: save_palette(tmp_path / "m0.png", square_labels(0)),
             5: save_palette(tmp_path / "m5.png", square_labels(5))}
    weights = str(tiny_seg_weights)
    whole = segment(square_video, masks, tmp_path / "whole", weights=weights, adapt=3)

    def stop_at_frame_7(index):
        if index == 7:
            raise Stop

    out = tmp_path / "resumed"
    with pytest.raises(Stop):
        segment(square_video, masks, out, weights=weights, adapt=3, resume=True, on_frame=stop_at_frame_7)
    with pytest.raises(UsageError, match="adapt"):    # the state records the steps: other steps are another run
        segment(square_video, masks, out, weights=weights, adapt=4, resume=True)
    written = []
    segment(square_video, masks, out, weights=weights, adapt=3, resume=True, on_frame=written.append)
    assert written == list(range(5, 10))              # the first span was not run again
    assert files(out) == files(whole)                 # the adaptation is seeded: the same copy again


@pytest.mark.parametrize("options, asked", [((), (None, False)), (("--working-side", 300), (300, False)),
                                            (("--full-resolution",), (None, True))])
def test_the_run_adapts_at_its_working_size(tmp_path, square_video, tiny_seg_weights, monkeypatch, options, asked):
    """The adaptation is handed the run's working size (``adapt_seg`` shrinks to it: tests/training/test_adapt.py)."""
    import vprop.training.adapt as adapt

    seen = []
    monkeypatch.setattr(adapt, "adapt_seg", lambda model, rgb, labels, cfg, working_side, full_resolution:
                        seen.append((working_side, full_resolution)) or adapt.Adapted(model, cfg.steps, 0.0))
    result = run("segment", square_video, "--mask", save_palette(tmp_path / "m0.png", square_labels(0)), "-o",
                 tmp_path / "out", "--weights", tiny_seg_weights, "--adapt", 2, *options)
    assert result.exit_code == 0, result.output
    assert seen == [asked]
