"""Assemble a training run for a task from a TrainConfig: data, model, validation against the baselines."""
from __future__ import annotations

import dataclasses
import signal
from pathlib import Path

import torch

from vprop.errors import UsageError
from vprop.eval.color import color_methods, evaluate_color
from vprop.io.video import VideoFrame
from vprop.models.tpn import model_aligned
from vprop.tasks import color
from vprop.training import distributed
from vprop.training.data import Clip, ColorPairs, find_videos, load_clips
from vprop.training.loop import Trainer, TrainConfig, model_config
from vprop.training.side_blend import build_side_blend

# Held out when a run names no --dev: never trained on, validated on (seg: the first SEG_VALIDATE of them).
SEG_DEV = ("breakdance-flare", "elephant", "lucia", "rhino", "swing")
HDR_DEV = ("sunset", "interior")
SEG_VALIDATE = 2


def _ignore_stop_signals(_worker: int) -> None:
    # A Ctrl-C or kill reaches the whole process group: the loader workers must outlive it so the main process
    # can finish its step and write its checkpoint.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def data_loader(data, cfg: TrainConfig) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(data, batch_size=cfg.batch_size, num_workers=cfg.workers,
                                       persistent_workers=cfg.workers > 0, worker_init_fn=_ignore_stop_signals)


def _clip_frames(clip: Clip, limit: int):
    """Replay a cached clip as decoded frames (ground truth colour), for validation."""
    def frames():
        for i in range(min(limit, len(clip))):
            yield VideoFrame(i, color.lab_to_rgb(clip.lab[i].astype("float32")), i, None)
    return frames


def color_validation(dev: list[Clip], flow: str, intervals=(10, 30), limit: int = 61):
    """Mean PSNR over the dev clips of vprop (online) beside chained flow, at each interval, both with ``flow``.

    The baseline does not change during training: it is measured once and remembered.
    """
    baseline: dict[str, float] = {}

    def validate(model) -> dict[str, float]:
        out = {}
        for k in intervals:
            sums = {}
            for clip in dev:
                methods = {name: (m, dataclasses.replace(s, flow=flow))
                           for name, (m, s) in color_methods(model, "online").items() if name != "copy"}
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
    if cfg.side_blend:
        return build_side_blend(cfg)
    paths = find_videos([Path(p) for p in cfg.data])
    train_paths = [p for p in paths if p.stem not in set(cfg.dev)]
    dev_paths = [p for p in paths if p.stem in set(cfg.dev)]
    with distributed.main_first():      # rank 0 fills the flow cache, the others read it
        clips = load_clips(train_paths, cfg.short_side, Path(cfg.cache_dir), cfg.flow)
        dev = load_clips(dev_paths, cfg.short_side, Path(cfg.cache_dir), cfg.flow) if dev_paths else []
    data = ColorPairs(clips, tuple(cfg.crop), cfg.max_distance, cfg.aligned, distributed.data_seed(cfg.seed))
    loader = data_loader(data, cfg)
    mcfg = model_config(cfg, color.guidance_channels(cfg.aligned), 2)
    validate = color_validation(dev, cfg.flow) if dev else None
    return Trainer(cfg, mcfg, loader, validate, best=("psnr@K10/vprop", "max"))


# -- segmentation ---------------------------------------------------------------------------------------

def seg_validation(dev_videos: list[Path], cache_dir: Path, frames: int = 40, short_side: int = 240,
                   coarse: torch.nn.Module | None = None):
    """Mean J and F over the dev videos of the model in training beside copy and chained flow, first mask the
    only key, on the first ``frames`` frames at ``short_side``. With ``coarse`` (a SEG(t) model) the model in
    training is its SEG(t+s) refiner, scored beside SEG(t) too. What does not change in training is measured
    once."""
    from vprop.eval.seg import evaluate_seg, seg_methods
    from vprop.training.seg_data import load_seg_clip

    dev = [load_seg_clip(p, short_side, cache_dir, max_frames=frames) for p in dev_videos]   # rank 0 only
    trained = "vprop" if coarse is None else "vprop+refine"
    baseline: dict[str, float] = {}

    def validate(model) -> dict[str, float]:
        sums: dict[str, list[float]] = {}
        for sc in dev:
            methods = seg_methods(model, "online") if coarse is None else seg_methods(coarse, refiner=model)
            for name in {k.split("/", 1)[1] for k in baseline}:
                methods.pop(name)
            masks = {i: sc.labels[i] for i in range(len(sc)) if sc.present[i]}
            for name, s in evaluate_seg(_clip_frames(sc.clip, frames), masks, methods).items():
                sums.setdefault(f"J/{name}", []).append(s.J)
                sums.setdefault(f"F/{name}", []).append(s.F)
        out = {k: sum(v) / len(v) for k, v in sums.items()}
        baseline.update({k: v for k, v in out.items() if not k.endswith(f"/{trained}")})
        return {**baseline, **out}
    return validate


