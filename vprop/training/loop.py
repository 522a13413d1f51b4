"""The training loop: switchable loss, AdamW with cosine decay, atomic checkpoints, resume, CSV log, validation,
on the CPU or a GPU (mixed precision there)."""
from __future__ import annotations

import contextlib
import copy
import csv
import dataclasses
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from vprop.errors import InputError
from vprop.models.tpn import SwitchableTPN, TPNConfig
from vprop.stop_signals import handling_stop_signals
from vprop.training import distributed
from vprop.training.checkpoint import load_checkpoint, model_tensors, save_checkpoint

log = logging.getLogger(__name__)
PRECISIONS = ("auto", "fp32", "bf16", "fp16")

@dataclass
class TrainConfig:
    task: str = "color"
    data: list[str] = field(default_factory=list)
    dev: list[str] = field(default_factory=list)          # video names (stems) held out for validation
    out: str = "runs/color"
    steps: int = 10000
    batch_size: int = 4
    crop: tuple[int, int] = (192, 256)
    short_side: int = 240
    max_distance: int = 40
    lr: float = 1e-3
    weight_decay: float = 1e-4
    switch: bool = True                                   # the switchable loss (eq. 9); False: basic TPN
    lam: float = 0.1
    aligned: bool = True
    # Colour: the flow of the training pairs and of validation (a vprop.engine.flow.FLOW_PRESETS name).
    flow: str = "medium"
    decoder: str = "residual"
    hidden_stride: int = 4
    hidden_channels: int = 32
    base_width: int = 8
    max_width: int = 128
    depth: int = 6
    checkpoint_every: int = 200
    validate_every: int = 1000
    log_every: int = 50
    seed: int = 0
    init: str | None = None                               # checkpoint or weights to start from
    cache_dir: str = "runs/cache"
    workers: int = 1
    grad_clip: float = 1.0
    refine: bool = False                                  # seg: train the SEG(t+s) refiner on SEG(t)'s masks
    coarse_weights: str | None = None                     # the SEG(t) weights it refines (default: shipped)
    # refine, out of fold: SEG(t) weights -> the training videos they never saw; each video's coarse masks come
    # from its own entry, so the refiner learns the errors SEG(t) makes on unseen video (unlisted videos: unused)
    coarse_folds: dict[str, list[str]] = field(default_factory=dict)
    unaligned_key: bool = True                            # seg: the network also sees the key's unaligned mask
    appearance: bool = True                               # seg: ... and the colour likelihood (key or coarse mask)
    perturb_coarse: int = 4                               # refine: coarse-mask errors added, px (0: none)
    # colour, stage 2: the offline blend of the two sides learned for the frozen TPN in ``init`` (default: the
    # shipped one); SideBlend's arguments (vprop.training.side_blend). Empty: stage 1, the TPN itself.
    side_blend: dict = field(default_factory=dict)
    device: str = "auto"                                  # auto (the GPU when there is one), cpu or cuda
    precision: str = "auto"                               # autocast: auto (bf16 on a GPU that has it), fp32, bf16, fp16


def model_config(cfg: TrainConfig, guidance_channels: int, property_channels: int) -> TPNConfig:
    return TPNConfig(
        task=cfg.task, guidance_channels=guidance_channels, property_channels=property_channels,
        hidden_channels=cfg.hidden_channels, hidden_stride=cfg.hidden_stride, base_width=cfg.base_width,
        max_width=cfg.max_width, depth=cfg.depth, decoder=cfg.decoder,
        extra={"aligned": cfg.aligned, "switch": cfg.switch, "short_side": cfg.short_side, "flow": cfg.flow},
    )


