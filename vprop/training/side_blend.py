"""Stage 2 of a colour model: its offline blend learned (``vprop.models.side_blend``) from what the trained TPN
propagates from both sides on real video, the TPN itself frozen (``vprop train color --side-blend``).

The sides are recorded by the pipeline's own offline loop (``Propagator`` with chain repair, the look-up and the
working size's flow, as ``vprop colorize`` runs it), keys every 10 and every 20 frames of each training video,
and cached on disk (recording is most of the stage's time).
"""
from __future__ import annotations

import dataclasses
import hashlib
import inspect
import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from vprop.engine.propagator import Propagator, Settings
from vprop.errors import UsageError
from vprop.io.atomic import atomic_path
from vprop.io.video import VideoFrame
from vprop.models.hub import load_model, resolve_weights, sha256
from vprop.models.side_blend import SideBlend
from vprop.models.tpn import SwitchableTPN
from vprop.tasks.color import ColorTask, key_chroma, lab_to_rgb, rgb_to_lab
from vprop.training import distributed
from vprop.training.data import Clip, find_videos, load_clip
from vprop.training.loop import Trainer, TrainConfig, log_mse

log = logging.getLogger(__name__)

FIELDS = ("forward", "backward", "forward_conf", "backward_conf", "share", "frame", "truth")
INTERVALS, EVERY = (10, 20), 2     # keys every 10 and 20 frames; every 2nd frame between them recorded
# The stage's own training defaults (a small network on recorded frames): what the CLI fills in unless given.
DEFAULTS = {"side_blend": {"width": 16, "scale": 4}, "steps": 2000, "batch_size": 16, "crop": (96, 96), "lr": 1e-3,
            "validate_every": 500, "checkpoint_every": 500, "out": "runs/color-side-blend"}
# Errors of a well-blended chroma frame reach 1e-5; the stage-1 floor would hide their differences.
LOSS_FLOOR = 1e-6


@dataclass
class Sides:
    """A video's recorded offline frames, float16, stacked along the first axis (``FIELDS``, as ``SideBlend``
    takes them, and the true property)."""

    forward: torch.Tensor
    backward: torch.Tensor
    forward_conf: torch.Tensor
    backward_conf: torch.Tensor
    share: torch.Tensor
    frame: torch.Tensor
    truth: torch.Tensor

    def __len__(self) -> int:
        return len(self.truth)

    def item(self, i: int, window: tuple[slice, slice] = (slice(None), slice(None))) -> list[torch.Tensor]:
        """Frame ``i``'s fields in float32, each (1, C, H, W), cut to ``window`` (rows, columns)."""
        return [getattr(self, name)[i : i + 1].float() if name == "share" else
                getattr(self, name)[i : i + 1, :, window[0], window[1]].float() for name in FIELDS]


class _Recording(Propagator):
    """The offline loop, keeping the two sides of every ``every``-th frame as they are blended."""

    def __init__(self, model, task, settings, every: int):
        super().__init__(model, task, settings)
        self.every, self.rows = every, {}

    def blend_sides(self, item, backward, backward_conf, d_prev, d_next):
        if item.frame.index % self.every == 0:
            self.rows[item.frame.index] = self.side_inputs(item, backward, backward_conf, d_prev, d_next)
        return super().blend_sides(item, backward, backward_conf, d_prev, d_next)


def record_sides(model: SwitchableTPN, clip: Clip, intervals=INTERVALS, every: int = EVERY) -> Sides:
    """Both sides of the offline frames of ``clip`` (at its cached size) with keys every ``intervals`` frames,
    blended by the hand-set rule whatever ``model`` carries."""
    # at the working size (the clip's cached size), with its flow, as vprop.engine.working runs the loop
    settings = Settings(mode="offline", repair=True, lookup=True, flow=Settings.working_flow)
    tpn = without_side_blend(model)
    rgb = [lab_to_rgb(lab.astype(np.float32)) for lab in clip.lab]
    rows = []
    for interval in intervals:
        keys = {i: rgb_to_lab(rgb[i]) for i in range(0, len(rgb), interval)}
        loop = _Recording(tpn, ColorTask(), settings, every)
        for _ in loop((VideoFrame(i, image, i, None) for i, image in enumerate(rgb)), keys):
            pass
        rows += [(*sides, key_chroma(rgb_to_lab(rgb[i]))) for i, sides in sorted(loop.rows.items())]
    return Sides(*(torch.from_numpy(np.stack([row[f] for row in rows]).astype(np.float16)) for f in range(len(FIELDS))))


def without_side_blend(model: SwitchableTPN) -> SwitchableTPN:
    """``model``'s TPN alone (itself when it carries no side blend)."""
    if not model.cfg.side_blend:
        return model
    tpn = SwitchableTPN(replace(model.cfg, side_blend={}))
    tpn.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("side_blend.")})
    return tpn.eval()