class CoarseMasks:
    """SEG(t+s) training batches from SEG(t) ones: the frozen SEG(t) model's output is the mask to refine, the
    target frame (and that mask) the guidance; the truth is unchanged. ``perturb``: the ``max_pixels`` of
    ``perturb_masks`` (0: the masks as they are)."""

    def __init__(self, batches, coarse: torch.nn.Module, perturb: int = 4, appearance: bool = False):
        self.batches, self.coarse, self.perturb, self.appearance = batches, coarse.eval(), perturb, appearance
        self.aligned = model_aligned(coarse)
        self.dataset = batches.dataset

    def __iter__(self):
        from vprop.models import seg as seg_models
        from vprop.training.seg_data import perturb_masks
        for guidance, prop, truth in self.batches:
            with torch.no_grad():
                mask = self.coarse(guidance, prop).clamp(0.0, 1.0)
                if self.perturb:
                    mask = perturb_masks(mask, self.perturb)
            likelihood = seg_models.key_likelihood(prop, getattr(self.coarse, "cfg", None), mask.shape[1])
            rgb = seg_models.target_rgb(guidance, self.aligned)
            yield (*seg_models.refine_inputs(rgb, mask, self.appearance, likelihood), truth)


class Interleaved:
    """Batches from several streams in turn, one per step: each SEG(t) model's masks get an equal share."""

    def __init__(self, streams: list):
        self.streams = streams
        self.datasets = [s.dataset for s in streams]

    def __iter__(self):
        iterators = [iter(s) for s in self.streams]
        while True:
            for it in iterators:
                yield next(it)


def coarse_sources(cfg: TrainConfig, held_out: set[str]) -> list[tuple[torch.nn.Module, set[str] | None]]:
    """The SEG(t) models whose masks the refiner learns from, each with the videos it serves (None: every
    training video). ``cfg.coarse_folds``: one model per fold, each on the videos it never saw."""
    from vprop.models import seg as seg_models
    from vprop.models.hub import load_model

    if not cfg.coarse_folds:
        return [(load_model("seg", cfg.coarse_weights)[0], None)]
    sources = []
    for weights, videos in cfg.coarse_folds.items():
        if held_out & set(videos):
            raise UsageError("coarse_folds", f"{', '.join(sorted(held_out & set(videos)))}: held out (dev), "
                                             "not training videos")
        sources.append((load_model("seg", weights)[0], set(videos)))
    inputs = {(model_aligned(m), seg_models.key_inputs(m)) for m, _ in sources}
    if len(inputs) > 1:
        raise UsageError("coarse_folds", "the SEG(t) models differ in their inputs (alignment or key inputs)")
    return sources


def build_seg(cfg: TrainConfig) -> Trainer:
    """Mask propagation on DAVIS-style folders (videos + masks/<stem>/NNNNN.png); loss: switchable BCE.

    ``cfg.refine``: the SEG(t+s) refiner instead, a spatial network trained on the frozen SEG(t) model's
    masks (plain BCE: a spatial network has no reverse pass to switch to); with ``cfg.coarse_folds``, on each
    fold model's masks of the videos it never saw.
    """
    from vprop.models import seg as seg_models
    from vprop.models.hub import load_model
    from vprop.models.registry import SHIPPED
    from vprop.tasks import seg
    from vprop.training.seg_data import SegPairs, load_seg_clips, seg_bce

    held_out = set(cfg.dev) or set(SEG_DEV)
    paths = find_videos([Path(p) for p in cfg.data])
    train_paths = [p for p in paths if p.stem not in held_out]
    dev_paths = [p for p in paths if p.stem in held_out][:SEG_VALIDATE]
    if cfg.refine:   # the pairs are made the way the coarse models saw them; nothing to switch
        sources = coarse_sources(cfg, held_out)
        listed = set().union(*(v for _, v in sources if v is not None)) if cfg.coarse_folds else None
        if listed is not None:
            missing = listed - {p.stem for p in train_paths}
            if missing:
                raise UsageError("coarse_folds", f"no video {', '.join(sorted(missing))} in the training data")
            train_paths = [p for p in train_paths if p.stem in listed]
        coarse = sources[0][0]
        # A copy: the caller's config stays as given.
        cfg = dataclasses.replace(cfg, aligned=model_aligned(coarse), switch=False)
    with distributed.main_first():
        clips = load_seg_clips(train_paths, cfg.short_side, Path(cfg.cache_dir))
    if cfg.refine:   # the pairs carry what the coarse model takes
        key_inputs = seg_models.key_inputs(coarse)
    else:            # without alignment the key is the input anyway
        key_inputs = (cfg.unaligned_key and cfg.aligned, cfg.appearance and cfg.aligned)

    def pairs(clips, offset=0):
        return SegPairs(clips, tuple(cfg.crop), cfg.max_distance, cfg.aligned,
                        distributed.data_seed(cfg.seed) + offset, *key_inputs)

    main = dev_paths and distributed.is_main()
    if not cfg.refine:
        mcfg = model_config(cfg, seg.guidance_channels(cfg.aligned), 1)
        mcfg.unaligned_key, mcfg.appearance = key_inputs
        validate = seg_validation(dev_paths, Path(cfg.cache_dir)) if main else None
        return Trainer(cfg, mcfg, data_loader(pairs(clips), cfg), validate, loss_fn=seg_bce, best=("J/vprop", "max"))
    mcfg = model_config(cfg, seg_models.REFINE_GUIDANCE_CHANNELS, 1)
    coarse_names = [Path(w).name for w in cfg.coarse_folds] or [Path(cfg.coarse_weights or SHIPPED["seg"].file).name]
    mcfg.task, mcfg.extra = "seg-refine", {"coarse": ", ".join(coarse_names)}
    mcfg.appearance = cfg.appearance        # a colour likelihood beside the mask (seg_models.refine_inputs)
    streams = []
    for i, (model, videos) in enumerate(sources):
        own = [c for c in clips if videos is None or c.name in videos]
        streams.append(CoarseMasks(data_loader(pairs(own, i), cfg), model, cfg.perturb_coarse, mcfg.appearance))
    # Validation on the dev videos refines the masks of a model that never saw them: --coarse-weights (shipped).
    checker = coarse if not cfg.coarse_folds else load_model("seg", cfg.coarse_weights)[0]
    validate = seg_validation(dev_paths, Path(cfg.cache_dir), coarse=checker) if main else None
    batches = streams[0] if len(streams) == 1 else Interleaved(streams)
    return Trainer(cfg, mcfg, batches, validate, loss_fn=seg_bce, best=("J/vprop+refine", "max"))


