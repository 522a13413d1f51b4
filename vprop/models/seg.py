"""The segmentation networks around a one-object TPN: SEG(t) over every object (``PerObject``), SEG(t+s) with a
spatial refiner (``Refined``), and the configs of both.

A seg model propagates one object's soft mask (``property_channels=1``); these wrappers fold a video's objects
into the batch. The per-frame conversions (network inputs, labels) are the task's: ``vprop.tasks.seg``.
"""
from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import torch

from vprop.errors import UsageError
from vprop.models.tpn import TPNConfig
from vprop.tasks.seg import SegKey, colour_likelihood, guidance_channels


def seg_config(aligned: bool = True, **architecture) -> TPNConfig:
    """The TPNConfig of a segmentation model (one property channel: one object's soft mask)."""
    extra = {"aligned": aligned, **architecture.pop("extra", {})}
    return TPNConfig(task="seg", guidance_channels=guidance_channels(aligned), property_channels=1,
                     extra=extra, **architecture)


# SEG(t+s): a spatial propagation network (Liu et al., NIPS 2017) refining each coarse mask under the guidance
# of the target frame alone. It is a TPN whose two "frames" are one: the same engine, spatial not temporal.
REFINE_GUIDANCE_CHANNELS = 4        # target RGB and the coarse mask to refine


def refine_config(**architecture) -> TPNConfig:
    """The TPNConfig of a SEG(t+s) refinement SPN (one channel in, one out; the residual decoder keeps the
    coarse mask where the gate stays closed, so an untrained refiner changes nothing). ``appearance=True``: the
    property also carries the coarse mask's colour likelihood (see ``refine_inputs``)."""
    architecture.setdefault("decoder", "residual")
    return TPNConfig(task="seg-refine", guidance_channels=REFINE_GUIDANCE_CHANNELS, property_channels=1,
                     **architecture)


def guidance_aligned(cfg: TPNConfig | None) -> bool:
    """Whether a SEG(t) model's guidance has the aligned layout (target RGB first); a model without a config
    (the baselines' passthrough) is taken as aligned."""
    return cfg is None or cfg.extra.get("aligned", True)


def target_rgb(guidance: torch.Tensor, aligned: bool) -> torch.Tensor:
    """The target frame's RGB inside a SEG(t) guidance batch (aligned: channels 0-2; plain: 3-5)."""
    return guidance[:, :3] if aligned else guidance[:, 3:6]


