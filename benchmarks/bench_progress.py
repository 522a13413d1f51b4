"""How honest the progress bar is on a real offline colorize run: the fps it shows against the run's true rate.

    python benchmarks/bench_progress.py ../shared/data/clips/pexels-koolshooters-7322716.mp4 \
        --frames 60 --size 1280x720 --interval 20

Cuts the first N frames of CLIP to the size (scaled to cover, centre-cropped), makes its gray version
(`vprop gray`) and colour keys every K frames (`vprop keys`), colours it offline with the shipped weights, and
prints, after the first key segment, the fps the bar holds between finished frames (vprop.cli._console.Meter: work
finished) and the fps rich's own speed column gives for the same ticks (what the bar showed before), against
the true rate: frames finished after the first segment over the time they took.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import av
import cv2
from rich.progress import Progress

from vprop.cli._console import Meter
from vprop.io.video import read_frames
from vprop.pipelines.colorize import colorize
from vprop.pipelines.gray import gray
from vprop.pipelines.keys import export_keys


def cut(source: Path, output: Path, frames: int, width: int, height: int) -> None:
    with av.open(str(output), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.options = {"crf": "16"}
        for frame in read_frames(source):
            if frame.index >= frames:
                break
            h, w = frame.rgb.shape[:2]
            s = max(width / w, height / h)
            big = cv2.resize(frame.rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_CUBIC)
            y, x = (big.shape[0] - height) // 2, (big.shape[1] - width) // 2
            image = av.VideoFrame.from_ndarray(big[y:y + height, x:x + width], format="rgb24")
            out.mux(stream.encode(image))
        out.mux(stream.encode(None))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clip", type=Path)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--interval", type=int, default=20)
    parser.add_argument("--ticks", type=Path, default=None, help="Also save the finish times (s from the start).")
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        cut(args.clip, folder / "colour.mp4", args.frames, width, height)
        gray(folder / "colour.mp4", folder / "gray.mp4")
        export_keys(folder / "colour.mp4", args.interval, folder / "keys")
        meter, ticks, shown = Meter(args.frames), [], []
        start = meter.start

        def on_frame(_index):
            meter.tick()
            ticks.append(time.monotonic())
            shown.append(meter.fps())

        colorize(folder / "gray.mp4", folder / "keys", folder / "out.mp4", interval=args.interval,
                 mode="offline", on_frame=on_frame, on_begin=meter.begin)
    if args.ticks:
        args.ticks.write_text(json.dumps([t - start for t in ticks]))
    # Rich's speed column over the same ticks (the samples of its last 30 s), as the bar computed it before.
    now = [0.0]
    rich = Progress(get_time=lambda: now[0])
    task_id = rich.add_task("colorize", total=args.frames)
    rich_fps = []
    for t in ticks:
        now[0] = t
        rich.advance(task_id)
        rich_fps.append(rich.tasks[0].speed)
    first = args.interval + 1            # frames finished when the first key segment is out
    true_fps = (len(ticks) - first) / (ticks[-1] - ticks[first - 1])
    print(f"{width}x{height}, {len(ticks)} frames, keys every {args.interval}, offline: true rate after the "
          f"first segment {true_fps:.3f} fps, whole run {len(ticks) / (ticks[-1] - start):.3f} fps")
    # The values a user reads: those held until the next frame finishes (a burst's inner ticks last microseconds).
    held = [i for i in range(first - 1, len(ticks)) if i == len(ticks) - 1 or ticks[i + 1] - ticks[i] > 1.0]
    print(f"{'frame':>5} {'held s':>7} {'bar fps':>8} {'error':>7} {'rich fps':>9} {'error':>7}")
    worst = 0.0
    for i in held:
        bar_err = shown[i] / true_fps - 1
        worst = max(worst, abs(bar_err))
        old = rich_fps[i]
        old_text = f"{old:9.3f} {old / true_fps - 1:+7.0%}" if old else f"{'-':>9} {'':>7}"
        hold = ticks[i + 1] - ticks[i] if i + 1 < len(ticks) else 0.0
        print(f"{i + 1:5d} {hold:7.1f} {shown[i]:8.3f} {bar_err:+7.1%} {old_text}")
    print(f"largest error of the bar after the first segment: {worst:.1%}")


if __name__ == "__main__":
    main()