# -- HDR ------------------------------------------------------------------------------------------------

def hdr_validation(panorama, log_mean: float, frames: int = 31, interval: int = 10,
                   size: tuple[int, int] = (320, 240), seed: int = 1):
    """Log-RMSE (with the eq. 10 blending) of vprop beside chained flow and the inverted LDR, online, every
    ``interval``-th frame a key, on one fixed virtual clip over a held-out panorama."""
    import numpy as np

    from vprop.eval.hdr import HDRClip, evaluate_hdr, hdr_methods
    from vprop.training.hdr_data import random_path
    from vprop.training.synthetic_hdr import CameraPath, clip_frames

    rng = np.random.default_rng(seed)
    path = random_path(rng, panorama.shape, frames, size)
    path = CameraPath(frames=frames, size=size, pan=path.pan, zoom=path.zoom, rotate=path.rotate,
                      scale=path.scale, center=None)      # start beside the brightest region
    pairs = list(clip_frames(panorama, path))
    clip = HDRClip([h for h, _ in pairs], [ldr for _, ldr in pairs], 0.0)
    baseline: dict[str, float] = {}

    def validate(model) -> dict[str, float]:
        methods = hdr_methods(model, "online")
        methods.pop("copy")
        if baseline:
            methods.pop("flow"), methods.pop("inverted-ldr")
        scores = evaluate_hdr(clip, interval, methods, log_mean=model.cfg.extra.get("log_mean", log_mean))
        out = {f"logrmse/{name}": s.rmse_blended for name, s in scores.items()}
        out["logrmse-raw/vprop"] = scores["vprop"].rmse
        baseline.update({k: v for k, v in out.items() if not k.endswith("/vprop")})
        return {**baseline, **out}
    return validate


def build_hdr(cfg: TrainConfig) -> Trainer:
    """HDR on folders of panoramas (.exr/.hdr): virtual-camera clips, random exposure and camera curve.

    The log mean of the training panoramas is stored in the model config (``extra["log_mean"]``).
    """
    from vprop.tasks import hdr
    from vprop.training.hdr_data import HDRPairs, find_panoramas, load_panorama, load_panoramas, log_mean

    paths = find_panoramas([Path(p) for p in cfg.data])
    held_out = set(cfg.dev) or set(HDR_DEV)
    train_paths = [p for p in paths if p.stem not in held_out]
    dev_paths = [p for p in paths if p.stem in held_out]
    panos = load_panoramas(train_paths)
    mean = log_mean(panos)
    h = cfg.short_side
    frame_size = (round(h * 4 / 3 / 2) * 2, h)
    data = HDRPairs(panos, frame_size, tuple(cfg.crop), cfg.max_distance, cfg.aligned,
                    distributed.data_seed(cfg.seed), mean)
    loader = data_loader(data, cfg)
    mcfg = model_config(cfg, hdr.guidance_channels(cfg.aligned), 3)
    mcfg.extra["log_mean"] = mean
    validate = None
    if dev_paths and distributed.is_main():
        validate = hdr_validation(load_panorama(dev_paths[0]), mean)
    return Trainer(cfg, mcfg, loader, validate, best=("logrmse/vprop", "min"))


BUILDERS = {"color": build_color, "seg": build_seg, "hdr": build_hdr}
