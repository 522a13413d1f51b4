"""HDR video from the rhino clip and one HDR key-frame, with vprop's public API.

    python examples/hdr.py [VIDEO WORK_DIR]

A real HDR key is a scene-linear photo of the key frame (`vprop hdr-merge` makes one from bracketed
exposures). This example has none, so it makes its key from the clip's own first frame: the camera curve
(here a plain gamma 2.2) inverted, and the clipped highlights, whose radiance the 8-bit frame lost, set 8x
brighter, as a longer bracket would have measured them. The output is one scene-linear EXR per frame and an
SDR preview.
"""
import sys
from pathlib import Path

import cv2
import numpy as np

import vprop

HERE = Path(__file__).parent
GAMMA = 2.2


def make_key(video: Path, keys: Path) -> Path:
    """``keys/00000.hdr``: the radiance of frame 0 as a camera with the curve x^(1/GAMMA) would have seen it."""
    capture = cv2.VideoCapture(str(video))
    ok, bgr = capture.read()
    capture.release()
    if not ok:
        raise SystemExit(f"{video}: cannot read its first frame")
    radiance = (bgr.astype(np.float32) / 255.0) ** GAMMA
    radiance[bgr.max(-1) >= 250] *= 8.0
    keys.mkdir(parents=True, exist_ok=True)
    path = keys / "00000.hdr"
    cv2.imwrite(str(path), radiance)      # Radiance RGBE, scene-linear
    return path


def main(video=HERE / "rhino.mp4", work="rhino_hdr") -> Path:
    work = Path(work)
    make_key(Path(video), work / "keys")
    path = vprop.hdr(video, work / "keys", work / "exr", gamma=GAMMA, preview=work / "preview.mp4",
                     on_frame=lambda i: print(f"\rframe {i}", end="", flush=True))
    print(f"\nwrote {path}/ and {work / 'preview.mp4'}")
    return path


if __name__ == "__main__":
    main(*sys.argv[1:3])
