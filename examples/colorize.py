"""Colour the gray rhino clip from three colour key-frames (frames 0, 20 and 40), with vprop's public API.

    python examples/colorize.py [GRAY_VIDEO KEYS_DIR OUTPUT]

Key-frames are images named by frame index (00000.jpg, 00020.jpg, ...); every other frame takes its colour
from the keys around it. A confidence report says which frames would gain most from one more key.
"""
import sys
from pathlib import Path

import vprop

HERE = Path(__file__).parent


def main(video=HERE / "rhino_gray.mp4", keys=HERE / "rhino_keys", output="rhino_color.mp4") -> Path:
    report = Path(output).with_suffix(".report")
    path = vprop.colorize(video, keys, output, mode="offline", report=report,
                          on_frame=lambda i: print(f"\rframe {i}", end="", flush=True))
    print(f"\nwrote {path} and the confidence report {report}/")
    return path


if __name__ == "__main__":
    main(*sys.argv[1:4])
