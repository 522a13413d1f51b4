"""Videos per hour: the single command in a shell loop, and `vprop batch` with 1 and 2 workers, in one run.

    python benchmarks/bench_batch.py [--videos 4] [--frames 48] [--width 426] [--task colorize|segment]

Clips are the first frames of DAVIS videos from ../shared/data (real footage; --data elsewhere), resized; each command runs as its
own process, as a user would start it (so Ray's start-up and each single command's imports are counted).
"""
from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2

REPO = Path(__file__).resolve().parents[1]
DAVIS = REPO.parent / "shared" / "data" / "davis2016-train"
CLI = f"{shlex.quote(sys.executable)} -c 'from vprop.cli import main; main()'"


def make_clips(root: Path, data: Path, videos: int, frames: int, width: int) -> list[str]:
    names = sorted(p.stem for p in data.glob("*.mp4"))[:videos]
    for folder in ("videos", "keys", "masks"):
        (root / folder).mkdir(parents=True)
    for name in names:
        with av.open(str(data / f"{name}.mp4")) as src, av.open(str(root / "videos" / f"{name}.mp4"), "w") as out:
            stream = out.add_stream("libx264", rate=24)
            for i, frame in enumerate(src.decode(video=0)):
                if i == frames:
                    break
                rgb = frame.to_ndarray(format="rgb24")
                height = round(rgb.shape[0] * width / rgb.shape[1] / 2) * 2
                rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
                if i == 0:
                    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
                    (root / "keys" / name).mkdir()
                    cv2.imwrite(str(root / "keys" / name / "00000.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
                    mask = cv2.imread(str(data / "masks" / name / "00000.png"), cv2.IMREAD_GRAYSCALE)
                    cv2.imwrite(str(root / "masks" / f"{name}.png"),
                                cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST))
                image = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                image.pts = i
                out.mux(stream.encode(image))
            out.mux(stream.encode(None))
    return names


def timed(command: str) -> float:
    start = time.perf_counter()
    subprocess.run(["bash", "-c", command], check=True, cwd=REPO)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--width", type=int, default=426)
    parser.add_argument("--task", choices=["colorize", "segment"], default="colorize")
    parser.add_argument("--data", type=Path, default=DAVIS, help="The DAVIS videos and masks.")
    args = parser.parse_args()
    if not args.data.is_dir():
        sys.exit(f"needs the DAVIS clips in {args.data} (--data)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        names = make_clips(root, args.data, args.videos, args.frames, args.width)
        q = shlex.quote
        if args.task == "colorize":
            one = "colorize {v} --keys {keys}/$n -o {out}/$n.mp4 --mode online -q"
            batch = "batch colorize {videos} --keys {keys} -o {out} --mode online -q"
            keys = root / "keys"
        else:
            one = "segment {v} --mask {keys}/$n.png -o {out}/$n -q"
            batch = "batch segment {videos} --masks {keys} -o {out} -q"
            keys = root / "masks"
        loop = (f"for n in {' '.join(names)}; do {CLI} "
                + one.format(v=q(str(root / "videos")) + "/$n.mp4", keys=q(str(keys)), out=q(str(root / "loop")))
                + "; done")
        (root / "loop").mkdir()
        results = {"shell loop": timed(loop)}
        for workers in (1, 2):
            out = root / f"batch{workers}"
            command = f"{CLI} " + batch.format(videos=q(str(root / "videos")), keys=q(str(keys)), out=q(str(out)))
            results[f"batch, {workers} worker{'s' * (workers > 1)}"] = timed(f"{command} --workers {workers}")
    print(f"{args.videos} clips of {args.frames} frames at width {args.width}, {args.task} (--mode online)")
    print(f"{'':<18} {'seconds':>8} {'videos/hour':>12} {'time / loop':>12}")
    for name, seconds in results.items():
        print(f"{name:<18} {seconds:8.1f} {args.videos * 3600 / seconds:12.0f} "
              f"{seconds / results['shell loop']:12.2f}")


if __name__ == "__main__":
    main()
