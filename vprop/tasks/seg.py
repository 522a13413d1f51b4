"""Object-mask propagation (paper Sec. 5.4): the guidance is RGB, the propagated property is one soft mask per object.

The number of objects differs from video to video, so the network propagates one object's mask at a time
(``property_channels=1``; objects are folded into the batch and share one guidance run); the background is
``1 - max(objects)`` and the label of a pixel is the arg-max.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np
import torch

from vprop.engine.flow import ChainedWarp
from vprop.models.tpn import TPNConfig


def guidance_channels(aligned: bool) -> int:
    """Aligned: target RGB, warped key RGB, |warped - target|, chain valid, chain confidence. Plain: both RGBs."""
    return 9 if aligned else 6


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


def target_rgb(guidance: torch.Tensor, aligned: bool) -> torch.Tensor:
    """The target frame's RGB inside a SEG(t) guidance batch (aligned: channels 0-2; plain: 3-5)."""
    return guidance[:, :3] if aligned else guidance[:, 3:6]


def object_ids(*label_maps: np.ndarray) -> tuple[int, ...]:
    """Sorted object indices (non-zero labels) present in any of the label maps."""
    ids: set[int] = set()
    for labels in label_maps:
        ids.update(int(v) for v in np.unique(labels) if v != 0)
    return tuple(sorted(ids))


def one_hot(labels: np.ndarray, ids: tuple[int, ...]) -> np.ndarray:
    """(P, H, W) float32: one soft mask per object of ``ids`` (background is implied)."""
    if not ids:
        return np.zeros((0, *labels.shape), np.float32)
    return np.stack([labels == i for i in ids]).astype(np.float32)


def to_labels(probs: np.ndarray, ids: tuple[int, ...]) -> np.ndarray:
    """(H, W) uint8 label map from per-object probabilities (P, H, W); background = 1 - max(objects)."""
    h, w = probs.shape[-2:]
    if not ids:
        return np.zeros((h, w), np.uint8)
    probs = np.clip(probs, 0.0, 1.0)
    scores = np.concatenate([1.0 - probs.max(0, keepdims=True), probs])
    lookup = np.array((0, *ids), np.uint8)
    return lookup[scores.argmax(0)]


COLOUR_BINS = 16       # histogram bins per Lab channel of the colour model


def _colour_index(rgb: np.ndarray) -> np.ndarray:
    lab = cv2.cvtColor((np.clip(rgb, 0, 1) * 255.0 + 0.5).astype(np.uint8), cv2.COLOR_RGB2LAB)
    q = lab.astype(np.int32) // (256 // COLOUR_BINS)
    return (q[..., 0] * COLOUR_BINS + q[..., 1]) * COLOUR_BINS + q[..., 2]


@dataclass
class SegKey:
    """A key: its frame's RGB (float 0..1, (H, W, 3)) and its objects' masks ((P, H, W) float32)."""

    rgb: np.ndarray
    masks: np.ndarray

    @cached_property
    def colour_posteriors(self) -> np.ndarray:
        """(P, COLOUR_BINS**3) float32: per object, the posterior of each colour bin being the object's rather
        than the rest of the frame's (two Lab histograms, add-one smoothed, equal priors). Built once per key,
        read for every frame propagated from it."""
        bins = COLOUR_BINS**3
        index = _colour_index(self.rgb)
        out = np.empty((len(self.masks), bins), np.float32)
        for i, mask in enumerate(self.masks):
            inside = mask > 0.5
            fg = np.bincount(index[inside], minlength=bins) + 1.0
            bg = np.bincount(index[~inside], minlength=bins) + 1.0
            fg, bg = fg / fg.sum(), bg / bg.sum()
            out[i] = fg / (fg + bg)
        return out


def colour_likelihood(key: SegKey, target_rgb: np.ndarray) -> np.ndarray:
    """(P, H, W) float32 in [0, 1]: per object, how much each target pixel's colour is the object's rather than
    the rest of the key frame's (``SegKey.colour_posteriors`` read at the target's colours), lightly blurred.

    Where the flow chain and the key's own mask disagree, this says which to believe, and it needs no
    alignment, so it does not drift: with it SEG(t) went from J 0.462 to above copying the first mask (0.489) on
    the held-out DAVIS videos (``benchmarks/eval_seg_dev.py``; the model card has the numbers).
    """
    target_index = _colour_index(target_rgb)
    sigma = min(target_rgb.shape[:2]) / 120.0
    out = np.empty((len(key.masks), *target_rgb.shape[:2]), np.float32)
    for i, posterior in enumerate(key.colour_posteriors):
        out[i] = cv2.GaussianBlur(posterior[target_index], (0, 0), sigma)
    return out


