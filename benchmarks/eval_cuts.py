"""Does the cut detector (vprop/engine/shots.py) find every hard cut and nothing else? The 30 DAVIS videos.

    python benchmarks/eval_cuts.py [--threshold 0.3] [--correlation 0.93] [--data DIR]

Single videos: each DAVIS sequence is one shot, so any cut found is false. Cuts: every video followed by the next
one (alphabetical, the last by the first), streamed as one video through the same detector: the cut must be found
at exactly the first frame of the second video, and nothing else. Also prints the margins of both cues (histogram
distance, layout correlation) within shots and across the cuts of all ordered pairs of videos (their last and
first frames).
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
from pathlib import Path

from vprop.io.video import read_frames
from vprop.engine.shots import CUT_DISTANCE, LAYOUT_CORRELATION, CutDetector, find_cuts

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "davis2016-train"


def concatenated(first: Path, second: Path):
    count = 0
    for frame in read_frames(first):
        count += 1
        yield frame
    for frame in read_frames(second):
        yield dataclasses.replace(frame, index=count + frame.index)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold", type=float, default=CUT_DISTANCE)
    parser.add_argument("--correlation", type=float, default=LAYOUT_CORRELATION)
    parser.add_argument("--data", type=Path, default=DATA, help="Directory of the DAVIS videos.")
    args = parser.parse_args()
    videos = sorted(args.data.glob("*.mp4"))
    if not videos:
        raise SystemExit(f"{args.data}: no DAVIS videos")

    def make():
        return CutDetector(args.threshold, args.correlation)

    def cut(measured):
        return measured[0] > args.threshold and measured[1] < args.correlation

    within, ends, false_single = [], {}, 0
    for video in videos:
        detector, measured = make(), []
        for frame in read_frames(video):
            m = detector.measure(frame.rgb)
            if frame.index == 0:
                first = frame.rgb
            else:
                measured.append(m)
            last = frame.rgb
        false_single += sum(map(cut, measured))
        within += [(m, video.stem) for m in measured]
        ends[video.stem] = (first, last)
    print(f"single videos: {len(videos)} ({len(within)} frame pairs), false cuts {false_single}")
    print(f"  within a shot: largest histogram distance {max(m[0] for m, _ in within):.3f}, "
          f"smallest layout correlation {min(m[1] for m, _ in within):.3f}")

    found = missed = false_pair = 0
    for a, b in zip(videos, videos[1:] + videos[:1]):
        cuts, _ = find_cuts(concatenated(a, b), args.threshold, args.correlation)
        at = sum(1 for _ in read_frames(a))
        found += at in cuts
        missed += at not in cuts
        false_pair += sum(c != at for c in cuts)
    print(f"concatenated pairs: {len(videos)}, cuts found {found}, missed {missed}, false cuts {false_pair}")

    across = []
    for a, b in itertools.permutations(ends, 2):
        detector = make()
        detector.measure(ends[a][1])
        across.append((detector.measure(ends[b][0]), f"{a} -> {b}"))
    print(f"all ordered pairs (last frame -> first frame): {len(across)}, "
          f"missed {sum(not cut(m) for m, _ in across)}")
    print(f"  across a cut: smallest histogram distance {min(m[0] for m, _ in across):.3f}, "
          f"largest layout correlation {max(m[1] for m, _ in across):.3f}")
    print(f"rule: histogram distance > {args.threshold} and layout correlation < {args.correlation}")


if __name__ == "__main__":
    main()