def cached_sides(model: SwitchableTPN, weights_sha256: str, video: Path, short_side: int, cache_dir: Path,
                 flow: str) -> Sides | None:
    """``record_sides`` of one video, read from ``cache_dir`` when recorded before for the same TPN (by its file's
    sha256), video and size. None for a video too short to have two keys."""
    stamp = f"{weights_sha256}:{video.resolve()}:{video.stat().st_mtime_ns}:{short_side}:{INTERVALS}:{EVERY}"
    cache = Path(cache_dir) / f"sides-{video.stem}-{hashlib.sha1(stamp.encode()).hexdigest()[:10]}.pt"
    if cache.exists():
        return Sides(**torch.load(cache, weights_only=True))
    clip = load_clip(video, short_side, cache_dir, flow=flow)
    if len(clip) <= min(INTERVALS):
        return None
    sides = record_sides(model, clip)
    cache.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(cache) as tmp:
        torch.save(dataclasses.asdict(sides), tmp)
    return sides


def blended(blend: SideBlend, fields: list[torch.Tensor]) -> torch.Tensor:
    forward, backward = fields[0], fields[1]
    weight = blend(*fields[:6])
    return weight * forward + (1.0 - weight) * backward


def dev_loss(blend: SideBlend, dev: list[Sides]) -> float:
    """Mean per-frame log-MSE of the blended property over the dev videos' recorded frames."""
    losses = []
    with torch.no_grad():
        for sides in dev:
            for i in range(len(sides)):
                fields = sides.item(i)
                losses.append(log_mse(blended(blend, fields), fields[-1], LOSS_FLOOR).item())
    return sum(losses) / len(losses)


class SideCrops:
    """Endless batches of random crops of random recorded frames: the ``FIELDS`` tensors, each (B, C, h, w)."""

    def __init__(self, train: list[Sides], crop: tuple[int, int], batch: int, seed: int):
        self.train, self.crop, self.batch, self.seed = train, crop, batch, seed

    def __iter__(self):
        rng = np.random.default_rng(self.seed)
        while True:
            crops = []
            for _ in range(self.batch):
                sides = self.train[rng.integers(len(self.train))]
                height, width = sides.truth.shape[-2:]
                y, x = rng.integers(max(1, height - self.crop[0] + 1)), rng.integers(max(1, width - self.crop[1] + 1))
                window = (slice(y, y + self.crop[0]), slice(x, x + self.crop[1]))
                crops.append(sides.item(int(rng.integers(len(sides))), window))
            yield [torch.cat(parts) for parts in zip(*crops)]


class SideBlendTrainer(Trainer):
    """The training loop on the side blend's weights alone; the TPN's are ``tpn``'s, frozen. Its weights files
    keep the TPN's own metadata (``tpn_meta``: how it was trained) under ``"tpn"``."""

    def __init__(self, cfg: TrainConfig, tpn: SwitchableTPN, batches, validate=None, tpn_meta: dict | None = None):
        super().__init__(cfg, replace(tpn.cfg, side_blend=dict(cfg.side_blend)), batches, validate,
                         best=("logmse/side-blend", "min"))
        self.tpn_meta = tpn_meta or {}
        self.model.load_state_dict({**self.model.state_dict(), **tpn.state_dict()})
        self.model.requires_grad_(False)
        self.model.side_blend.requires_grad_(True)
        self.opt = torch.optim.AdamW(self.model.side_blend.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    def loss(self, *fields: torch.Tensor) -> torch.Tensor:
        return log_mse(blended(self.model.side_blend, fields), fields[-1], LOSS_FLOOR)

    def export(self, path: Path, **metadata) -> None:
        super().export(path, tpn=self.tpn_meta, **metadata)


def side_blend_validation(dev: list[Sides]):
    """The dev videos' log-MSE with the learned blend beside the hand-set rule's (an untrained blend is that
    rule; measured once)."""
    hand_rule = dev_loss(SideBlend(2, width=1, scale=1), dev)
    return lambda model: {"logmse/hand-rule": hand_rule, "logmse/side-blend": dev_loss(model.side_blend, dev)}


def build_side_blend(cfg: TrainConfig) -> SideBlendTrainer:
    if distributed.enabled():
        raise UsageError("--side-blend", "trains in one process (minutes on a CPU): run it without torchrun")
    settings = [name for name in inspect.signature(SideBlend).parameters if name != "property_channels"]
    if set(cfg.side_blend) - set(settings) or not all(isinstance(v, int) and v > 0 for v in cfg.side_blend.values()):
        raise UsageError("side_blend", f"expected positive whole numbers for {' and '.join(settings)}, got "
                                       f"{cfg.side_blend}")
    weights = resolve_weights("color", cfg.init)      # fetched and checked once, then loaded from there
    model, tpn_meta = load_model("color", str(weights))
    tpn = without_side_blend(model)
    fingerprint = sha256(weights)
    paths = find_videos([Path(p) for p in cfg.data])
    train, dev = [], []
    for path in paths:
        sides = cached_sides(tpn, fingerprint, path, cfg.short_side, Path(cfg.cache_dir), cfg.flow)
        if sides is not None:
            (dev if path.stem in set(cfg.dev) else train).append(sides)
            log.info("sides of %s: %d frames", path.stem, len(sides))
    if not train:
        raise UsageError("--data", f"no training video longer than {min(INTERVALS)} frames")
    batches = SideCrops(train, tuple(cfg.crop), cfg.batch_size, cfg.seed)
    return SideBlendTrainer(cfg, tpn, batches, side_blend_validation(dev) if dev else None,
                            tpn_meta.get("tpn", tpn_meta))
