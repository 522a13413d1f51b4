"""`vprop train seg|hdr` on tiny data: trains a few steps and exports weights of the right task."""
import pytest
from click.testing import CliRunner

from support.cli import bad, misused
from vprop.cli import main
from vprop.models.hub import load_model

pytestmark = pytest.mark.usefixtures("one_thread")

TINY_TOML = """
hidden_channels = 4
hidden_stride = 2
base_width = 4
max_width = 16
depth = 3
crop = [32, 48]
short_side = 48
max_distance = 4
log_every = 1
"""


@pytest.mark.parametrize("task", ["seg", "hdr"])
def test_train_cli_exports_weights(task, davis, panoramas, tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_TOML + f'cache_dir = "{tmp_path / "cache"}"\n')
    data = davis if task == "seg" else panoramas
    export = tmp_path / f"{task}.safetensors"
    result = CliRunner().invoke(main, ["train", task, "--data", str(data), "--config", str(config),
                                       "--out", str(tmp_path / "run"), "--steps", "3", "--batch-size", "2",
                                       "--workers", "0", "--export", str(export)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert result.output.splitlines()[-1] == f"exported {export}"
    model, meta = load_model(task, str(export))
    assert model.cfg.task == task and meta["task"] == task and meta["steps"] == 3
    assert model.cfg.property_channels == (1 if task == "seg" else 3)
    if task == "hdr":
        assert "log_mean" in model.cfg.extra


def test_train_cli_rejects_unknown_task():
    result = CliRunner().invoke(main, ["train", "depth", "--data", "."])
    misused(result, "'depth' is not one of 'color', 'seg', 'hdr'")


def test_train_seg_refine_on_the_masks_of_a_seg_model(davis, tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_TOML + f'cache_dir = "{tmp_path / "cache"}"\n')
    common = ["--data", str(davis), "--config", str(config), "--steps", "2", "--batch-size", "2", "--workers", "0"]
    coarse = tmp_path / "seg.safetensors"
    result = CliRunner().invoke(main, ["train", "seg", *common, "--out", str(tmp_path / "a"), "--export", str(coarse)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    refine = tmp_path / "refine.safetensors"
    result = CliRunner().invoke(main, ["train", "seg", *common, "--out", str(tmp_path / "b"), "--refine",
                                       "--coarse-weights", str(coarse), "--export", str(refine)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    model, meta = load_model("seg-refine", str(refine))
    assert meta["task"] == "seg-refine" and meta["train_config"]["switch"] is False
    assert model.cfg.guidance_channels == 4 and model.cfg.extra["coarse"] == "seg.safetensors"


def test_train_refine_is_for_seg_only(panoramas):
    result = CliRunner().invoke(main, ["train", "hdr", "--data", str(panoramas), "--refine"])
    misused(result, "--refine trains the segmentation refiner: use it with 'vprop train seg'")


def test_init_from_another_task_copies_the_matching_layers(davis, panoramas, tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_TOML + f'cache_dir = "{tmp_path / "cache"}"\n')
    seg_file = tmp_path / "seg.safetensors"
    common = ["--config", str(config), "--steps", "1", "--batch-size", "2", "--workers", "0"]
    result = CliRunner().invoke(main, ["train", "seg", "--data", str(davis), *common, "--out", str(tmp_path / "a"),
                                       "--export", str(seg_file)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    result = CliRunner().invoke(main, ["train", "hdr", "--data", str(panoramas), *common, "--out",
                                       str(tmp_path / "b"), "--init", str(seg_file)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "initialised" in result.output   # the guidance U-Net transfers, the 1- vs 3-channel layers do not


def test_train_cli_device_progress_and_quiet(davis, tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_TOML + f'cache_dir = "{tmp_path / "cache"}"\n')
    common = ["train", "seg", "--data", str(davis), "--config", str(config), "--batch-size", "2", "--workers", "0"]
    result = CliRunner().invoke(main, [*common, "--out", str(tmp_path / "a"), "--steps", "2", "--device", "cpu"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "training seg on cpu (float32)" in result.output          # logging, through rich
    assert "train seg" in result.output and "2/2" in result.output and "steps/s" in result.output
    assert "loss 0." in result.output                                # the progress bar's loss
    result = CliRunner().invoke(main, [*common, "--out", str(tmp_path / "a"), "--steps", "3", "--resume", "-q"])
    assert result.exit_code == 0 and result.output == "resumed at step 2\n"
    assert (tmp_path / "a" / "log.csv").read_text().splitlines()[-1].startswith("3,")


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a GPU")
def test_train_cli_cuda_without_a_gpu_is_a_usage_error(davis):
    result = CliRunner().invoke(main, ["train", "seg", "--data", str(davis), "--device", "cuda"])
    misused(result, "CUDA is not available")
    result = CliRunner().invoke(main, ["train", "seg", "--data", str(davis), "--precision", "fp16"])
    misused(result, "fp16 needs a CUDA device")


def test_train_cli_names_an_unknown_flow_preset(davis, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('flow = "fastest"\n')
    result = CliRunner().invoke(main, ["train", "color", "--data", str(davis), "--config", str(config)])
    misused(result, "unknown preset 'fastest'")


def test_train_cli_refuses_pickle_checkpoints(davis, tmp_path):
    import torch

    config = tmp_path / "tiny.toml"
    config.write_text(TINY_TOML + f'cache_dir = "{tmp_path / "cache"}"\n')
    common = ["train", "seg", "--data", str(davis), "--config", str(config), "--steps", "1", "--workers", "0"]
    old = tmp_path / "old.pt"
    torch.save({"model": {}}, old)
    bad(CliRunner().invoke(main, [*common, "--out", str(tmp_path / "a"), "--init", str(old)]),
        "old.pt", "pickle (.pt) checkpoint is not loaded")
    run = tmp_path / "b"
    run.mkdir()
    torch.save({"step": 1}, run / "checkpoint.pt")                    # a run of an older vprop
    bad(CliRunner().invoke(main, [*common, "--out", str(run), "--resume"]), "checkpoint.pt", "pickle")


def test_train_seg_refine_out_of_fold_takes_each_videos_masks_from_the_model_that_never_saw_it(tmp_path, tiny_cfg):
    import torch

    from support.train_data import make_davis
    from vprop.models.hub import load_model as load
    from vprop.training.run import Interleaved, build_seg

    data = make_davis(tmp_path / "davis", names=("north", "south", "west"))
    fold_a, fold_b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    seg_run = build_seg(tiny_cfg("seg", data, steps=1))
    seg_run.export(fold_a)
    seg_run.run()                                   # one step: a second, different model
    seg_run.export(fold_b)
    cfg = tiny_cfg("seg", data, steps=2, refine=True, dev=["west"], out=str(tmp_path / "refine"),
                   coarse_folds={str(fold_a): ["north"], str(fold_b): ["south"]})
    trainer = build_seg(cfg)
    assert isinstance(trainer.batches, Interleaved)
    for stream, (weights, videos) in zip(trainer.batches.streams, cfg.coarse_folds.items()):
        assert [c.name for c in stream.batches.dataset.seg_clips] == videos
        own = load("seg", weights)[0].state_dict()
        assert all(torch.equal(v, own[k]) for k, v in stream.coarse.state_dict().items())
    trainer.run()
    assert trainer.step == 2
    trainer.export(tmp_path / "refine.safetensors")
    model, _ = load("seg-refine", str(tmp_path / "refine.safetensors"))
    assert model.cfg.extra["coarse"] == "a.safetensors, b.safetensors"


def test_train_seg_refine_out_of_fold_refuses_a_held_out_video(davis, tmp_path):
    config = tmp_path / "folds.toml"
    weights = tmp_path / "fold.safetensors"
    config.write_text(TINY_TOML + f'cache_dir = "{tmp_path / "cache"}"\n[coarse_folds]\n"{weights}" = ["square"]\n')
    result = CliRunner().invoke(main, ["train", "seg", "--data", str(davis), "--config", str(config), "--dev", "square",
                                       "--out", str(tmp_path / "run"), "--workers", "0"])
    bad(result, "coarse_folds: square: held out (dev), not training videos")


def test_a_stop_signal_keeps_the_checkpoint_exports_nothing_and_resume_finishes(davis, tmp_path, monkeypatch):
    import os
    import signal

    from vprop.training.loop import Trainer

    config = tmp_path / "tiny.toml"
    config.write_text(TINY_TOML + f'cache_dir = "{tmp_path / "cache"}"\n')
    export, run = tmp_path / "seg.safetensors", tmp_path / "run"
    args = ["train", "seg", "--data", str(davis), "--config", str(config), "--out", str(run), "--steps", "5",
            "--batch-size", "2", "--workers", "0", "--export", str(export)]
    step = Trainer.train_step

    def killed_after_two(self, *batch):
        loss = step(self, *batch)
        if self.step == 2:
            os.kill(os.getpid(), signal.SIGTERM)     # as `kill` would: the handler runs before the next step
        return loss

    monkeypatch.setattr(Trainer, "train_step", killed_after_two)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 143, result.output + repr(result.exception)
    assert result.output.splitlines()[-1] == (f"interrupted (SIGTERM) at step 2 of 5: checkpoint "
                                              f"{run / 'checkpoint.safetensors'}; --resume continues; nothing exported")
    assert not export.exists() and (run / "checkpoint.safetensors").exists()
    monkeypatch.setattr(Trainer, "train_step", step)
    result = CliRunner().invoke(main, [*args, "--resume"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "resumed at step 2" in result.output
    assert load_model("seg", str(export))[1]["steps"] == 5
