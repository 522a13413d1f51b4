"""How far each propagated frame can be trusted, and the report that shows it: which frames to correct or paint.

A frame's trust map says, per pixel, whether the flow chain from its key stayed inside the frame and
consistent forwards and backwards (``ChainedWarp.confidence``), and whether the key, so aligned, still looks
like the frame. Both fall as the chain grows longer; and every frame of distance to the key costs a little more,
for the drift that no consistency check sees. A frame's confidence is the mean of its map; a key's is 1.
"""
from __future__ import annotations

import csv
import heapq
import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from vprop.errors import InputError
from vprop.engine.flow import ChainedWarp
from vprop.io.atomic import atomic_path
from vprop.eval.report import caption, plot, write_figure

REPORT_FILE = "confidence.json"
# Mean absolute difference (0..1 of the gray range) at which the aligned key's look counts as 1/e agreement:
# a tenth of the range is a different surface, not noise or a little shading.
LOOK_SCALE = 0.1
# Frames of distance to the key that cost 1/e of the trust on their own: a second of 30 fps video.
DRIFT_FRAMES = 30.0
PICTURE_WIDTH = 480        # pictures of the least confident frames are this wide, whatever the video's size


def trust_map(chain: ChainedWarp | None, key_gray: np.ndarray, gray: np.ndarray, distance: int) -> np.ndarray:
    """(H, W) float32 in [0, 1] for a frame of luminance ``gray`` propagated from a key of luminance ``key_gray``
    (both uint8) ``distance`` frames away along ``chain`` (None: the key as it is, unaligned)."""
    seen = key_gray.astype(np.float32)
    if chain is not None:
        seen = chain.warp(seen)
    # Blurred so that sub-pixel misalignment on edges does not read as disagreement.
    diff = cv2.GaussianBlur(np.abs(seen - gray.astype(np.float32)) / 255.0, (0, 0), 2)
    agree = np.exp(-diff / LOOK_SCALE - abs(distance) / DRIFT_FRAMES)
    return (agree if chain is None else chain.confidence() * agree).astype(np.float32)


def step_trust(prev_gray: np.ndarray, gray: np.ndarray, to_prev: np.ndarray | None = None,
               from_prev: np.ndarray | None = None) -> float:
    """Mean trust of the single flow step from the previous frame to this one (without flows: of the previous
    frame as it is). Unlike a frame's confidence it does not depend on where the keys are, and it does not
    saturate once a long chain has lost everything: it says how hard the video is here."""
    chain = None if to_prev is None else ChainedWarp.identity(*gray.shape).step(to_prev, from_prev)
    return float(trust_map(chain, prev_gray, gray, 1).mean())


# Around the objects' bounding box, this fraction of its width and height on each side: where they can move to
# within a few frames, and the background their edges are told from.
REGION_MARGIN = 0.25


def region_trust(trust: np.ndarray, objects: np.ndarray) -> float | None:
    """Mean of ``trust`` (h, w) within the bounding box of ``objects`` (any (H, W) boolean map, resized to
    ``trust``'s size) grown by REGION_MARGIN on each side; None where there is no object."""
    small = cv2.resize(objects.astype(np.uint8), trust.shape[::-1], interpolation=cv2.INTER_NEAREST)
    rows, cols = np.flatnonzero(small.any(1)), np.flatnonzero(small.any(0))
    if not len(rows):
        return None
    dy = round((rows[-1] - rows[0] + 1) * REGION_MARGIN)
    dx = round((cols[-1] - cols[0] + 1) * REGION_MARGIN)
    return float(trust[max(0, rows[0] - dy):rows[-1] + dy + 1, max(0, cols[0] - dx):cols[-1] + dx + 1].mean())


@dataclass
class FrameConfidence:
    """One frame's confidence. ``step``: ``step_trust`` into this frame (1 for the first); ``forward``/``backward``:
    mean trust of its propagation from the key before / after it (None where that side was not used); ``object``:
    masks only, the mean trust of the output within the region around its objects (``region_trust``; the
    objects are what J scores, the rest of the frame is not); ``area``: masks only, the fraction of the frame the
    output's objects cover; ``trust``: the map of the final output (None at a key)."""

    index: int
    confidence: float
    step: float = 1.0
    key_before: int | None = None
    key_after: int | None = None
    forward: float | None = None
    backward: float | None = None
    trust: np.ndarray | None = field(default=None, repr=False)
    object: float | None = None
    area: float | None = None

    @classmethod
    def at_key(cls, index: int, step: float = 1.0) -> "FrameConfidence":
        return cls(index, 1.0, step, index, index, 1.0, 1.0)

    def row(self) -> dict:
        out = asdict(self)
        del out["trust"]
        return out


@dataclass
class Report:
    """A written report, as ``load_report`` reads it back."""

    video: str
    task: str
    mode: str
    keys: list[int]
    frames: list[dict]

    @property
    def confidence(self) -> np.ndarray:
        return np.array([f["confidence"] for f in self.frames], np.float64)


