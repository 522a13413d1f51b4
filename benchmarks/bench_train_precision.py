"""Training steps per second at each precision: is mixed precision faster on this device?

    python benchmarks/bench_train_precision.py [--device cuda] [--steps 30] [--batch-size 4]

Times ``Trainer.train_step`` (forward under autocast, backward, clipping, AdamW) of the shipped colour
architecture (TrainConfig defaults) on random 192x256 batches, after 5 warm-up steps, for fp32, bf16 and (on
CUDA) fp16. What ``--precision auto`` picks on a GPU (bf16) should be the fastest row here; on the CPU it
picks fp32.
"""
import argparse
import tempfile
import time

import torch

from vprop.tasks import color
from vprop.training.loop import Trainer, TrainConfig, model_config


def steps_per_second(precision: str, device: str, steps: int, batch_size: int) -> float:
    with tempfile.TemporaryDirectory() as out:
        cfg = TrainConfig(out=out, device=device, precision=precision, batch_size=batch_size)
        trainer = Trainer(cfg, model_config(cfg, color.guidance_channels(True), 2), batches=[])
        h, w = cfg.crop
        batch = (torch.rand(batch_size, color.guidance_channels(True), h, w), torch.rand(batch_size, 2, h, w),
                 torch.rand(batch_size, 2, h, w))
        sync = torch.cuda.synchronize if trainer.device.type == "cuda" else (lambda: None)
        for _ in range(5):
            trainer.train_step(*batch)
        sync()
        start = time.perf_counter()
        for _ in range(steps):
            trainer.train_step(*batch)
        sync()
        return steps / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=4)
    args = parser.parse_args()
    cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    name = torch.cuda.get_device_name() if cuda else f"cpu, {torch.get_num_threads()} threads"
    print(f"torch {torch.__version__}, {name}; batch {args.batch_size}, {args.steps} timed steps")
    for precision in ("fp32", "bf16") + (("fp16",) if cuda else ()):
        rate = steps_per_second(precision, "cuda" if cuda else "cpu", args.steps, args.batch_size)
        print(f"{precision:5s} {rate:7.2f} steps/s")


if __name__ == "__main__":
    main()
