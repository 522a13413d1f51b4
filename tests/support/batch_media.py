"""Small real clips for the batch tests: 8-frame pieces of the bundled rhino clip at 128x72, with keys."""
from pathlib import Path

import av
import cv2
import numpy as np

from support.media import h264_stream
from vprop.io.images import write_exr

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SIZE = (128, 72)


def cut_clip(path, start, frames=8, size=SIZE):
    """Frames start..start+frames-1 of examples/rhino.mp4, resized, as H.264; returns the first frame's RGB."""
    first = None
    with av.open(str(EXAMPLES / "rhino.mp4")) as src, av.open(str(path), "w") as out:
        stream = h264_stream(out, 24, size)
        for i, frame in enumerate(src.decode(video=0)):
            if i >= start + frames:
                break
            if i >= start:
                rgb = cv2.resize(frame.to_ndarray(format="rgb24"), size, interpolation=cv2.INTER_AREA)
                first = rgb if first is None else first
                image = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                image.pts = i - start
                out.mux(stream.encode(image))
        out.mux(stream.encode(None))
    with av.open(str(path)) as c:   # the key is the frame as decoded, like a user's exported key-frame
        return next(c.decode(video=0)).to_ndarray(format="rgb24")


def rhino_mask(index, size=SIZE):
    mask = cv2.imread(str(EXAMPLES / "rhino_masks" / f"{index:05d}.png"), cv2.IMREAD_GRAYSCALE)
    return cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST)


def make_batch(root: Path, starts=(0, 20, 40), broken=True):
    """root/videos/<name>.mp4 (+ broken.mp4), root/keys/<name>/00000.png (tinted colour key),
    root/masks/<name>.png (the rhino's mask at frame 0), root/hdr_keys/<name>/00000.exr."""
    for folder in ("videos", "keys", "masks", "hdr_keys"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    names = []
    for start in starts:
        name = f"rhino{start:02d}"
        first = cut_clip(root / "videos" / f"{name}.mp4", start)
        tinted = first.copy()
        tinted[..., 0] = np.clip(tinted[..., 0].astype(int) + 40, 0, 255)
        (root / "keys" / name).mkdir(exist_ok=True)
        cv2.imwrite(str(root / "keys" / name / "00000.png"), cv2.cvtColor(tinted, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(root / "masks" / f"{name}.png"), rhino_mask(start))
        (root / "hdr_keys" / name).mkdir(exist_ok=True)
        write_exr(root / "hdr_keys" / name / "00000.exr", (first / 255.0) ** 2.2 * 4.0)
        names.append(name)
    if broken:
        (root / "videos" / "broken.mp4").write_bytes(b"this is not a video\n" * 50)
    return names
