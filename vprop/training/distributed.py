"""Data-parallel training under ``torchrun``: one process per device, gradients averaged by DDP.

Nothing here does anything unless the process was launched by ``torchrun`` with WORLD_SIZE > 1: single-process
training is exactly the plain loop (on the device ``device`` picks). Under torchrun: gloo on CPU, nccl on CUDA
(one GPU per local rank); each rank draws its own data (``data_seed``); only rank 0 logs, validates, checkpoints
and exports.
"""
from __future__ import annotations

import contextlib
import os

import torch
import torch.distributed as dist

RANK_SEED_STRIDE = 1000      # seeds of ranks (and of their loader workers, seed + worker id) never collide


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def enabled() -> bool:
    """Launched by torchrun with more than one process."""
    return world_size() > 1


def rank() -> int:
    return int(os.environ.get("RANK", "0")) if enabled() else 0


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0")) if enabled() else 0


def is_main() -> bool:
    return rank() == 0


def data_seed(seed: int) -> int:
    """The data seed of this rank: ``seed`` itself when not distributed."""
    return seed + RANK_SEED_STRIDE * rank()


def device(choice: str = "auto") -> torch.device:
    """The device this process trains on: ``auto`` is the GPU when there is one, ``cpu`` or ``cuda`` as asked;
    a GPU is cuda:LOCAL_RANK (under torchrun each process has its own)."""
    if choice not in ("auto", "cpu", "cuda"):
        raise ValueError(f"unknown device {choice!r}: expected auto, cpu or cuda")
    if choice == "cpu" or (choice == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError("device cuda: CUDA is not available on this machine")
    return torch.device("cuda", local_rank())


def setup(cuda: bool | None = None) -> bool:
    """Join the process group (idempotent): nccl when training on CUDA (default: when there is a GPU), else gloo.
    Returns whether training is distributed."""
    if not enabled():
        return False
    if not dist.is_initialized():
        if torch.cuda.is_available() if cuda is None else cuda:
            torch.cuda.set_device(local_rank())
            dist.init_process_group("nccl")
        else:
            dist.init_process_group("gloo")
    return True


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        if dist.get_backend() == "nccl":
            dist.barrier(device_ids=[local_rank()])
        else:
            dist.barrier()


@contextlib.contextmanager
def main_first():
    """Rank 0 runs the block first (e.g. fills a disk cache), the other ranks after it (and read the cache)."""
    if setup() and not is_main():
        barrier()
    yield
    if enabled() and is_main():
        barrier()


def wrap(module: torch.nn.Module) -> torch.nn.Module:
    """DistributedDataParallel around ``module`` when distributed, else ``module`` itself."""
    if not setup():
        return module
    from torch.nn.parallel import DistributedDataParallel

    dev = next(module.parameters()).device
    return DistributedDataParallel(module, device_ids=[dev.index] if dev.type == "cuda" else None)


def any_true(flag: bool) -> bool:
    """True on every rank if any rank's flag is (a stop signal seen by one rank stops all at the same step)."""
    if not (dist.is_available() and dist.is_initialized()):
        return flag
    on = torch.device("cuda", local_rank()) if dist.get_backend() == "nccl" else torch.device("cpu")
    t = torch.tensor([1.0 if flag else 0.0], device=on)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)
