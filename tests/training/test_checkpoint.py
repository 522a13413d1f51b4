"""Checkpoints without pickle: what a checkpoint holds comes back exactly, a resumed run is the uninterrupted
run step for step, and pickle files are refused."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from vprop.errors import InputError
from vprop.training.checkpoint import load_checkpoint, model_tensors
from vprop.training.run import build_seg

pytestmark = pytest.mark.usefixtures("one_thread")


class StepBatches:
    """Batch i of a fixed list at step i: the stream a resumed run draws starts at its step, as a PairStream's
    does (``dataset.start``), so an interrupted and an uninterrupted run see the same batches."""

    def __init__(self, batches):
        self.batches, self.dataset = batches, SimpleNamespace(start=0)

    def __iter__(self):
        return iter(self.batches[self.dataset.start:])


def _fixed_batches(trainer, n):
    stream = iter(trainer.batches)
    return [next(stream) for _ in range(n)]


def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(a, np.ndarray):
        return type(a) is type(b) and a.dtype == b.dtype and bool((a == b).all()) and a.shape == b.shape
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def test_checkpoint_round_trips_the_training_state(davis, tiny_cfg):
    trainer = build_seg(tiny_cfg("seg", davis, steps=2))
    trainer.run()
    trainer.best = np.float64(0.25)                 # validation scores are numpy numbers
    state = trainer.state()
    trainer.save()
    loaded = load_checkpoint(trainer.checkpoint_path)
    assert len(state["opt"]["state"]) == len(list(trainer.model.parameters()))
    state["opt"]["param_groups"][0]["betas"] = list(state["opt"]["param_groups"][0]["betas"])   # JSON: a list
    state["train_config"]["crop"] = list(state["train_config"]["crop"])
    for key in state:
        assert _same(state[key], loaded[key]), key


def test_resumed_run_equals_the_uninterrupted_run_step_for_step(davis, tiny_cfg, tmp_path):
    def trainer(name):
        t = build_seg(tiny_cfg("seg", davis, steps=6, workers=0, out=str(tmp_path / name)))
        t.batches = StepBatches(batches)
        return t

    batches = _fixed_batches(build_seg(tiny_cfg("seg", davis, steps=6, workers=0)), 6)
    whole, losses = trainer("whole"), {}
    whole.run(on_step=lambda step, loss: losses.setdefault("whole", []).append(loss))

    first = trainer("parts")
    def stop_at_3(step, loss):                      # what SIGINT does: finish the step, save, return
        losses.setdefault("parts", []).append(loss)
        first._stop = step == 3
    first.run(on_step=stop_at_3)
    assert first.step == 3
    torch.manual_seed(123)                          # anything the process did in between is undone by resume
    np.random.seed(123)
    second = trainer("parts")
    second.resume(second.checkpoint_path)
    second.run(on_step=lambda step, loss: losses["parts"].append(loss))
    assert second.step == 6 and losses["parts"] == losses["whole"]
    final_whole, final_parts = whole.state(), second.state()
    for key in ("model", "opt", "torch_rng", "numpy_rng"):
        assert _same(final_whole[key], final_parts[key]), key


def test_pickle_files_are_refused_for_init_and_resume(davis, tiny_cfg, tmp_path):
    trainer = build_seg(tiny_cfg("seg", davis, steps=1))
    old = tmp_path / "old.pt"
    torch.save({"model": trainer.model.state_dict()}, old)
    with pytest.raises(InputError, match=r"old.pt: a pickle \(.pt\) checkpoint is not loaded"):
        trainer.init_from(old)
    with pytest.raises(InputError, match="pickle"):
        trainer.resume(old)
    trainer.run()
    with pytest.raises(InputError, match="not a vprop training checkpoint"):
        trainer.export(tmp_path / "w.safetensors") or trainer.resume(tmp_path / "w.safetensors")


def test_init_from_a_checkpoint_takes_its_model(davis, tiny_cfg):
    first = build_seg(tiny_cfg("seg", davis, steps=2))
    first.run()
    assert model_tensors(first.checkpoint_path).keys() == first.model.state_dict().keys()
    second = build_seg(tiny_cfg("seg", davis, steps=2, seed=7))
    assert second.init_from(first.checkpoint_path) == len(first.model.state_dict())
    assert all(torch.equal(v, second.model.state_dict()[k]) for k, v in first.model.state_dict().items())
