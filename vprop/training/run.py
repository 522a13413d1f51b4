"""Assemble a training run for a task from a TrainConfig: data, model, validation against the baselines."""
from __future__ import annotations

from pathlib import Path

import torch

from vprop.evaluate import color_methods, evaluate_color
from vprop.io.video import VideoFrame
from vprop.tasks import color
from vprop.training.data import Clip, ColorPairs, find_videos, load_clips
from vprop.training.loop import Trainer, TrainConfig, model_config


def _clip_frames(clip: Clip, limit: int):
    """Replay a cached clip as decoded frames (ground truth colour), for validation."""
    def frames():
        for i in range(min(limit, len(clip))):
            yield VideoFrame(i, color.lab_to_rgb(clip.lab[i].astype("float32")), i, None)
    return frames


def color_validation(dev: list[Clip], intervals=(10, 30), limit: int = 61):
    """Mean PSNR over the dev clips of vprop (online) beside chained flow, at each interval.

    The baseline does not change during training: it is measured once and remembered.
    """
    baseline: dict[str, float] = {}

    def validate(model) -> dict[str, float]:
        out = {}
        for k in intervals:
            sums = {}
            for clip in dev:
                methods = color_methods(model, "online")
                methods.pop("copy")
                if f"psnr@K{k}/flow" in baseline:
                    methods.pop("flow")
                for name, s in evaluate_color(_clip_frames(clip, limit), k, methods).items():
                    sums.setdefault(name, []).append(s.psnr)
            for name, values in sums.items():
                out[f"psnr@K{k}/{name}"] = sum(values) / len(values)
        baseline.update({k: v for k, v in out.items() if k.endswith("/flow")})
        return {**baseline, **out}
    return validate


def build_color(cfg: TrainConfig) -> Trainer:
    paths = find_videos([Path(p) for p in cfg.data])
    train_paths = [p for p in paths if p.stem not in set(cfg.dev)]
    dev_paths = [p for p in paths if p.stem in set(cfg.dev)]
    clips = load_clips(train_paths, cfg.short_side, Path(cfg.cache_dir))
    dev = load_clips(dev_paths, cfg.short_side, Path(cfg.cache_dir)) if dev_paths else []
    data = ColorPairs(clips, tuple(cfg.crop), cfg.max_distance, cfg.aligned, cfg.seed)
    loader = torch.utils.data.DataLoader(data, batch_size=cfg.batch_size, num_workers=cfg.workers,
                                         persistent_workers=cfg.workers > 0)
    mcfg = model_config(cfg, color.guidance_channels(cfg.aligned), 2)
    return Trainer(cfg, mcfg, loader, color_validation(dev) if dev else None)
