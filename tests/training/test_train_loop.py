"""A few training steps lower the seg and HDR losses; resume continues from the saved step."""
import pytest
import torch

from vprop.training.run import build_hdr, build_seg

pytestmark = pytest.mark.usefixtures("one_thread")


def _fixed_batch_loss(trainer, batch):
    trainer.model.eval()
    with torch.no_grad():
        return trainer.loss(*batch).item()


def test_seg_training_lowers_loss(davis, tiny_cfg):
    trainer = build_seg(tiny_cfg("seg", davis, steps=12, lr=3e-3))
    assert trainer.model.cfg.task == "seg" and trainer.model.cfg.property_channels == 1
    batch = next(iter(trainer.batches))
    before = _fixed_batch_loss(trainer, batch)
    trainer.batches = [batch] * 100               # overfit one batch: a deterministic, quick signal
    trainer.run()
    assert _fixed_batch_loss(trainer, batch) < before
    assert trainer.step == 12 and (trainer.out / "checkpoint.safetensors").exists()


def test_hdr_training_lowers_loss_and_keeps_log_mean(panoramas, tiny_cfg):
    trainer = build_hdr(tiny_cfg("hdr", panoramas, steps=12, lr=3e-3))
    assert trainer.model.cfg.task == "hdr" and trainer.model.cfg.property_channels == 3
    assert isinstance(trainer.model.cfg.extra["log_mean"], float)
    batch = next(iter(trainer.batches))
    before = _fixed_batch_loss(trainer, batch)
    trainer.batches = [batch] * 100
    trainer.run()
    assert _fixed_batch_loss(trainer, batch) < before


def test_resume_continues_from_saved_step(davis, tiny_cfg):
    first = build_seg(tiny_cfg("seg", davis, steps=3))
    first.run()
    saved = {k: v.clone() for k, v in first.model.state_dict().items()}
    second = build_seg(tiny_cfg("seg", davis, steps=5))
    second.resume(second.checkpoint_path)
    assert second.step == 3
    assert all(torch.equal(saved[k], v) for k, v in second.model.state_dict().items())
    second.run()
    assert second.step == 5
    steps = [line.split(",")[0] for line in (second.out / "log.csv").read_text().splitlines()[1:]]
    assert steps == ["1", "2", "3", "4", "5"]


def test_resumed_data_stream_is_new_and_reproducible(davis, tiny_cfg):
    def first_batch(trainer):
        return next(iter(trainer.batches))[2]

    fresh = build_seg(tiny_cfg("seg", davis, steps=3, workers=0))
    start = first_batch(fresh)
    fresh.run()
    resumed = [build_seg(tiny_cfg("seg", davis, steps=5, workers=0)) for _ in range(2)]
    for trainer in resumed:
        trainer.resume(trainer.checkpoint_path)
    assert torch.equal(first_batch(resumed[0]), first_batch(resumed[1]))    # the same step, the same pairs
    assert not torch.equal(first_batch(resumed[0]), start)                  # not a replay of the first ones


def test_validation_hooks_report_baselines(davis, panoramas, tmp_path):
    import math

    from vprop.models.seg import seg_config
    from vprop.models.tpn import SwitchableTPN, TPNConfig
    from vprop.training.hdr_data import load_panorama
    from vprop.training.run import hdr_validation, seg_validation

    arch = dict(hidden_channels=4, hidden_stride=2, base_width=4, max_width=16, depth=3, decoder="residual")
    validate = seg_validation([davis / "square.mp4"], tmp_path / "cache", frames=6, short_side=48)
    scores = validate(SwitchableTPN(seg_config(True, **arch)).eval())
    assert set(scores) == {f"{m}/{name}" for m in "JF" for name in ("copy", "flow", "vprop")}
    assert all(0 <= v <= 1 for v in scores.values())
    assert validate(SwitchableTPN(seg_config(True, **arch)).eval())["J/flow"] == scores["J/flow"]

    from vprop.models.seg import refine_config
    coarse = SwitchableTPN(seg_config(True, **arch)).eval()
    validate = seg_validation([davis / "square.mp4"], tmp_path / "cache", frames=6, short_side=48, coarse=coarse)
    scores = validate(SwitchableTPN(refine_config(**arch)).eval())
    assert set(scores) == {f"{m}/{name}" for m in "JF" for name in ("copy", "flow", "vprop", "vprop+refine")}
    assert all(0 <= v <= 1 for v in scores.values())
    again = validate(SwitchableTPN(refine_config(**arch)).eval())
    assert again["J/vprop"] == scores["J/vprop"]          # SEG(t) does not train here: measured once

    model = SwitchableTPN(TPNConfig(task="hdr", guidance_channels=9, property_channels=3,
                                    extra={"aligned": True, "log_mean": -1.0}, **arch)).eval()
    validate = hdr_validation(load_panorama(panoramas / "alpha.exr"), -1.0, frames=7, interval=3, size=(64, 48))
    scores = validate(model)
    assert set(scores) == {"logrmse/flow", "logrmse/inverted-ldr", "logrmse/vprop", "logrmse-raw/vprop"}
    assert all(math.isfinite(v) for v in scores.values())


def test_init_from_unrelated_weights_is_a_user_error(davis, tiny_cfg, tmp_path):
    from vprop.errors import InputError

    from safetensors.torch import save_file

    trainer = build_seg(tiny_cfg("seg", davis, steps=1))
    unrelated = tmp_path / "other.safetensors"
    save_file({"encoder.weight": torch.zeros(3)}, str(unrelated))
    with pytest.raises(InputError, match="no tensor matches"):
        trainer.init_from(unrelated)


def test_init_from_a_missing_or_damaged_weights_file_is_a_user_error(davis, tiny_cfg, tmp_path):
    from vprop.errors import InputError

    trainer = build_seg(tiny_cfg("seg", davis, steps=1))
    with pytest.raises(InputError, match="no such weights file"):
        trainer.init_from(tmp_path / "absent.safetensors")
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(b"\x00" * 64)
    with pytest.raises(InputError, match="not a readable safetensors file"):
        trainer.init_from(damaged)


def test_best_validation_model_is_kept_beside_the_last(davis, tiny_cfg):
    from vprop.models.hub import load_weights_file

    trainer = build_seg(tiny_cfg("seg", davis, steps=4, validate_every=1))
    scores = iter([0.30, 0.50, 0.40, 0.45])
    trainer.validate = lambda model: {"J/vprop": next(scores), "J/flow": 0.35}
    trainer.run()
    model, meta = load_weights_file(trainer.out / "best.safetensors")
    assert meta["steps"] == 2 and meta["validation"]["J/vprop"] == 0.50
    assert trainer.best == 0.50
    resumed = build_seg(tiny_cfg("seg", davis, steps=4, validate_every=1))
    resumed.resume(trainer.checkpoint_path)
    assert resumed.best == 0.50                   # a resumed run keeps comparing with the best so far
