"""HDR quality on the held-out panoramas: vprop beside copy, flow and the inverted LDR, mean over clips.

    python benchmarks/eval_hdr_dev.py [--weights W] [--mode offline|online] [--blend-rule measured|clipped|paper]
    python benchmarks/eval_hdr_dev.py --size 854x480 [--full-resolution]      (as users run it, at video size)
    python benchmarks/eval_hdr_dev.py --size 854x480 --working-sides 320      (vprop at another working size too)
    python benchmarks/eval_hdr_dev.py --data ../shared/data/hdr-polyhaven --panoramas NAME...   (another hold-out)
    python benchmarks/eval_hdr_dev.py --working-flow medium-full [--methods flow-2sided vprop]   (a flow preset)
    python benchmarks/eval_hdr_dev.py --h264 18       (the LDR clips through libx264 and back, as users' videos are)
    python benchmarks/eval_hdr_dev.py --bits 10 [--h264 18]   (a 10-bit camera [and a 10-bit H.264 file]: blended at
                                                               its depth and, "... at 8 bits", as read at 8 bits)

Each dev panorama (never trained on) gives ``--clips`` virtual-camera clips (random pan, zoom and rotation,
the first window next to the brightest region, ``--size`` (default 320x240, the training clips' size), the LDR
through HDRCNN's camera curve with ~10% of the pixels saturated). vprop runs as `vprop hdr` does: above the
weights' working size (short side 240) at that size with the keys' fine detail carried to full size, or with
``--full-resolution`` (also "vprop --full-resolution" beside it) at the clips' own size. Every K-th frame
is a key; the figure is the RMSE of log radiance over the non-key frames, with the blending of
`--blend-rule` (and, for vprop, without it: "vprop-raw"). ``--working-flow PRESET`` adds vprop with that flow at the
working size ("vprop, PRESET flow"; ``Settings.working_flow``); ``--methods`` keeps only the rows named.
"""
from __future__ import annotations

import argparse
import io
import json
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import torch

from vprop.engine.flow import FLOW_PRESETS
from vprop.eval.hdr import HDRClip, evaluate_hdr, hdr_methods
from vprop.io.images import eight_bit
from vprop.tasks.hdr import BLEND_RULE, BLEND_RULES, auto_exposure, synthesize_ldr
from vprop.models.hub import load_model
from vprop.training.hdr_data import load_panorama, random_path
from vprop.training.run import HDR_DEV
from vprop.training.synthetic_hdr import CameraPath, clip_frames

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "hdr-panoramas"


def dev_clips(data: Path, clips: int, frames: int, size=(320, 240), names=HDR_DEV, bits: int = 8):
    """(name, HDRClip) for each panorama's clips; ``bits`` above 8: the camera records that many bits (the clip's
    ``deep`` video), of which the 8-bit frames are the rounded reading."""
    for name in names:
        path = next((p for p in sorted(data.iterdir()) if p.stem == name), None)
        if path is None:
            raise SystemExit(f"{data}: no panorama named {name}")
        pano = load_panorama(path)
        rng = np.random.default_rng(7)
        for c in range(clips):
            p = random_path(rng, pano.shape, frames, size)
            p = CameraPath(frames=frames, size=size, pan=p.pan, zoom=p.zoom, rotate=p.rotate, scale=p.scale,
                           center=None if c == 0 else p.center)   # the first clip passes the brightest region
            pairs = list(clip_frames(pano, p))
            if bits == 8:
                yield f"{name}-{c}", HDRClip([h for h, _ in pairs], [ldr for _, ldr in pairs], 0.0)
                continue
            hdr = [h for h, _ in pairs]
            deep = [synthesize_ldr(h, auto_exposure(hdr), bits=bits) for h in hdr]
            yield f"{name}-{c}", HDRClip(hdr, [eight_bit(d) for d in deep], 0.0, deep)


