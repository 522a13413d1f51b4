"""Does the GrabCut cut after SEG(t) gain from colour models refreshed from confident frames (issue 15)?

    python benchmarks/eval_seg_refresh.py --weights runs/fold3/seg.safetensors \
        --dev bmx-bumps,dog-agility,horsejump-low,motorbike,stroller \
        [--variants key,unwarped,refresh:0.9,unwarped+refresh:0.9]

Runs SEG(t) online from each video's first mask (the dev protocol: frames at short side 480, the model at its
working size) once, keeps what the cut sees for every frame, and scores the cut with colour models from:

- ``key``: the key warped to the frame by the flow chain, where the chain holds it (``vprop segment`` today);
- ``unwarped``: the key frame itself and its mask, the same for every frame;
- ``refresh:TAU``: as ``key``, until a frame is confident (its cut and SEG(t)'s mask agree, IoU >= TAU); from the
  next batch of 4 frames on, models learned from the latest confident frame (object = cut and mask agree, away
  from the edge; background = neither, in the object's box with the cut's margin);
- ``unwarped+refresh:TAU``: models learned from the key frame's pixels and the latest confident frame's together.

A batch is cut with the models as they were after the batch before it, as a batched frame loop would. Prints J / F
per video (with how many frames were confident) and the means, at the scoring size (short side 480).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from vprop.eval.baselines import resized_frames
from vprop.eval.metrics import f_measure, jaccard
from vprop.eval.seg import evaluate_seg, load_truth, seg_methods
from vprop.models import seg as S
from vprop.models.hub import load_model

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "davis2016-train"
SHIPPED_DEV = "breakdance-flare,elephant,lucia,rhino,swing"
BATCH = 4


class Recorder(torch.nn.Module):
    """SEG(t) as the frame loop runs it, keeping each frame's working-size RGB, probability and key colour models."""

    def __init__(self, model: torch.nn.Module, store: list):
        super().__init__()
        self.net, self.cfg, self.store = S.PerObject(model), model.cfg, store
        self.aligned = S.guidance_aligned(model.cfg)

    def forward(self, guidance: torch.Tensor, prop: torch.Tensor) -> torch.Tensor:
        probs = self.net(guidance, prop).float().clamp(0, 1)
        frames = S._uint8(S.target_rgb(guidance, self.aligned))
        key_rgb, key_valid = S.key_view(guidance, self.aligned)
        keys, masks = S._uint8(key_rgb), prop[:, :1].float().numpy()
        valid = None if key_valid is None else key_valid.float().numpy()
        for i, frame in enumerate(frames):
            models = S.key_colour_models(keys[i], masks[i, 0], None if valid is None else valid[i])
            self.store.append((frame, probs[i, 0].numpy(), models))
        return probs


def fit(samples: list) -> S.ColourModels | None:
    """GrabCut's colour models learned from (object pixels, background pixels) samples."""
    samples = [s for s in samples if s is not None]
    if not samples:
        return None
    fg, bg = np.concatenate([s[0] for s in samples]), np.concatenate([s[1] for s in samples])
    return S.colour_models(np.concatenate([fg, bg]), np.r_[np.ones(len(fg), bool), np.zeros(len(bg), bool)])


def sample(rgb: np.ndarray, inside: np.ndarray):
    """(object pixels, background pixels) of a labelled frame: away from the edge, in the box with the margin."""
    inside = inside.astype(np.uint8)
    box = S._box(inside > 0)
    if box is None:
        return None
    band = S._band(inside.shape)
    kernel = np.ones((2 * band + 1, 2 * band + 1), np.uint8)
    return rgb[box][cv2.erode(inside, kernel)[box] > 0], rgb[box][cv2.dilate(inside, kernel)[box] == 0]


def cut_masks(record: list, variant: str, key_sample) -> tuple[list[np.ndarray], int]:
    """Each frame's cut under ``variant``, and how many frames were confident."""
    base, _, tau = variant.partition("refresh:")
    base = base.rstrip("+") or "key"
    tau = float(tau) if tau else None
    latest, pending, confident, out = None, None, 0, []
    models = None
    for i, (frame, prob, key_models) in enumerate(record):
        if i % BATCH == 0:
            latest = pending or latest
            if base == "unwarped":
                models = fit([key_sample, latest]) or fit([key_sample])
            else:
                models = fit([latest]) if latest is not None else None
        cut = S.grabcut_snap(frame, prob, models if (base == "unwarped" or latest is not None) else key_models)
        if tau is not None and jaccard(cut > 0.5, prob > 0.5) >= tau:
            pending = sample(frame, (cut > 0.5) & (prob > 0.5)) or pending
            confident += 1
        out.append(cut)
    return out, confident


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", default=None, help="SEG(t) weights (default: the shipped model)")
    ap.add_argument("--dev", default=SHIPPED_DEV)
    ap.add_argument("--variants", default="key,unwarped,refresh:0.9,unwarped+refresh:0.9")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model, _ = load_model("seg", a.weights)
    variants = a.variants.split(",")
    scores = {}
    for name in a.dev.split(","):
        video, masks = a.data / f"{name}.mp4", a.data / "masks" / name
        record: list = []
        online = seg_methods(model, "online")["vprop"][1]
        evaluate_seg(lambda video=video: resized_frames(video, 480), masks, {"SEG(t)": (Recorder(model, record), online)},
                     keep=False)
        truth = load_truth(masks)
        first = min(truth)
        h, w = truth[first].shape
        size = (round(w * 480 / h), 480) if h <= w else (480, round(h * 480 / w))
        truth = load_truth(masks, size)
        small = record[0][0].shape[1::-1]
        key_rgb = cv2.resize(next(iter(resized_frames(video, 480, first + 1))).rgb, small, interpolation=cv2.INTER_AREA)
        key_sample = sample(key_rgb, cv2.resize(truth[first], small, interpolation=cv2.INTER_NEAREST) > 0)
        scored = [i for i in sorted(truth) if i != first]
        assert len(scored) == len(record), f"{name}: {len(record)} frames segmented, {len(scored)} to score"
        row = {}
        for variant in variants:
            cuts, confident = cut_masks(record, variant, key_sample)
            js, fs = [], []
            for t, (_, prob, _), cut in zip(scored, record, cuts):
                p = np.where(cut > 0.5, 0.5 + 0.5 * np.maximum(prob, 1e-3), 0.5 * prob)
                pred = cv2.resize(p, size, interpolation=cv2.INTER_LINEAR) > 0.5
                js.append(jaccard(pred, truth[t] > 0))
                fs.append(f_measure(pred, truth[t] > 0))
            row[variant] = (float(np.mean(js)), float(np.mean(fs)), confident)
        scores[name] = row
        print(f"{name:18s}", "  ".join(f"{v} {j:.3f}/{f:.3f} ({c})" for v, (j, f, c) in row.items()), flush=True)
    print(f"{'mean':18s}", "  ".join(f"{v} {np.mean([r[v][0] for r in scores.values()]):.3f}/"
                                     f"{np.mean([r[v][1] for r in scores.values()]):.3f}" for v in variants))


if __name__ == "__main__":
    main()
