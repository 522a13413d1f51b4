"""The segmentation tests' moving square: its frames, its label maps, and label maps saved as palette PNGs, and
the IoU to score them."""
import numpy as np
from PIL import Image

SIZE = (64, 48)


def square_box(index, width=SIZE[0], height=SIZE[1]):
    """(x0, y0, x1, y1) of a 14x14 square moving right 2 px per frame."""
    x0, y0 = 6 + 2 * index, 16
    return x0, y0, x0 + 14, y0 + 14


def square_frame(index, width, height):
    """Textured background (so DIS has something to hold on to) and a bright textured square."""
    ys, xs = np.mgrid[0:height, 0:width]
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[..., 0] = 60 + 40 * np.sin(xs / 3.0) * np.cos(ys / 4.0)
    rgb[..., 1] = 70 + (xs * 2) % 50
    rgb[..., 2] = 80 + (ys * 3) % 40
    x0, y0, x1, y1 = square_box(index, width, height)
    sq = rgb[y0:y1, x0:x1]
    sy, sx = np.mgrid[0:y1 - y0, 0:x1 - x0]
    sq[..., 0] = 230
    sq[..., 1] = 200 + 30 * ((sx // 3 + sy // 3) % 2)
    sq[..., 2] = 40
    return rgb


def square_labels(index, label=1, width=SIZE[0], height=SIZE[1]):
    labels = np.zeros((height, width), np.uint8)
    x0, y0, x1, y1 = square_box(index, width, height)
    labels[y0:y1, x0:x1] = label
    return labels


def save_palette(path, labels):
    from vprop.io.images import DAVIS_PALETTE

    image = Image.fromarray(labels.astype(np.uint8))
    image.putpalette(DAVIS_PALETTE.tobytes())
    image.save(path)
    return path


def iou(mask, truth):
    """Intersection over union of two boolean masks, computed here rather than with the library's own J."""
    return (mask & truth).sum() / max((mask | truth).sum(), 1)