def log_mse(pred: torch.Tensor, target: torch.Tensor, floor: float = 1e-5) -> torch.Tensor:
    """Mean over samples of log MSE: tracks per-frame PSNR better than a plain MSE over the batch. ``floor``: below
    it an error no longer counts for more as it shrinks."""
    per_sample = ((pred - target) ** 2).flatten(1).mean(1)
    return torch.log(per_sample + floor).mean()


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The dtype the forward pass runs in under autocast; None: plain float32.

    ``auto`` is bfloat16 on a GPU that supports it (its range is float32's: no loss scaling needed) and float32
    elsewhere. The propagation scans run in float32 whatever this says (``vprop.ops``).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("precision fp16 needs a CUDA device (bf16 works on the CPU)")
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def _widened(source: torch.Size, own: torch.Size) -> bool:
    """A conv weight with more input channels (dim 1) than the source and otherwise the same shape."""
    return (len(source) == len(own) == 4 and source[0] == own[0] and source[2:] == own[2:]
            and source[1] < own[1])


class Pair(torch.nn.Module):
    """The training forward as one ``forward`` (what DistributedDataParallel hooks): the switchable pair when a
    target is given, else the plain forward pass."""

    def __init__(self, model: SwitchableTPN):
        super().__init__()
        self.model = model

    def forward(self, guidance, prop, target=None):
        if target is None:
            return self.model(guidance, prop)
        return self.model.forward_pair(guidance, prop, target)


def switchable_loss(net: torch.nn.Module, guidance, prop, truth, loss_fn: Callable, switch: bool = True,
                    lam: float = 0.1) -> torch.Tensor:
    """The training loss of a batch: ``loss_fn`` on the forward pass, plus (``switch``, eq. 9) ``lam`` times
    ``loss_fn`` of the switched reverse pass against the key's property. ``net``: a ``Pair``, or one wrapped in
    DistributedDataParallel."""
    if switch:
        forward, reverse = net(guidance, prop, truth)
        return loss_fn(forward, truth) + lam * loss_fn(reverse, prop[:, : reverse.shape[1]])
    return loss_fn(net(guidance, prop), truth)


class Trainer:
    """``loss_fn(pred, target)``: the per-task loss (default log-MSE, as colour and HDR train). The model trains on
    ``cfg.device`` under autocast at ``cfg.precision`` (float16 with a gradient scaler). Under torchrun
    (``vprop.training.distributed``) the model is wrapped in DistributedDataParallel and only rank 0 logs,
    validates and checkpoints; otherwise nothing changes.

    ``best``: (validation metric, "max" or "min"): each time it improves, the model is also written to
    ``OUT/best.safetensors``: training on past the point where held-out quality peaks loses nothing.
    """

    def __init__(self, cfg: TrainConfig, model_cfg: TPNConfig, batches, validate: Callable | None = None,
                 loss_fn: Callable = log_mse, best: tuple[str, str] | None = None):
        self.cfg, self.batches, self.validate, self.loss_fn = cfg, batches, validate, loss_fn
        self.best_metric, self.best = best, None
        self.device = distributed.device(cfg.device)
        self.distributed = distributed.setup(self.device.type == "cuda")
        self.main = distributed.is_main()
        self.amp_dtype = autocast_dtype(cfg.precision, self.device)
        torch.manual_seed(cfg.seed)
        self.model = SwitchableTPN(model_cfg).to(self.device)
        self.net = distributed.wrap(Pair(self.model))
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)
        self.step = 0
        self.out = Path(cfg.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.checkpoint_path = self.out / "checkpoint.safetensors"
        self._stop = False
        self.stopped_by: int | None = None     # the signal that ended run() before cfg.steps, if one did

    def lr_at(self, step: int) -> float:
        warmup = min(200, self.cfg.steps // 10)
        if step < warmup:
            return self.cfg.lr * (step + 1) / warmup
        progress = (step - warmup) / max(1, self.cfg.steps - warmup)
        return self.cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))

    def state(self) -> dict:
        return {
            "model": self.model.state_dict(), "opt": self.opt.state_dict(), "step": self.step,
            "model_config": self.model.cfg.to_json(), "train_config": dataclasses.asdict(self.cfg),
            "torch_rng": torch.get_rng_state(), "numpy_rng": np.random.get_state(legacy=False), "best": self.best,
            "cuda_rng": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
        }

    def resume(self, path: Path) -> None:
        """Continue from a checkpoint: model, optimiser, step, best score, random generators, loss scale."""
        state = load_checkpoint(path)
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        self.step = state["step"]
        self.best = state["best"]
        torch.set_rng_state(state["torch_rng"])
        np.random.set_state(state["numpy_rng"])
        if state["cuda_rng"] and self.device.type == "cuda":
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        if state["scaler"] and self.scaler.is_enabled():
            self.scaler.load_state_dict(state["scaler"])
        for dataset in getattr(self.batches, "datasets", [getattr(self.batches, "dataset", None)]):
            if hasattr(dataset, "start"):     # new pairs from here on, not a replay of those already trained on
                dataset.start = self.step

    def init_from(self, path: Path) -> int:
        """Fine-tune start: weights only, from a checkpoint or an exported weights file (safetensors both).

        Tensors whose name and shape match are copied, the rest keep their initialisation: a model for one task
        can start from another task's weights (the guidance U-Net transfers; the property layers differ).
        Returns how many tensors were copied.
        """
        source = model_tensors(path)        # the tensors alone: the file's architecture may differ
        own = self.model.state_dict()
        matching = {k: v.to(own[k].dtype) for k, v in source.items() if k in own and own[k].shape == v.shape}
        for k, v in source.items():
            if k in own and k not in matching and _widened(v.shape, own[k].shape):
                # More input channels than the source (e.g. an added unaligned key): the new ones start at
                # zero, so the model starts as the source did and learns to use them.
                wide = torch.zeros_like(own[k])
                wide[:, : v.shape[1]] = v.to(wide.dtype)
                matching[k] = wide
        if not matching:
            raise InputError(path, "no tensor matches this model's architecture")
        self.model.load_state_dict({**own, **matching})
        return len(matching)

    def save(self) -> None:
        save_checkpoint(self.checkpoint_path, self.state())

    def _on_signal(self, signum, frame):
        self._stop = True
        self.stopped_by = signum

    def loss(self, guidance, prop, truth) -> torch.Tensor:
        return switchable_loss(self.net, guidance, prop, truth, self.loss_fn, self.cfg.switch, self.cfg.lam)

    def export(self, path: Path, **metadata) -> None:
        """The model as a weights file, with its task, step and training config beside ``metadata``."""
        from vprop.models.hub import save_weights
        save_weights(self.model, Path(path), {"task": self.model.cfg.task, "steps": self.step,
                                              "train_config": dataclasses.asdict(self.cfg), **metadata})

    def _keep_best(self, scores: dict[str, float]) -> None:
        if self.best_metric is None or self.best_metric[0] not in scores:
            return
        name, direction = self.best_metric
        value = scores[name]
        if self.best is not None and (value <= self.best if direction == "max" else value >= self.best):
            return
        self.best = value
        self.export(self.out / "best.safetensors", validation=scores)
        log.info("step %d: best %s so far, wrote %s", self.step, name, self.out / "best.safetensors")

    def _validation_model(self):
        return self.model if self.device.type == "cpu" else copy.deepcopy(self.model).cpu()

    def train_step(self, *batch: torch.Tensor) -> float:
        """One optimiser step on a batch (the tensors ``loss`` takes); returns its loss."""
        batch = [t.to(self.device, non_blocking=True) for t in batch]
        for group in self.opt.param_groups:
            group["lr"] = self.lr_at(self.step)
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            loss = self.loss(*batch)
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.opt)       # clip the true gradients, not the scaled ones
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.scaler.step(self.opt)
        self.scaler.update()
        self.step += 1
        return loss.item()

    def run(self, on_step: Callable[[int, float], None] | None = None) -> None:
        """Train to ``cfg.steps`` (or a stop signal); ``on_step(step, loss)`` after each step, on rank 0 only."""
        log_path = self.out / "log.csv"
        new_log = not log_path.exists()
        main = self.main
        log.info("training %s on %s (%s), step %d of %d", self.model.cfg.task, self.device,
                 "float32" if self.amp_dtype is None else f"autocast {str(self.amp_dtype)[6:]}", self.step, self.cfg.steps)
        # A stop signal ends the loop after the step it came in, and the checkpoint below is saved
        with handling_stop_signals(self._on_signal), \
                (open(log_path, "a", newline="") if main else contextlib.nullcontext()) as log_file:
            table = csv.writer(log_file) if main else None
            if main and new_log:
                table.writerow(["step", "loss", "lr", "seconds", "metric", "value"])
            t0, running = time.time(), []
            self.model.train()
            batches = iter(self.batches)
            while self.step < self.cfg.steps and not (distributed.any_true(self._stop) if self.distributed
                                                      else self._stop):
                running.append(self.train_step(*next(batches)))
                if not main:
                    continue
                if on_step:
                    on_step(self.step, running[-1])
                if self.step % self.cfg.log_every == 0:
                    mean = float(np.mean(running))
                    elapsed = time.time() - t0
                    log.info("step %d  loss %.4f  lr %.2e  %.0fs", self.step, mean, self.lr_at(self.step), elapsed)
                    table.writerow([self.step, f"{mean:.5f}", f"{self.lr_at(self.step):.3e}", f"{elapsed:.0f}", "",
                                    ""])
                    log_file.flush()
                    running = []
                if self.step % self.cfg.checkpoint_every == 0:
                    self.save()
                if self.validate and self.step % self.cfg.validate_every == 0:
                    self.model.eval()
                    scores = self.validate(self._validation_model())
                    for name, value in scores.items():
                        log.info("step %d  dev %s %.3f", self.step, name, value)
                        table.writerow([self.step, "", "", f"{time.time() - t0:.0f}", name, f"{value:.4f}"])
                    log_file.flush()
                    self._keep_best(scores)
                    self.model.train()
            if main:
                self.save()
        if self.distributed:
            distributed.barrier()       # rank 0's checkpoint is on disk before any rank returns
            distributed.cleanup()
