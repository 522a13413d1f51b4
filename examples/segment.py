"""Follow the rhino through the clip from its mask on the first frame, with vprop's public API.

    python examples/segment.py [VIDEO MASK OUTPUT_DIR]

The output is one DAVIS-palette PNG per frame (the object's index at each pixel), and a video of the frames
with the mask drawn in.
"""
import sys
from pathlib import Path

import vprop

HERE = Path(__file__).parent


def main(video=HERE / "rhino.mp4", mask=HERE / "rhino_masks" / "00000.png", output="rhino_masks") -> Path:
    overlay = Path(output).with_name(Path(output).name + "_overlay.mp4")
    path = vprop.segment(video, {0: Path(mask)}, output, mode="online", overlay=overlay,
                         on_frame=lambda i: print(f"\rframe {i}", end="", flush=True))
    print(f"\nwrote {path}/ and {overlay}")
    return path


if __name__ == "__main__":
    main(*sys.argv[1:4])
