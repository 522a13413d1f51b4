"""How wide a band SEG(t+s)'s colour snap should re-decide, chosen on training videos (not the dev split).

    python benchmarks/tune_seg_snap.py [--videos bear,boat,...] [--radii 1,2,3,4,6] [--short-side 240]

Runs the shipped SEG(t) from the first mask of each video (the dev protocol) and scores its masks as they are
and snapped to the frame's colours (``seg_models.colour_snap``) with each band radius, without the learned network,
so the snap alone is measured. Prints DAVIS J and F per video and the mean.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from vprop.engine.propagator import Settings
from vprop.eval.baselines import resized_frames
from vprop.eval.seg import evaluate_seg
from vprop.models import seg as seg_models
from vprop.models.hub import load_model
from vprop.tasks import seg

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "davis2016-train"
TRAINING = "bear,boat,hike,kite-walk,stroller,dance-jump,hockey,car-turn"


class SnapOnly(torch.nn.Module):
    """A stand-in for the refiner: the coarse mask snapped with a given band radius, nothing learned."""

    def __init__(self, radius: int):
        super().__init__()
        self.radius = radius

    def forward(self, guidance: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        out = []
        for rgb, mask in zip(guidance[:, :3].permute(0, 2, 3, 1).numpy(), coarse[:, 0].numpy()):
            like = seg.colour_likelihood(seg.SegKey(rgb, mask[None]), rgb)[0]
            out.append(seg_models.colour_snap(mask, like, self.radius))
        return torch.from_numpy(np.stack(out))[:, None]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--videos", default=TRAINING)
    ap.add_argument("--radii", default="1,2,3,4,6")
    ap.add_argument("--short-side", type=int, default=240)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model, _ = load_model("seg")
    settings = Settings(mode="online")
    methods = {"SEG(t)": (model, settings)}
    for r in (int(v) for v in a.radii.split(",")):
        methods[f"snap {r} px"] = (seg_models.Refined(seg_models.PerObject(model), SnapOnly(r)), settings)
    table = {}
    for name in a.videos.split(","):
        video = a.data / f"{name}.mp4"
        scores = evaluate_seg(lambda: resized_frames(video, a.short_side), a.data / "masks" / name, methods)
        table[name] = {m: (s.J, s.F) for m, s in scores.items()}
        print(f"{name:18s} " + "  ".join(f"{m} J {j:.3f} F {f:.3f}" for m, (j, f) in table[name].items()),
              flush=True)
    print(f"\nmean over {len(table)} videos, first mask the only key, short side {a.short_side}")
    for m in methods:
        j = np.mean([v[m][0] for v in table.values()])
        f = np.mean([v[m][1] for v in table.values()])
        print(f"{m:<12} J {j:.3f} F {f:.3f} J&F {(j + f) / 2:.3f}")


if __name__ == "__main__":
    main()
