"""Pictures of an evaluation: sample frames side by side with an error heat-map, and PSNR against key distance."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vprop.io.atomic import atomic_path

COLOURS = [(90, 90, 90), (40, 140, 255), (80, 200, 80), (255, 120, 40), (200, 60, 200)]   # BGR


def caption(image: np.ndarray, text: str) -> np.ndarray:
    """A copy of ``image`` with ``text`` written in its top-left corner, white on a black outline."""
    out = image.copy()
    cv2.putText(out, text, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, text, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def write_figure(path: Path, bgr: np.ndarray) -> None:
    """Write a BGR picture (OpenCV's order, as ``strip`` and ``plot`` return) as a PNG, atomically."""
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), bgr):
            raise OSError(f"cannot write {path}")


def strip(truth: dict[int, np.ndarray], outputs: dict[str, dict[int, np.ndarray]], width: int = 320) -> np.ndarray:
    """Rows: sample frames. Columns: ground truth, each method, and the last method's error heat-map."""
    rows = []
    last = list(outputs)[-1]
    for index in sorted(truth):
        gt = truth[index]
        h = round(gt.shape[0] * width / gt.shape[1])
        cells = [caption(cv2.resize(gt, (width, h)), f"truth #{index}")]
        for name, samples in outputs.items():
            err = np.abs(samples[index].astype(np.float32) - gt).mean()
            cells.append(caption(cv2.resize(samples[index], (width, h)), f"{name} (err {err:.1f})"))
        error = np.abs(outputs[last][index].astype(np.float32) - gt).mean(-1)
        heat = cv2.applyColorMap(np.clip(error * 8, 0, 255).astype(np.uint8), cv2.COLORMAP_INFERNO)
        cells.append(caption(cv2.resize(cv2.cvtColor(heat, cv2.COLOR_BGR2RGB), (width, h)), f"{last} error x8"))
        rows.append(np.hstack(cells))
    return cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR)


def plot(series: dict[str, dict[int, float]], title: str, size=(640, 400), xlabel: str = "frames from the key",
         y_range: tuple[float, float] | None = None, vlines=(), dots: dict[int, float] | None = None) -> np.ndarray:
    """A line plot of value against distance per method, drawn with OpenCV (no plotting dependency).

    ``vlines``: x positions marked by thin vertical lines; ``dots``: points (x -> value) circled in red.
    """
    w, h = size
    left, right, top, bottom = 60, 20, 40, 40
    img = np.full((h, w, 3), 255, np.uint8)
    xs = sorted({d for s in series.values() for d in s})
    ys = [v for s in series.values() for v in s.values()]
    if not xs or not ys:
        return img
    lo, hi = y_range or (min(ys), max(ys))
    hi = hi if hi > lo else lo + 1
    fx = lambda d: left + (d - xs[0]) / max(1, xs[-1] - xs[0]) * (w - left - right)   # noqa: E731
    fy = lambda v: top + (hi - v) / (hi - lo) * (h - top - bottom)                      # noqa: E731
    cv2.rectangle(img, (left, top), (w - right, h - bottom), (0, 0, 0), 1)
    for v in np.linspace(lo, hi, 5):
        cv2.putText(img, f"{v:.1f}" if hi - lo > 2 else f"{v:.2f}", (5, int(fy(v)) + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    for d in xs[:: max(1, len(xs) // 10)]:
        cv2.putText(img, str(d), (int(fx(d)) - 6, h - bottom + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1,
                    cv2.LINE_AA)
    cv2.putText(img, title, (left, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, xlabel, (w // 2 - 60, h - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
    for x in vlines:
        cv2.line(img, (int(fx(x)), top), (int(fx(x)), h - bottom), (180, 180, 180), 1)
    for i, (name, s) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        pts = np.array([[fx(d), fy(s[d])] for d in sorted(s)], np.int32)
        cv2.polylines(img, [pts], False, colour, 2, cv2.LINE_AA)
        cv2.putText(img, name, (w - right - 130, top + 18 + 18 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1,
                    cv2.LINE_AA)
    for x, v in (dots or {}).items():
        cv2.circle(img, (int(fx(x)), int(fy(v))), 6, (0, 0, 220), 2, cv2.LINE_AA)
    return img


def color_report(directory, interval: int, frames, scores) -> None:
    """A strip of the kept sample frames (``Scores.samples``) and a plot of PSNR against key distance."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    wanted = set(next(iter(scores.values())).samples)
    truth = {f.index: f.rgb for f in frames() if f.index in wanted}
    outputs = {name: s.samples for name, s in scores.items()}
    if truth:
        write_figure(directory / f"color_K{interval}_frames.png", strip(truth, outputs))
    series = {name: s.psnr_by_distance() for name, s in scores.items()}
    write_figure(directory / f"color_K{interval}_psnr.png", plot(series, f"PSNR (dB) vs distance, K={interval}"))
