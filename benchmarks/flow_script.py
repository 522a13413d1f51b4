"""The plain optical-flow script a user would write instead of vprop: PyAV decode, DIS flow chained from the
preceding colour key, the key's chroma warped onto each frame's own lightness, H.264 encode. PyAV, OpenCV and
NumPy only, nothing from vprop: `bench_colorize.py end-to-end` times it beside `vprop colorize`.

    python benchmarks/flow_script.py IN.mp4 KEYS_DIR INTERVAL OUT.mp4
"""
import sys
from pathlib import Path

import av
import cv2
import numpy as np


def lab(rgb):
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def main(video, keys_dir, interval, output):
    keys = {int(p.stem): p for p in Path(keys_dir).iterdir() if p.stem.isdigit()}
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    with av.open(video) as source, av.open(output, "w") as sink:
        stream = source.streams.video[0]
        out = sink.add_stream("libx264", rate=stream.average_rate)
        out.width, out.height, out.pix_fmt = stream.width, stream.height, "yuv420p"
        out.options = {"crf": "18"}
        key_ab = coords = previous = None
        for index, frame in enumerate(source.decode(stream)):
            rgb = frame.to_ndarray(format="rgb24")
            gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
            if index % interval == 0 and index in keys:
                key_ab = lab(cv2.cvtColor(cv2.imread(str(keys[index])), cv2.COLOR_BGR2RGB))[..., 1:]
                h, w = gray.shape
                coords = np.dstack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)))
            else:    # follow each pixel back one frame, then through the chain so far to the key
                flow = dis.calc(gray, previous, None)
                h, w = gray.shape
                grid = np.dstack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)))
                where = grid + flow
                coords = cv2.remap(coords, where[..., 0], where[..., 1], cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REPLICATE)
            previous = gray
            ab = cv2.remap(key_ab, coords[..., 0], coords[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            result = cv2.cvtColor(np.dstack([lab(rgb)[..., :1], ab]), cv2.COLOR_Lab2RGB)
            picture = av.VideoFrame.from_ndarray(np.clip(result * 255 + 0.5, 0, 255).astype(np.uint8), "rgb24")
            sink.mux(out.encode(picture))
        sink.mux(out.encode())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4])