class ConfidenceReport:
    """Collects every frame's confidence (pass it as the frame loop's ``on_confidence``), keeps the maps and
    pictures of only the least confident frames (so memory stays flat), and writes ``directory``:
    ``confidence.json`` / ``confidence.csv`` (one row per frame), ``confidence.png`` (the plot) and
    ``least-confident-NNNNN.png`` (the output beside its trust map) for the ``worst`` least confident frames,
    spaced apart."""

    def __init__(self, directory, *, video, task: str, mode: str, worst: int = 6):
        self.directory = Path(directory)
        if self.directory.exists() and not self.directory.is_dir():
            raise InputError(self.directory, "exists and is not a directory")
        if (self.directory / REPORT_FILE).exists():
            raise InputError(self.directory, "already holds a confidence report; choose an empty or new directory")
        try:    # checked now, not after the whole video
            self.directory.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise InputError(self.directory.parent, f"cannot create the report's directory ({error.strerror})") \
                from None
        self.video, self.task, self.mode, self.worst = str(video), task, mode, worst
        self.rows: list[FrameConfidence] = []
        self._kept: list[tuple[float, int]] = []       # max-heap by confidence (negated), of the worst frames
        self._maps: dict[int, np.ndarray] = {}
        self._pictures: dict[int, np.ndarray] = {}

    def __call__(self, frame: FrameConfidence) -> None:
        trust, frame.trust = frame.trust, None
        self.rows.append(frame)
        if trust is None:
            return
        # A few times more candidates than pictures, so that spaced-apart ones can be chosen at the end.
        heapq.heappush(self._kept, (-frame.confidence, frame.index))
        self._maps[frame.index] = trust
        if len(self._kept) > 4 * self.worst:
            _, dropped = heapq.heappop(self._kept)
            self._maps.pop(dropped, None)
            self._pictures.pop(dropped, None)

    def picture(self, index: int, make: Callable[[], np.ndarray]) -> None:
        """Give the output of frame ``index`` as RGB uint8; ``make`` is called only for frames kept."""
        if index in self._maps:
            rgb = make()
            height = round(rgb.shape[0] * PICTURE_WIDTH / rgb.shape[1])
            self._pictures[index] = cv2.resize(rgb, (PICTURE_WIDTH, height), interpolation=cv2.INTER_AREA)

    def least_confident(self) -> list[int]:
        """The kept frames, least confident first, at least ``len / (2 x worst)`` frames apart."""
        gap = max(1, len(self.rows) // (2 * max(1, self.worst)))
        chosen: list[int] = []
        for _, index in sorted((-c, i) for c, i in self._kept):
            if len(chosen) < self.worst and all(abs(index - j) >= gap for j in chosen):
                chosen.append(index)
        return chosen

    def write(self) -> Path:
        keys = [r.index for r in self.rows if r.key_before == r.index]
        worst = self.least_confident()
        payload = {"video": self.video, "task": self.task, "mode": self.mode, "keys": keys,
                   "frames": [r.row() for r in self.rows]}
        with atomic_path(self.directory, directory=True) as tmp:
            (tmp / REPORT_FILE).write_text(json.dumps(payload, indent=1))
            (tmp / "confidence.csv").write_text(_csv(payload["frames"]))
            write_figure(tmp / "confidence.png", self._plot(keys, worst))
            for index in worst:
                if index in self._pictures:
                    write_figure(tmp / f"least-confident-{index:05d}.png", self._side_by_side(index))
        return self.directory

    def _plot(self, keys: list[int], worst: list[int]) -> np.ndarray:
        series = {"confidence": {r.index: r.confidence for r in self.rows}}
        if any(r.area is not None for r in self.rows):    # masks: a drifting or leaking mask shows as area change
            series["objects' area"] = {r.index: r.area for r in self.rows if r.area is not None}
        return plot(series, f"confidence per frame ({self.task}, {self.mode}); | key, o least confident",
                    xlabel="frame", y_range=(0.0, 1.0), vlines=keys,
                    dots={i: series["confidence"][i] for i in worst}, size=(800, 400))

    def _side_by_side(self, index: int) -> np.ndarray:
        rgb = self._pictures[index]
        h, w = rgb.shape[:2]
        trust = cv2.resize(self._maps[index], (w, h), interpolation=cv2.INTER_LINEAR)
        heat = cv2.applyColorMap(np.clip(trust * 255, 0, 255).astype(np.uint8), cv2.COLORMAP_INFERNO)
        confidence = next(r.confidence for r in self.rows if r.index == index)
        cells = [caption(rgb, f"frame {index}: confidence {confidence:.2f}"),
                 caption(cv2.cvtColor(heat, cv2.COLOR_BGR2RGB), "trust (dark: propagation lost)")]
        return cv2.cvtColor(np.hstack(cells), cv2.COLOR_RGB2BGR)


def _csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["index"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def load_report(directory) -> Report:
    """Read a report written by ``--report``; a missing or damaged one is a one-line InputError."""
    directory = Path(directory)
    path = directory / REPORT_FILE
    if not directory.is_dir():
        raise InputError(directory, "no such report directory (write one with --report DIR)")
    if not path.is_file():
        raise InputError(directory, f"holds no {REPORT_FILE} (write one with --report DIR)")
    try:
        data = json.loads(path.read_text())
        report = Report(str(data["video"]), str(data["task"]), str(data["mode"]),
                        [int(k) for k in data["keys"]], list(data["frames"]))
        indices = [int(f["index"]) for f in report.frames]
        values = np.r_[report.confidence, [float(f["step"]) for f in report.frames],
                       [float(f[name]) for f in report.frames for name in ("object", "area")
                        if f.get(name) is not None]]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
        raise InputError(path, f"not a vprop confidence report ({type(error).__name__}: {error})") from None
    if not indices or indices != list(range(len(indices))):
        raise InputError(path, "not a vprop confidence report (frames must be 0, 1, 2, ... in order)")
    if not (np.isfinite(values).all() and (values >= 0).all() and (values <= 1).all()):
        raise InputError(path, "not a vprop confidence report (confidences must be within 0..1)")
    return report
