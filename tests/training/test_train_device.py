"""Where and in what precision training runs: the CPU path is tested here; the CUDA test runs where there is a
GPU (skipped otherwise)."""
import math

import pytest
import torch

from vprop.training import distributed
from vprop.training.loop import autocast_dtype
from vprop.training.run import build_seg

pytestmark = pytest.mark.usefixtures("one_thread")

CPU = torch.device("cpu")


def test_precision_choices():
    assert autocast_dtype("auto", CPU) is None and autocast_dtype("fp32", CPU) is None
    assert autocast_dtype("bf16", CPU) is torch.bfloat16
    with pytest.raises(ValueError, match="fp16 needs a CUDA device"):
        autocast_dtype("fp16", CPU)
    with pytest.raises(ValueError, match="unknown precision"):
        autocast_dtype("int8", CPU)


def test_device_choices():
    assert distributed.device("cpu") == CPU
    assert distributed.device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            distributed.device("cuda")


def test_bf16_autocast_trains_on_the_cpu(davis, tiny_cfg):
    """The autocast path the GPU takes, on the CPU: the forward pass really runs in bfloat16, the weights and
    the optimiser stay float32."""
    plain = build_seg(tiny_cfg("seg", davis, steps=2, device="cpu", precision="fp32"))
    mixed = build_seg(tiny_cfg("seg", davis, steps=2, device="cpu", precision="bf16"))
    batch = next(iter(plain.batches))
    first_plain, first_mixed = plain.train_step(*batch), mixed.train_step(*batch)
    assert math.isfinite(first_mixed) and first_mixed != first_plain and abs(first_mixed - first_plain) < 0.05
    assert all(p.dtype == torch.float32 for p in mixed.model.parameters())
    mixed.run()
    assert mixed.step == 2 and mixed.checkpoint_path.exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_training_checkpoints_and_resumes(davis, tiny_cfg):
    trainer = build_seg(tiny_cfg("seg", davis, steps=3, device="cuda"))
    assert next(trainer.model.parameters()).is_cuda
    trainer.run()
    resumed = build_seg(tiny_cfg("seg", davis, steps=4, device="cuda"))
    resumed.resume(resumed.checkpoint_path)
    assert resumed.step == 3
    resumed.run()
    assert resumed.step == 4
