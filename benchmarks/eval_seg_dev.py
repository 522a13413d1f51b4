"""Mask quality on the held-out DAVIS videos: SEG(t), SEG(t+s) and the chained protocol beside copy and flow.

    python benchmarks/eval_seg_dev.py [--weights W] [--refine-weights R | --no-refine] [--no-chain] [--short-side 240]
                                      [--dev NAME ...] [--only METHOD ...] [--flow PRESET ...]
                                      [--interval K] [--offline] [--working-side N]

The first ground-truth mask is the only key (the paper's protocol, Sec. 5.4); DAVIS J and F are averaged over
all other frames, per video, then over the dev videos. Rows: copy, flow (the first mask warped by chained DIS
flow), vprop (SEG(t)), vprop+refine (SEG(t+s)), and the same two with --chain (each frame also propagated from
the previous frame's own prediction, anchored by the first mask). ``--train-split``: the same rows on the 25
training videos instead (without the --chain rows): what the models learned from, where the GrabCut snap's
settings were chosen, to compare with what they are judged on. ``--dev NAME ...``: another held-out split
(cross-validation), for weights trained with the same ``--dev`` names held out. ``--flow PRESET``: each vprop row
again with that optical flow ("METHOD, PRESET flow"; ``Settings.flow``: masks run the frame loop at the working
size themselves, so this is the working size's flow). ``--interval K``: the true mask every K frames is a key too;
``--offline``: the offline rows too ("METHOD offline": vprop's from both keys around each frame, and
flow-2sided, both keys warped by flow; copy and flow run online whatever the mode, so are not repeated).
"""
from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from vprop.eval.baselines import resized_frames
from vprop.engine.flow import FLOW_PRESETS
from vprop.eval.seg import evaluate_seg, seg_methods
from vprop.models.hub import load_model
from vprop.training.run import SEG_DEV

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "davis2016-train"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", default=None)
    ap.add_argument("--refine-weights", default=None)
    ap.add_argument("--no-refine", action="store_true", help="SEG(t) only")
    ap.add_argument("--no-chain", action="store_true", help="skip the --chain protocol rows")
    ap.add_argument("--grabcut", action="store_true", help="also every method with its masks snapped by GrabCut")
    ap.add_argument("--short-side", type=int, default=240)
    ap.add_argument("--frames", type=int, default=None)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--train-split", action="store_true",
                    help="the 25 training videos (what the models learned from), not the dev split")
    ap.add_argument("--only", nargs="+", default=None, metavar="METHOD",
                    help="only these rows (names as printed, e.g. vprop+refine+grabcut), to score a new model "
                         "without re-running the rows it does not change")
    ap.add_argument("--dev", nargs="+", default=list(SEG_DEV),
                    help="the held-out videos (file stems) the weights never saw; default the shipped dev split")
    ap.add_argument("--flow", nargs="+", default=[], choices=list(FLOW_PRESETS),
                    help="also every vprop row with this flow preset")
    ap.add_argument("--interval", type=int, default=None, help="the true mask every K frames is a key too")
    ap.add_argument("--offline", action="store_true", help="also the offline rows (both keys around a frame)")
    ap.add_argument("--working-side", type=int, default=None,
                    help="the short side vprop segments at (default: the model's training size, 240)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    names = sorted(p.stem for p in a.data.glob("*.mp4") if p.stem not in a.dev) if a.train_split else a.dev
    chain_rows = not (a.no_chain or a.train_split)
    model, _ = load_model("seg", a.weights)
    refiner = None if a.no_refine else load_model("seg-refine", a.refine_weights)[0]
    table: dict[str, dict[str, dict[str, float]]] = {}
    for name in names:
        video = a.data / f"{name}.mp4"
        frames = lambda: resized_frames(video, a.short_side, a.frames)  # noqa: E731
        masks = a.data / "masks" / name
        methods = seg_methods(model, "online", refiner=refiner, grabcut=a.grabcut)
        methods |= {f"{m}, {preset} flow": (net, replace(settings, flow=preset))
                    for preset in a.flow for m, (net, settings) in methods.items() if m.startswith("vprop")}
        if a.offline:     # the rows that run offline (copy and flow run online whatever the mode: not again)
            methods |= {f"{m} offline": (net, settings) for m, (net, settings) in
                        seg_methods(model, "offline", refiner=refiner, grabcut=a.grabcut).items()
                        if settings.mode == "offline"}
        plain = evaluate_seg(frames, masks, {m: v for m, v in methods.items() if a.only is None or m in a.only},
                             interval=a.interval, limit=a.frames, working_side=a.working_side)
        chained = {} if not chain_rows else evaluate_seg(
            frames, masks, {f"{m} chain": v for m, v in seg_methods(model, "online", refiner=refiner).items()
                            if m.startswith("vprop") and (a.only is None or f"{m} chain" in a.only)}, chain=True,
            interval=a.interval, limit=a.frames, working_side=a.working_side)
        table[name] = {m: {"J": s.J, "F": s.F} for m, s in {**plain, **chained}.items()}
        print(f"{name:18s} " + "  ".join(f"{m} J {v['J']:.3f} F {v['F']:.3f}" for m, v in table[name].items()),
              flush=True)
    methods = list(next(iter(table.values())))
    split = "training" if a.train_split else "dev"
    keys = "first mask the only key" if a.interval is None else f"the true mask every {a.interval} frames a key"
    print(f"\nmean over {len(table)} {split} videos, {keys}, short side {a.short_side}")
    print(f"{'method':<20} {'J':>6} {'F':>6} {'J&F':>6}")
    for m in methods:
        j = np.mean([v[m]["J"] for v in table.values()])
        f = np.mean([v[m]["F"] for v in table.values()])
        print(f"{m:<20} {j:6.3f} {f:6.3f} {(j + f) / 2:6.3f}")
    if a.json:
        a.json.write_text(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
