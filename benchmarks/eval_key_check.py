"""Can a video's own keys tell whether the network beats flow on it? Colour, online, keys every K.

    python benchmarks/eval_key_check.py [--interval 10] [--videos NAME_OR_PATH ...]

Per video: vprop's PSNR minus chained flow's (both as `vprop eval color` runs them) over all non-key frames, and the
same difference on the frames just before each key only (distance K-1, the frames a test-time check that propagates
into the next key's frame would score), over the first three key segments and over all of them. If the check's sign
matches the whole video's, a run could pick, per video or per segment, the network or the flow-aligned key from its
keys alone, before any frame is written.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import vprop  # noqa: F401  (before torch: the OpenMP wait policy the `vprop` command runs with)
from eval_color_sizes import DATA, DEV, methods
from vprop.engine.working import working_short_side, working_size
from vprop.eval.metrics import psnr
from vprop.io.video import read_frames
from vprop.models.hub import load_model
from vprop.tasks.color import rgb_to_lab


def per_frame_psnr(video: Path, interval: int, run) -> dict[int, float]:
    keys = {f.index: rgb_to_lab(f.rgb) for f in read_frames(video) if f.index % interval == 0}
    truth = {f.index: f.rgb for f in read_frames(video)}
    return {frame.index: psnr(float(np.mean((out.astype(np.float32) - truth[frame.index]) ** 2)))
            for frame, out in run(read_frames(video), keys) if frame.index not in keys}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--interval", type=int, default=10)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--videos", nargs="+", default=DEV)
    a = ap.parse_args()
    model, _ = load_model("color")
    agree = 0
    for name in a.videos:
        video = Path(name) if Path(name).is_file() else a.data / f"{name}.mp4"
        first = next(read_frames(video)).rgb
        runs = methods(model, "online", working_size(first.shape[1], first.shape[0], working_short_side(model)),
                       full_resolution=False)
        flow, net = (per_frame_psnr(video, a.interval, runs[m]) for m in ("flow", "vprop"))
        gain = {i: net[i] - flow[i] for i in flow}
        before = [i for i in sorted(gain) if i % a.interval == a.interval - 1]
        whole, first3, every = (np.mean([gain[i] for i in frames]) for frames in (sorted(gain), before[:3], before))
        agree += np.sign(first3) == np.sign(whole)
        print(f"{video.stem[:28]:28s} vprop - flow: whole video {whole:+.3f} dB; at distance {a.interval - 1}, first "
              f"3 segments {first3:+.3f}, all {every:+.3f}", flush=True)
    print(f"the first 3 segments' check has the whole video's sign on {agree} of {len(a.videos)} videos")


if __name__ == "__main__":
    main()