def model_inputs(target_rgb: np.ndarray, key: SegKey, chain: ChainedWarp | None, unaligned_key: bool = False,
                 appearance: bool = False):
    """Network inputs (guidance (C, H, W), property (P, H, W)) for segmenting a frame of RGB ``target_rgb``.

    With a chain the key's RGB and masks are aligned to the target first, and the network also sees how far
    to trust that alignment; without one, the paper's inputs (both RGB frames, the key's own masks).
    ``unaligned_key`` (with a chain): the property is (2P, H, W), the aligned masks then the key's own. A long
    flow chain drifts off a moving subject that the camera keeps in place; the key's own mask is the paper's
    input and the better start there (held-out DAVIS: J 0.35 for the warped first mask, 0.49 for the mask
    itself), so the network gets both and the alignment cues to choose by. ``appearance`` (with a chain): P
    more channels, the ``colour_likelihood`` of the target under the key's objects.
    """
    t = target_rgb.transpose(2, 0, 1)
    if chain is None:
        guidance = np.concatenate([key.rgb.transpose(2, 0, 1), t])
        prop = key.masks
    else:
        warped = chain.warp(key.rgb)
        diff = np.abs(warped - target_rgb).mean(-1) * 4.0
        guidance = np.concatenate([t, warped.transpose(2, 0, 1), diff[None], chain.valid[None],
                                   chain.confidence()[None]])
        if len(key.masks):
            masks = chain.warp(np.ascontiguousarray(key.masks.transpose(1, 2, 0)))
            prop = masks.reshape(*masks.shape[:2], -1).transpose(2, 0, 1)
            if unaligned_key:
                prop = np.concatenate([prop, key.masks])
            if appearance:
                prop = np.concatenate([prop, colour_likelihood(key, target_rgb)])
        else:
            prop = key.masks
    return (np.ascontiguousarray(guidance, dtype=np.float32), np.ascontiguousarray(prop, dtype=np.float32))


def working_short_side(model: torch.nn.Module) -> int | None:
    """The short side a model was trained at (the shipped ones: 240), the size to segment at; None: no model."""
    cfg = getattr(model, "cfg", None)
    return int(cfg.extra.get("short_side", 240)) if cfg is not None else None


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


def refine_inputs(rgb: torch.Tensor, coarse: torch.Tensor, appearance: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """SEG(t+s) inputs (guidance, property) for coarse masks (N, 1, H, W) of frames ``rgb`` (N, 3, H, W).

    The guidance is the frame and the coarse mask. With ``appearance`` the refiner starts from the mask snapped
    to the frame's own colours (``colour_snap`` by the ``colour_likelihood`` of what the mask holds in this
    very frame), and the property carries that likelihood too. SEG(t)'s edges come from a low-resolution
    correction and miss the object's by a few pixels; the object's colours in the frame itself say where the
    edge is, and follow the object as its look changes, which the key's colours do not (the band's width was
    chosen on training videos; the model card has the dev numbers).
    """
    guidance = torch.cat([rgb, coarse], 1)
    if not appearance:
        return guidance, coarse
    frames = rgb.detach().permute(0, 2, 3, 1).float().cpu().numpy()
    masks = coarse.detach().float().cpu().numpy()[:, 0]
    like = np.stack([colour_likelihood(SegKey(f, m[None]), f)[0] for f, m in zip(frames, masks)])
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
        self.aligned = coarse.cfg is None or coarse.cfg.extra.get("aligned", True)
        self.appearance = bool(getattr(refiner, "cfg", None) is not None and refiner.cfg.appearance)

    def forward(self, guidance: torch.Tensor, prop: torch.Tensor) -> torch.Tensor:
        probs = self.coarse(guidance, prop).clamp(0.0, 1.0)
        b, p, h, w = probs.shape
        if p == 0:
            return probs
        rgb = target_rgb(guidance, self.aligned).repeat_interleave(p, 0)
        inputs = refine_inputs(rgb, probs.reshape(b * p, 1, h, w), self.appearance)
        return self.refiner(*inputs).reshape(b, p, h, w)


def overlay(rgb: np.ndarray, labels: np.ndarray, palette: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """The frame with each object tinted in its palette colour and outlined."""
    out = rgb.astype(np.float32)
    colours = palette[labels].astype(np.float32)
    inside = labels > 0
    out[inside] = out[inside] * (1 - alpha) + colours[inside] * alpha
    edge = cv2.morphologyEx(labels, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    dilated = cv2.dilate(labels, np.ones((3, 3), np.uint8))
    out[edge] = palette[dilated[edge]]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