def h264_round_trip(frames: list[np.ndarray], crf: int) -> list[np.ndarray]:
    """The LDR frames as a user's video gives them: encoded by libx264 (yuv420p, or yuv420p10le for uint16 frames;
    one thread, so the same on any machine) at ``crf`` and decoded back to RGB at their depth by PyAV, in memory."""
    deep = frames[0].dtype == np.uint16
    rgb_format = "rgb48le" if deep else "rgb24"
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv420p10le" if deep else "yuv420p"
        stream.options = {"crf": str(crf)}
        stream.codec_context.thread_count = 1
        for rgb in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format=rgb_format)))
        container.mux(stream.encode())
    buffer.seek(0)
    with av.open(buffer) as container:
        return [np.ascontiguousarray(f.to_ndarray(format=rgb_format)) for f in container.decode(video=0)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", default=None)
    ap.add_argument("--mode", choices=["online", "offline"], default="offline")
    ap.add_argument("--intervals", type=int, nargs="+", default=[10, 20, 30, 40])
    ap.add_argument("--blend-rule", choices=BLEND_RULES, default=BLEND_RULE)
    ap.add_argument("--clips", type=int, default=2)
    ap.add_argument("--frames", type=int, default=61)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--panoramas", nargs="+", default=list(HDR_DEV),
                    help="file stems of the panoramas in --data to score (default: the dev pair the weights never saw)")
    ap.add_argument("--size", default="320x240", help="the clips' WIDTHxHEIGHT")
    ap.add_argument("--full-resolution", action="store_true",
                    help="also run vprop at the clips' own size (\"vprop --full-resolution\")")
    ap.add_argument("--working-sides", type=int, nargs="+", default=[],
                    help="also vprop at these working short sides (`vprop hdr --working-side`): 'vprop @SIDE'")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--working-flow", nargs="+", default=[], choices=list(FLOW_PRESETS),
                    help="also vprop with each of these flow presets at the working size")
    ap.add_argument("--methods", nargs="+", default=None, help="only these rows (default: all)")
    ap.add_argument("--bits", type=int, default=8,
                    help="the camera's depth: above 8, each method is blended at that depth (as `vprop hdr` blends a "
                         "deep source) and at 8 bits (\"... at 8 bits\")")
    ap.add_argument("--h264", type=int, default=None, metavar="CRF",
                    help="the LDR frames through libx264 at this CRF and back, as a user's video has them")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model, _ = load_model("hdr", a.weights)
    log_mean = model.cfg.extra.get("log_mean", 0.0)
    table: dict[int, dict[str, dict[str, float]]] = {}
    size = tuple(int(v) for v in a.size.lower().split("x"))
    methods = hdr_methods(model, a.mode)
    net, settings, _ = methods["vprop"]
    for preset in a.working_flow:
        methods[f"vprop, {preset} flow"] = (net, replace(settings, working_flow=preset), False)
    if a.methods:
        unknown = set(a.methods) - set(methods)
        if unknown:
            raise SystemExit(f"unknown method(s) {sorted(unknown)}; known: {list(methods)}")
        methods = {name: m for name, m in methods.items() if name in a.methods}
    for name, clip in dev_clips(a.data, a.clips, a.frames, size, a.panoramas, a.bits):
        if a.h264 is not None and clip.deep is not None:    # a 10-bit H.264 file, and the 8-bit reading of it
            deep = h264_round_trip(clip.deep, a.h264)
            clip = HDRClip(clip.hdr, [eight_bit(d) for d in deep], clip.exposure, deep)
        elif a.h264 is not None:
            clip = HDRClip(clip.hdr, h264_round_trip(clip.ldr, a.h264), clip.exposure)
        for k in a.intervals:
            scores = evaluate_hdr(clip, k, methods, log_mean=log_mean, rule=a.blend_rule)
            row = {m: s.rmse_blended for m, s in scores.items()}
            if "vprop" in scores:
                row["vprop-raw"] = scores["vprop"].rmse
            if a.full_resolution:
                full = evaluate_hdr(clip, k, {"vprop": hdr_methods(model, a.mode)["vprop"]}, log_mean=log_mean,
                                    rule=a.blend_rule, full_resolution=True)
                row["vprop --full-resolution"] = full["vprop"].rmse_blended
            for side in a.working_sides:
                other = evaluate_hdr(clip, k, {"vprop": hdr_methods(model, a.mode)["vprop"]}, log_mean=log_mean,
                                     rule=a.blend_rule, working_side=side)
                row[f"vprop @{side}"] = other["vprop"].rmse_blended
            table.setdefault(k, {})[name] = row
            print(f"K={k:3d} {name:12s} " + "  ".join(f"{m} {v:.4f}" for m, v in row.items()), flush=True)
    methods = list(next(iter(next(iter(table.values())).values())))
    coding = "uncompressed" if a.h264 is None else f"H.264 CRF {a.h264}"
    coding = coding if a.bits == 8 else f"{a.bits}-bit, {coding}"
    count = len(next(iter(table.values())))
    print(f"\nlog-radiance RMSE over {count} dev clips of {a.size} ({coding}), mode {a.mode}, blend rule {a.blend_rule} "
          f"(vprop-raw: the network alone)")
    print(f"{'K':>4} " + " ".join(f"{m:>12}" for m in methods))
    for k, clips in table.items():
        print(f"{k:>4} " + " ".join(f"{np.mean([c[m] for c in clips.values()]):12.4f}" for m in methods))
    if a.json:
        a.json.write_text(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