def key_view(guidance: torch.Tensor, aligned: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The key's RGB inside a SEG(t) guidance batch, and where it holds the key's own pixels: aligned, the key
    warped to the target (channels 3-5) and the chain's validity (channel 7); plain, the key itself (0-2), all of
    it (None)."""
    return (guidance[:, 3:6], guidance[:, 7]) if aligned else (guidance[:, :3], None)


def key_inputs(model: torch.nn.Module) -> tuple[bool, bool]:
    """(unaligned_key, appearance): which extra channel groups the model's property input carries beside the
    aligned masks (see ``model_inputs``)."""
    cfg = getattr(model, "cfg", None)
    return (bool(cfg is not None and cfg.unaligned_key), bool(cfg is not None and cfg.appearance))


class PerObject(torch.nn.Module):
    """Runs a one-channel model on every object channel of a (B, P, H, W) property, one guidance run per frame
    (a model that takes more key inputs gets (B, kP, H, W): the aligned masks, then the key's own, then the
    colour likelihoods, as ``model_inputs`` lays them out)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model
        self.cfg = getattr(model, "cfg", None)

    def forward(self, guidance: torch.Tensor, prop: torch.Tensor) -> torch.Tensor:
        b, c, h, w = prop.shape
        k = self.cfg.property_groups if self.cfg is not None else 1
        p = c // k
        if p == 0:
            return prop[:, :0]
        flat = prop.reshape(b, k, p, h, w).transpose(1, 2).reshape(b * p, k, h, w)
        if hasattr(self.model, "gates"):      # a SwitchableTPN: share the guidance network over the objects
            gates, features = self.model.gates(guidance)
            out = self.model._run(flat, gates.repeat_interleave(p, 0), features.repeat_interleave(p, 0), (h, w))
        else:
            out = self.model(guidance.repeat_interleave(p, 0), flat)
        return out.reshape(b, p, h, w)


def colour_snap(mask: np.ndarray, likelihood: np.ndarray, radius: int | None = None) -> np.ndarray:
    """``mask`` (H, W) with the band within ``radius`` pixels of its boundary (default 3 at short side 240)
    re-decided by ``likelihood`` (H, W): where the object's colours say the edge really is."""
    radius = max(1, round(min(mask.shape) / 80)) if radius is None else radius
    inside = (mask > 0.5).astype(np.uint8)
    kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    band = cv2.dilate(inside, kernel) != cv2.erode(inside, kernel)
    return np.where(band, likelihood, mask).astype(np.float32)


def key_likelihood(prop: torch.Tensor, cfg: TPNConfig | None, objects: int) -> torch.Tensor | None:
    """(B * objects, 1, H, W): the ``colour_likelihood`` of the target under each key object that a SEG(t) property
    batch (B, k * objects, H, W) carries as its last channel group, or None for a model without that input."""
    if cfg is None or not cfg.appearance:
        return None
    b, _, h, w = prop.shape
    return prop[:, -objects:].reshape(b * objects, 1, h, w)


def refine_inputs(rgb: torch.Tensor, coarse: torch.Tensor, appearance: bool,
                  likelihood: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """SEG(t+s) inputs (guidance, property) for coarse masks (N, 1, H, W) of frames ``rgb`` (N, 3, H, W).

    The guidance is the frame and the coarse mask. With ``appearance`` the refiner starts from the mask snapped
    to a colour likelihood of the object (``colour_snap``), and the property carries that likelihood too: the
    key's (``likelihood`` (N, 1, H, W), from ``key_likelihood``) where the coarse model has it, else that of what
    the mask holds in this very frame. SEG(t)'s edges come from a low-resolution correction and miss the object's
    by a few pixels; the object's colours say where the edge is. The key's are the user's labels and do not learn
    the coarse mask's errors: on 12 of the training videos, with the GrabCut snap after it, SEG(t+s) J 0.607 F 0.610
    with the frame's own likelihood, 0.611 / 0.634 with the key's (the band's width was chosen on training videos;
    the model card has the dev numbers).
    """
    guidance = torch.cat([rgb, coarse], 1)
    if not appearance:
        return guidance, coarse
    masks = coarse.detach().float().cpu().numpy()[:, 0]
    if likelihood is None:
        frames = rgb.detach().permute(0, 2, 3, 1).float().cpu().numpy()
        like = np.stack([colour_likelihood(SegKey(f, m[None]), f)[0] for f, m in zip(frames, masks)])
    else:
        like = likelihood.detach().float().cpu().numpy()[:, 0]
    snapped = np.stack([colour_snap(m, c) for m, c in zip(masks, like)])
    prop = np.stack([snapped, like], 1)
    return guidance, torch.from_numpy(prop).to(coarse)


class Refined(torch.nn.Module):
    """SEG(t+s): the per-object SEG(t) output refined, object by object, by a spatial propagation network
    guided by the target frame. Key frames never pass through it, so a key's own mask stays exact."""

    def __init__(self, coarse: PerObject, refiner: torch.nn.Module):
        super().__init__()
        self.coarse, self.refiner = coarse, refiner
        self.cfg = coarse.cfg
        self.aligned = guidance_aligned(coarse.cfg)
        self.appearance = bool(getattr(refiner, "cfg", None) is not None and refiner.cfg.appearance)

    def forward(self, guidance: torch.Tensor, prop: torch.Tensor) -> torch.Tensor:
        probs = self.coarse(guidance, prop).clamp(0.0, 1.0)
        b, p, h, w = probs.shape
        if p == 0:
            return probs
        rgb = target_rgb(guidance, self.aligned).repeat_interleave(p, 0)
        inputs = refine_inputs(rgb, probs.reshape(b * p, 1, h, w), self.appearance, key_likelihood(prop, self.cfg, p))
        return self.refiner(*inputs).reshape(b, p, h, w)


# The GrabCut snap's settings, chosen on the 25 DAVIS videos the shipped models were trained on (SEG(t) J there
# 0.511; short side 240): a band of 6 pixels (short side / 40) gave J 0.605, /20 0.604 and /80 0.589; 2 iterations
# 0.605, 1 0.602, 5 0.606; working on the object's box with a margin of short side / 4 gave 0.604 (/8: 0.596) for
# about 30% less time than the whole frame. Leaving the pixels the network is unsure of to the cut as well, wherever
# they lie, raised J to 0.632 (F 0.593 -> 0.620) at 0.05 (unsure: 0.05 < p < 0.95); 0.01 gave 0.622, 0.02 0.628,
# 0.1 0.632 (F 0.616), 0.2 0.613. With those left to the cut, a narrower band does better: 3 pixels (/80) gave
# 0.638 (F 0.627), 2 pixels 0.632, 12 pixels 0.609; then 1 iteration 0.631 and a margin of short side / 8 0.621.
# Then the colour models: the key's (``key_colour_models``) in place of the frame's own gave 0.669 (F 0.674;
# benchmarks/eval_seg_dev.py --train-split --grabcut; on cached outputs 19 of the 25 videos up, 6 down). Falling
# back to the frame's own models where the key's cut keeps much less than the network's mask gave 0.651-0.653, or
# than the frame's own cut 0.663-0.666; where the mask's area is over 10x or under 1/10 the key's, 0.673 (one video
# changed); the union of the two cuts 0.661, their intersection 0.644; models learned from the key and the frame
# together 0.652 against 0.655 on 10 of the videos, 0.645 against 0.678 on the other 15.
# With the key's models, leaving more of the network's pixels to the cut lost: unsure below 0.1 / 0.2 / 0.3 from
# either side 0.665 / 0.633 / 0.617. Mixing the sources lost too: the object's model from the key and the background's
# from the frame 0.638, the other way round 0.625.
GRABCUT_BAND = 1 / 80
GRABCUT_MARGIN = 1 / 4
GRABCUT_ITERATIONS = 2
GRABCUT_SURE = 0.05     # the network is sure of a pixel's side where its probability is within this of 0 or 1
GRABCUT_MIN_PIXELS = 20     # of the object and of the rest of its box: fewer, and a colour model cannot be learned
GRABCUT_MODEL_PIXELS = 10_000     # of each side, at most, that a colour model learns from (evenly strided)
# After SEG(t+s) the cut is one vote: a pixel is the object where 0.35 * cut + 0.65 * p > 0.5, so the refiner keeps
# the pixels it is sure of (p > 0.77 or < 0.23) and the cut decides the rest. The refiner has already used the key's
# colours, and on held-out videos its unsure pixels are 2-4x the object's area; left to the cut, where the object's
# colours change the key's models drop most of it (dog-agility frames 15-17: J about 0). Chosen by a rule written
# down before the fourth split was scored: mean J over the 10 videos of splits 3 and 4 (fold models, 854x480),
# the full cut 0.652, the cut on the band only 0.668, weight 0.2 0.656, 0.35 0.672 (SEG(t)+cut there: 0.674).
GRABCUT_WEIGHT_AFTER_REFINER = 0.35

ColourModels = tuple[np.ndarray, np.ndarray]    # GrabCut's (background, object) Gaussian mixtures, (1, 65) float64


def _band(shape: tuple[int, ...]) -> int:
    return max(2, round(min(shape) * GRABCUT_BAND))


def _box(inside: np.ndarray) -> tuple[slice, slice] | None:
    """The box of ``inside`` (H, W) grown by the margin, or None where it or the rest of the box is too small to
    learn a colour model from."""
    h, w = inside.shape
    margin = max(_band(inside.shape) + 1, round(min(h, w) * GRABCUT_MARGIN))
    ys, xs = np.nonzero(inside)
    if len(ys) < GRABCUT_MIN_PIXELS:
        return None
    box = (slice(max(0, ys.min() - margin), min(h, ys.max() + 1 + margin)),
           slice(max(0, xs.min() - margin), min(w, xs.max() + 1 + margin)))
    return None if inside[box].size - len(ys) < GRABCUT_MIN_PIXELS else box


def key_colour_models(rgb: np.ndarray, mask: np.ndarray, valid: np.ndarray | None = None) -> ColourModels | None:
    """GrabCut's colour models of an object and of what surrounds it, learned from a key: its RGB (H, W, 3 uint8)
    and the object's mask (H, W), in the object's box with a margin, from the pixels that are the key's own
    (``valid`` (H, W) > 0.5; all without it). None where too few pixels of either are left.

    The key's labels are the user's, right to the pixel; a frame's own labels are the network's, and its errors
    teach the frame's colour models to keep them (a mask that leaks onto the ground learns the ground as object).
    """
    inside = mask > 0.5
    box = _box(inside)
    if box is None:
        return None
    keep = np.ones(inside[box].shape, bool) if valid is None else valid[box] > 0.5
    return colour_models(rgb[box][keep], inside[box][keep])


def colour_models(pixels: np.ndarray, is_object: np.ndarray) -> ColourModels | None:
    """GrabCut's colour models of labelled pixels: RGB (N, 3 uint8), object or not (N,) bool. None where too few
    of either are given."""
    if is_object.sum() < GRABCUT_MIN_PIXELS or len(is_object) - is_object.sum() < GRABCUT_MIN_PIXELS:
        return None
    # k-means costs in proportion to the pixels, and an even sample of ten thousand gives the same five Gaussians
    obj, rest = (part[::math.ceil(len(part) / GRABCUT_MODEL_PIXELS)]
                 for part in (pixels[is_object], pixels[~is_object]))
    # GrabCut learns its models from any image and labels: the pixels as a one-column image, all labels fixed
    labels = np.repeat(np.array([cv2.GC_FGD, cv2.GC_BGD], np.uint8), [len(obj), len(rest)])[:, None]
    pixels = np.concatenate([obj, rest])
    models = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)    # the models are seeded by k-means++ from OpenCV's RNG: the same models on every run
    cv2.grabCut(np.ascontiguousarray(pixels[:, None, ::-1]), labels, None, *models, 0, cv2.GC_INIT_WITH_MASK)
    return models


def grabcut_snap(rgb: np.ndarray, prob: np.ndarray, key_models: ColourModels | None = None) -> np.ndarray:
    """(H, W) float32 in {0, 1}: the object of soft mask ``prob`` (H, W) re-cut in its frame ``rgb`` (H, W, 3 uint8)
    by OpenCV's GrabCut, within a band around the mask's edge and wherever the network is unsure.

    Pixels deeper than the band inside the mask are the object and those beyond it the background, unless the
    network is unsure of them (``GRABCUT_SURE``); the band and the unsure pixels are decided by a graph cut
    (Rother et al., SIGGRAPH 2004) on the colour models of the object and its surroundings in the key
    (``key_models``, from ``key_colour_models``), or, without them, learned from this very frame. The cut lands on
    the frame's own edges, where a propagated mask is a few pixels off, and drops what the network claims in colours
    the key says are the background. It runs on the object's box with a margin. A mask too small (or too large) to
    learn both colour models from is returned thresholded.
    """
    inside = (prob > 0.5).astype(np.uint8)
    out = inside.astype(np.float32)
    box = _box(inside > 0)
    if box is None:
        return out
    band = _band(inside.shape)
    kernel = np.ones((2 * band + 1, 2 * band + 1), np.uint8)
    labels = np.where(inside[box] > 0, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    labels[cv2.erode(inside[box], kernel) > 0] = cv2.GC_FGD
    labels[cv2.dilate(inside[box], kernel) == 0] = cv2.GC_BGD
    unsure = np.abs(prob[box] - 0.5) < 0.5 - GRABCUT_SURE
    labels[unsure] = np.where(inside[box][unsure] > 0, cv2.GC_PR_FGD, cv2.GC_PR_BGD)
    bgr = np.ascontiguousarray(rgb[box][..., ::-1])
    cv2.setRNGSeed(0)    # GrabCut seeds its colour models by k-means++ from OpenCV's RNG: the same cut on every run
    if key_models is None:
        models = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        cv2.grabCut(bgr, labels, None, *models, GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_MASK)
    else:    # the key's models stay as they are: one graph cut
        models = key_models[0].copy(), key_models[1].copy()
        cv2.grabCut(bgr, labels, None, *models, 1, cv2.GC_EVAL_FREEZE_MODEL)
    out[box] = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)
    return out


# Online, the cut after SEG(t) also hears the frame before: that frame's final mask, aligned to this one by a
# single flow step, is mixed into SEG(t)'s probability before the cut: p' = (1 - w) p + w m, with w = MEMORY_WEIGHT
# where that step is forward-backward consistent within MEMORY_FLOW_TRUST pixels and inside the frame, else 0.
# SEG(t) sees only the key and a long flow chain; one step of flow is nearly exact, so where SEG(t) is unsure
# (0.29 < p < 0.71 at w = 0.35) the frame before decides, where it is sure it still does, and a disagreement is left to
# the cut. Chosen by a rule written down before any of it was scored (cached fold outputs, 854x480): on the 10 videos
# of folds 3 and 4, mean J 0.674 -> 0.689 at w = 0.35 (0.683 at 0.2), F 0.645 -> 0.652; confirmed on fold 5 and the
# shipped split, scored once (0.654 -> 0.658; rhino lost 0.08 to a leak the memory carried, hike gained 0.09). The
# step's flow is the loop's own preset (6 ms a flow at 427x240; "fast-full", 20 ms, gave the same 0.689 on folds 3
# and 4). Over the 25 videos scored out of fold: 0.680 -> 0.687 (the model card).
MEMORY_WEIGHT = 0.35
MEMORY_FLOW_TRUST = 1.0     # pixels of forward-backward inconsistency of the one step beyond which it is not heard


def rgb_uint8(rgb: np.ndarray) -> np.ndarray:
    """Float RGB 0..1 (..., 3) as uint8, the colours GrabCut models."""
    return (rgb * 255.0 + 0.5).clip(0, 255).astype(np.uint8)


def _uint8(rgb: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) float RGB 0..1 as (B, H, W, 3) uint8."""
    return rgb_uint8(rgb.permute(0, 2, 3, 1).float().cpu().numpy())


def cut_probabilities(probs: np.ndarray, cut: np.ndarray, weight: float = 1.0) -> np.ndarray:
    """Probabilities ``probs`` (any shape) decided by a cut (same shape, 0/1): a pixel is inside where
    ``weight * cut + (1 - weight) * p > 0.5``, and there its probability is lifted above one half, elsewhere lowered
    below, each in proportion to the network's (so that where two objects' cuts overlap the network decides)."""
    inside = weight * cut + (1.0 - weight) * probs > 0.5
    return np.where(inside, 0.5 + 0.5 * np.maximum(probs, 1e-3), 0.5 * probs).astype(np.float32)


class GrabCut(torch.nn.Module):
    """A mask network's output snapped to its frame by ``grabcut_snap``, object by object, with the colour models of
    the object in its key (the key's pixels and mask as the guidance and the property bring them: see
    ``key_view``), and decided by ``cut_probabilities``: with a ``weight`` below 1 the cut is one vote
    (``GRABCUT_WEIGHT_AFTER_REFINER``). On DAVIS (short side 240, first mask the only key) it raised SEG(t)'s J from
    0.511 to 0.668 on the 25 videos the models were trained on; the model card has the held-out figures.

    ``memory``: the weight of the frame before where a frame has one key (online; offline, after a shot's last key)
    (``MEMORY_WEIGHT``; 0: none). A batch of frames is stateless and cannot hear it: the mask loop
    (``vprop.engine.masks``) runs ``net`` and then the cut frame by frame there, with the previous frame's mask mixed
    in; everywhere else this module cuts as it is.
    """

    def __init__(self, net: torch.nn.Module, weight: float = 1.0, memory: float = 0.0):
        super().__init__()
        self.net = net
        self.weight = weight    # of the cut against the network's probability (1: the cut alone decides)
        self.memory = memory
        self.cfg = net.cfg
        self.aligned = guidance_aligned(net.cfg)

    def forward(self, guidance: torch.Tensor, prop: torch.Tensor) -> torch.Tensor:
        probs = self.net(guidance, prop).float().clamp(0.0, 1.0)
        b, p = probs.shape[:2]
        frames = _uint8(target_rgb(guidance, self.aligned))
        key_rgb, key_valid = key_view(guidance, self.aligned)
        keys = _uint8(key_rgb)
        valid = None if key_valid is None else key_valid.float().cpu().numpy()
        key_masks = prop[:, :p].float().cpu().numpy()      # the key's masks (aligned with the key's RGB) come first
        soft = probs.cpu().numpy()

        def cut(job: tuple[int, int]) -> np.ndarray:
            i, k = job
            models = key_colour_models(keys[i], key_masks[i, k], None if valid is None else valid[i])
            return grabcut_snap(frames[i], soft[i, k], models)

        # OpenCV's GrabCut runs on one core and lets go of the GIL: the batch's cuts share the torch threads' cores
        with ThreadPoolExecutor(max(1, torch.get_num_threads())) as pool:
            jobs = [(i, k) for i in range(b) for k in range(p)]
            out = np.stack(list(pool.map(cut, jobs))).reshape(soft.shape) if jobs else soft
        return torch.from_numpy(cut_probabilities(soft, out, self.weight)).to(probs.device)


def wrap_model(model: torch.nn.Module, refiner: torch.nn.Module | None = None,
               grabcut: bool = False, memory: bool = False) -> torch.nn.Module:
    """SEG(t) over every object channel; with a ``refiner``, SEG(t+s); with ``grabcut``, its output snapped to
    the frame (``GrabCut``), and with ``memory`` too, where a frame has one key, the frame before heard
    (``MEMORY_WEIGHT``; SEG(t)'s cut only: after the refiner it was not measured). An already wrapped model keeps
    its wrapping, and gets the snap if asked."""
    net = model
    if not isinstance(net, (PerObject, Refined, GrabCut)):
        cfg = getattr(net, "cfg", None)
        if cfg is not None and cfg.property_channels != 1:
            raise UsageError(cfg.task, f"a segmentation model propagates one object at a time "
                                       f"(property_channels=1), these weights have {cfg.property_channels}")
        net = PerObject(net)
        net = Refined(net, refiner) if refiner is not None else net
    if not grabcut or isinstance(net, GrabCut):
        return net
    if isinstance(net, Refined):
        return GrabCut(net, GRABCUT_WEIGHT_AFTER_REFINER)
    return GrabCut(net, memory=MEMORY_WEIGHT if memory else 0.0)
