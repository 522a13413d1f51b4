"""Many videos through one task on Ray, on this machine or a cluster.

Each worker is a Ray actor that holds the task's loaded model and processes whole videos, one at a time, with the
library function the single command calls, so every output is the one that command writes. Propagation carries
state along a video, so the frames of different videos never mix. A video that fails is reported with its
one-line error and does not stop the others; a video whose output is complete is skipped unless ``force``.

Ray is the optional extra ``vprop[batch]``, imported only when a batch runs.
"""
from __future__ import annotations

import csv
import importlib.util
import ipaddress
import logging
import os
import platform
import re
import time
import traceback
import warnings
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import cv2
import torch

from vprop.errors import InputError, UsageError, UserError
from vprop.io.atomic import atomic_path
from vprop.io.images import find_indexed_files
from vprop.io.sequence import (DEFAULT_FPS, ImageSequence, frame_files, holds_numbered_images, image_sequence,
                                is_pattern, parse_fps)
from vprop.io.video import probe
from vprop.models.hub import load_model
from vprop.pipelines.colorize import colorize
from vprop.pipelines.hdr import hdr
from vprop.pipelines.segment import segment

# Files of a jobs folder taken as videos; anything else there is left alone (and listed by the caller).
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts",
                  ".mxf", ".wmv", ".flv", ".y4m", ".3gp")
OBJECT_STORE_BYTES = 100 * 2**20    # jobs and progress are small; frames never go through Ray
NO_RAY = "needs Ray: pip install 'vprop[batch]'"


# -- jobs -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Job:
    """One video: its keys (a key folder; for segment a mask file or folder), its output, its own options."""

    video: Path                                   # a video file, or an image sequence's folder or pattern
    keys: Path
    output: str                                   # a str, so that a trailing "/" (a folder of PNGs) survives
    options: dict[str, Any] = field(default_factory=dict)   # keyword arguments of the task's library function
    fps: Fraction | None = None                   # if ``video`` is an image sequence, its rate (None: the default)
    audio: Path | None = None                     # and its sound file

    def source(self) -> Path | ImageSequence:
        """What the task reads: the video file, or the sequence ``video`` names (found, and checked whole, by the
        worker that runs it, so that a broken one fails alone)."""
        return image_sequence(str(self.video), self.fps or DEFAULT_FPS, self.audio) or self.video

    @property
    def name(self) -> str:
        """The output's name: what the summary and the log file are called."""
        return Path(self.output).name


@dataclass
class Outcome:
    job: Job
    status: str                  # "done", "failed" or "skipped"
    error: str = ""              # a failure's one line
    frames: int = 0
    seconds: float = 0.0
    planned: int = 0             # the frames its container announced (0: unknown, or not run)


@dataclass
class Plan:
    """What is about to run once the complete outputs were skipped and every video probed."""

    videos: int
    frames: int                  # frames of the videos whose container says how many


def _run_colorize(job: Job, output: str, model: Callable, device: str, on_frame) -> None:
    colorize(job.source(), job.keys, output, model=model("color"), device=device, on_frame=on_frame, **job.options)


def _run_segment(job: Job, output: str, model: Callable, device: str, on_frame) -> None:
    refiner = model("seg-refine") if job.options.get("refine") else None
    segment(job.source(), mask_keys(job.keys), output, model=model("seg"), refiner=refiner, device=device,
            on_frame=on_frame, **job.options)


def _run_hdr(job: Job, output: str, model: Callable, device: str, on_frame) -> None:
    hdr(job.source(), job.keys, output, model=model("hdr"), device=device, on_frame=on_frame, **job.options)


@dataclass(frozen=True)
class BatchTask:
    run: Callable                # (job, output, model(name), device, on_frame): the library function
    model: str                   # the model a worker loads when it starts (others when a video needs them)
    suffix: str                  # of the default output OUT_DIR/<stem><suffix>; "" for a folder of frames


TASKS = {
    "colorize": BatchTask(_run_colorize, "color", ".mp4"),
    "segment": BatchTask(_run_segment, "seg", ""),
    "hdr": BatchTask(_run_hdr, "hdr", ""),
}


def mask_keys(path: Path) -> dict[int, Path]:
    """Segment's keys from a path: one mask file (frame 0) or a folder of masks named by frame index."""
    path = Path(path)
    if path.is_file():
        return {0: path}
    if path.is_dir():
        return find_indexed_files(path, (".png",))
    raise InputError(path, "no such mask file or folder")


def convention_keys(task: str, root: Path, stem: str) -> Path:
    """The keys of video ``stem`` under ``root``: ``root/<stem>/``; for segment also ``root/<stem>.png``."""
    single = root / f"{stem}.png"
    return single if task == "segment" and single.is_file() else root / stem


def default_output(task: str, out_dir: Path, stem: str, options: dict) -> str:
    if TASKS[task].suffix:   # lossless needs .mkv, as the single command says
        return str(out_dir / (stem + (".mkv" if options.get("lossless") else TASKS[task].suffix)))
    return str(out_dir / stem)


def folder_jobs(task: str, videos: Path, keys_root: Path | None, out_dir: Path, options: dict,
                fps: Fraction | None = None) -> tuple[list[Job], list[Path]]:
    """A job for every video in ``videos`` (by suffix) and every subfolder of numbered images (an image sequence at
    ``fps``, named by its folder), keys and output by convention; also the other entries."""
    if keys_root is None:
        raise InputError(videos, "a folder of videos needs the keys' root folder (--keys/--masks/--hdr-keys)")
    entries = sorted(p for p in Path(videos).iterdir() if not p.name.startswith("."))
    found = [p for p in entries if (p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES) or
             (p.is_dir() and holds_numbered_images(p))]
    if not found:
        raise InputError(videos, f"no videos ({', '.join(VIDEO_SUFFIXES[:5])}, ...) or folders of numbered images "
                                 "in this folder")
    jobs = [Job(p, convention_keys(task, Path(keys_root), p.stem), default_output(task, out_dir, p.stem, options),
                dict(options), fps if p.is_dir() else None) for p in found]
    return jobs, [p for p in entries if p not in found]


def read_manifest(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """The rows of a CSV (header row) or TOML (``[[video]]`` tables) manifest, each with where it is
    (``jobs.csv, row 3``) for error messages. Empty CSV cells are left out."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(path, f"cannot read the manifest ({getattr(error, 'strerror', None) or error})") from None
    if path.suffix.lower() == ".toml":
        try:
            import tomllib
        except ModuleNotFoundError:   # Python 3.10: the same parser, as a package (in the batch extra)
            import tomli as tomllib

        try:
            tables = tomllib.loads(text).get("video", [])
        except tomllib.TOMLDecodeError as error:
            raise InputError(path, f"not valid TOML ({error})") from None
        if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
            raise InputError(path, "videos must be [[video]] tables")
        rows = [(f"{path.name}, video {i}", dict(t)) for i, t in enumerate(tables, 1)]
    else:
        reader = csv.DictReader(text.splitlines())
        rows = []
        for cells in reader:
            cleaned = {(k or "").strip().lower().replace("-", "_"): (v or "").strip() for k, v in cells.items()}
            if any(cleaned.values()) and not next(iter(cleaned.values()), "").startswith("#"):
                rows.append((f"{path.name}, row {reader.line_num}", {k: v for k, v in cleaned.items() if v}))
    if not rows:
        raise InputError(path, "the manifest lists no videos")
    return rows


def manifest_jobs(task: str, manifest: Path, keys_root: Path | None, out_dir: Path, options: dict,
                  convert: Callable[[str, Any], tuple[str, Any]], fps: Fraction | None = None) -> list[Job]:
    """A job per manifest row. Columns: ``input`` (a video file, or an image sequence's folder or pattern, with
    ``fps`` and ``audio``); ``keys`` (segment: also ``masks``/``mask``, hdr: ``hdr_keys``), else by convention under
    ``keys_root``; ``output``, else by convention under ``out_dir``; any other column is a per-video option,
    ``convert(column, value) -> (keyword, value)`` (which raises ValueError for a bad one). Inputs and keys are
    relative to the manifest's folder, outputs to ``out_dir``; a sequence is named by its folder. ``fps``: the rate
    of a sequence whose row gives none."""
    base, jobs = Path(manifest).resolve().parent, []
    for where, row in read_manifest(manifest):
        if "input" not in row:
            raise InputError(manifest, f"{where}: no input video")
        video = base / str(row.pop("input"))
        sequence_only = [column for column in ("fps", "audio") if column in row]
        if sequence_only and video.is_file():
            raise InputError(manifest, f"{where}: {sequence_only[0]} is only for image sequences; {video.name} is a "
                                       "video file")
        try:
            rate = parse_fps(str(row.pop("fps"))) if "fps" in row else fps
        except ValueError as error:
            raise InputError(manifest, f"{where}: fps: {error}") from None
        audio = base / str(row.pop("audio")) if "audio" in row else None
        stem = video.parent.name if is_pattern(video) else video.stem
        keys = next((row.pop(c) for c in ("keys", "masks", "mask", "hdr_keys") if c in row), None)
        if keys is not None:
            keys = base / str(keys)
        elif keys_root is not None:
            keys = convention_keys(task, Path(keys_root), stem)
        else:
            raise InputError(manifest, f"{where}: no keys column and no keys root folder given")
        output = row.pop("output", None)
        own = dict(options)
        for column, value in row.items():
            try:
                name, value = convert(column, value)
            except ValueError as error:
                raise InputError(manifest, f"{where}: {error}") from None
            own[name] = value if name not in ("overlay", "alpha", "preview", "hdr10", "hlg") else str(out_dir / value)
        if output is None:
            output = default_output(task, out_dir, stem, own)
        else:   # keep a trailing "/": the single command reads it as a folder of PNGs
            output = str(out_dir / str(output)) + ("/" if str(output).endswith(("/", os.sep)) else "")
        jobs.append(Job(video, keys, output, own, rate, audio))
    return jobs


def check_outputs(jobs: list[Job], log_dir: Path) -> None:
    """Two jobs must not write the same output or log, nor an output where the logs go."""
    seen: dict[str, Job] = {}
    for job in jobs:
        if Path(job.output).resolve() == Path(log_dir).resolve():
            raise InputError(job.output, f"is where the batch writes its logs; {job.video.name} needs another output")
        other = seen.setdefault(job.name, job)
        if other is not job:
            raise InputError(job.output, f"written by both {other.video} and {job.video}; give them distinct outputs")


def is_complete(output: str) -> bool:
    """Outputs appear only when complete (written under a temporary name): a file, a folder of frames, or frames
    named by a pattern."""
    path = Path(output)
    if is_pattern(path):
        files = frame_files(path, None)
        return files.folder.is_dir() and any(files.folder.glob(files.glob))
    return path.is_file() or (path.is_dir() and any(path.glob("00000.*")))


# -- the worker -------------------------------------------------------------------------------------------

def _append(log: Path, text: str) -> None:
    with open(log, "a", encoding="utf-8") as f:
        f.write(text if text.endswith("\n") else text + "\n")


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


class Worker:
    """A Ray actor (see ``run_batch``): the task's models, loaded once, and one whole video per ``run``."""

    def __init__(self, task: str, weights: dict[str, str | None], device: str, threads: int, progress):
        # Ray gives each worker a share of the CPUs; more threads would only fight the other workers.
        torch.set_num_threads(threads)
        cv2.setNumThreads(threads)
        self.task, self.weights, self.device, self.threads = TASKS[task], weights, device, threads
        self.progress = progress
        self.models: dict[str, Any] = {}
        self.model(self.task.model)

    def model(self, name: str):
        if name not in self.models:
            self.models[name], _ = load_model(name, self.weights.get(name), self.device)
        return self.models[name]

    def run(self, job: Job, redo: bool, log: Path) -> Outcome:
        """Process ``job``; ``redo`` replaces a complete output (only once the new one is complete)."""
        start, frames = time.monotonic(), 0

        def on_frame(_index):
            nonlocal frames
            frames += 1
            self.progress.put_nowait(1)

        _append(log, f"== {_stamp()}: {job.video} -> {job.output}\nkeys: {job.keys}\noptions: {job.options}\n"
                     f"worker: {platform.node()} pid {os.getpid()}, {self.device}, {self.threads} thread(s)")
        status, error, trace = "done", "", ""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                if redo and Path(job.output).is_dir():
                    # A folder output is not replaced wholesale (it may hold the user's files): the new frames
                    # are written aside, then moved over the old ones (atomic_path's rule for folders).
                    with atomic_path(job.output, directory=True) as tmp:
                        self.task.run(job, str(tmp), self.model, self.device, on_frame)
                else:
                    self.task.run(job, job.output, self.model, self.device, on_frame)
            except UserError as e:
                status, error = "failed", str(e)
            except Exception as e:   # a bug or a library's own error: one line here, the traceback in the log
                status, error, trace = "failed", f"{job.video}: {type(e).__name__}: {e}".splitlines()[0], \
                    traceback.format_exc()
        seconds = time.monotonic() - start
        lines = [f"warning: {w.message}" for w in caught] + ([trace] if trace else [])
        lines.append(f"done: {frames} frames in {seconds:.1f} s ({frames / max(seconds, 1e-9):.1f} fps)"
                     if status == "done" else f"failed: {error}")
        _append(log, "\n".join(lines))
        return Outcome(job, status, error, frames, seconds)


# -- the driver -------------------------------------------------------------------------------------------

def _on_loopback(address: str | None) -> bool:
    """A local instance, or a cluster at 127.0.0.1/localhost/::1 ("ray://" or not)."""
    if address is None:
        return True
    host = address.split("://")[-1].rsplit(":", 1)[0].strip("[]")
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@contextmanager
def ray_session(address: str | None = None):
    """Yields the ``ray`` module connected to a cluster: the one this process already joined, the one at
    ``address``, or a local instance started here (and stopped afterwards) that listens on 127.0.0.1 only."""
    if _on_loopback(address):
        # Ray's own switch (what it does on macOS and Windows) keeps a single-machine Ray on 127.0.0.1 instead of
        # every interface. Ray reads it when it is first imported.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    if ray.is_initialized():
        yield ray
        return
    quiet = dict(log_to_driver=False, logging_level=logging.ERROR)   # workers' output goes to the video's log
    if address is None:
        # Ray counts the CPUs (and GPUs) itself, within the container's limits.
        ray.init(address="local", include_dashboard=False, object_store_memory=OBJECT_STORE_BYTES, **quiet)
        ip = ray.util.get_node_ip_address()
        if not ipaddress.ip_address(ip).is_loopback:
            warnings.warn(f"ray was imported before vprop could keep it on 127.0.0.1: this run's Ray listens on {ip}")
    else:
        try:
            ray.init(address=address, **quiet)
        except Exception as error:   # ConnectionError, ValueError or RuntimeError, depending on what is wrong
            raise UsageError(address, f"cannot join the Ray cluster ({_reason(error)})") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _reason(error: Exception) -> str:
    """One line out of a Ray error: the underlying Python error where there is one, else its first line."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(error).splitlines()]
    lines = [line for line in lines if line]
    return next((line for line in reversed(lines) if re.match(r"[\w.]+(Error|Exception): ", line)),
                lines[0] if lines else type(error).__name__)


def _worker_shape(ray, device: str, workers: int | None, jobs: int, local: bool) -> tuple[int, dict, str]:
    """(count, Ray resources of one worker, its torch device): GPU actors where the cluster has GPUs."""
    resources = ray.cluster_resources()
    cpus, gpus = int(resources.get("CPU", 1)), resources.get("GPU", 0)
    if device == "cuda" and not gpus:
        raise UsageError("--device cuda", "the Ray cluster has no GPUs")
    use_gpu = device != "cpu" and gpus > 0
    count = max(1, min(workers or (int(gpus) if use_gpu else cpus), cpus, jobs))
    # On one machine the CPUs are shared out; on a cluster one CPU each, so that every worker fits on some node.
    per_worker = {"num_cpus": max(1, cpus // count) if local else 1}
    if use_gpu:
        per_worker["num_gpus"] = min(1.0, gpus / count)
    return count, per_worker, "cuda" if use_gpu else "cpu"


def run_batch(task: str, jobs: list[Job], log_dir: Path, *, workers: int | None = None, address: str | None = None,
              device: str = "auto", weights: dict[str, str | None] | None = None,
              force: bool = False) -> Iterator[Outcome | Plan | int]:
    """Run ``jobs`` on Ray: yields an Outcome per video (skipped and unreadable ones first), one Plan, then an
    int (frames just processed) as workers advance. ``workers`` caps the number of actors (default: one per CPU,
    or per GPU); ``address`` joins an existing cluster ("auto", "HOST:PORT", "ray://HOST:PORT") instead of
    starting a local instance for the run. ``weights``: model name -> weights for the whole batch.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {sorted(TASKS)}")
    if importlib.util.find_spec("ray") is None:
        raise UsageError("vprop batch", NO_RAY)
    log_dir = Path(log_dir)
    check_outputs(jobs, log_dir)
    weights = weights or {}
    for name, given in weights.items():
        if given:   # a bad weights file is one error before any worker starts, not one per video
            load_model(name, given, "cpu")
    log_dir.mkdir(parents=True, exist_ok=True)
    todo: list[tuple[Job, int]] = []
    for job in jobs:
        log = log_dir / f"{job.name}.log"
        if not force and is_complete(job.output):
            _append(log, f"== {_stamp()}: {job.video}\nskipped: {job.output} is complete (--force redoes it)")
            yield Outcome(job, "skipped")
            continue
        try:
            frames = probe(job.source()).frame_count or 0
        except InputError as error:
            _append(log, f"== {_stamp()}: {job.video}\nfailed: {error}")
            yield Outcome(job, "failed", str(error))
            continue
        todo.append((job, frames))
    yield Plan(len(todo), sum(frames for _, frames in todo))
    if todo:
        with ray_session(address) as ray:
            yield from _dispatch(ray, task, todo, log_dir, workers, address is None, device, weights, force)


def _dispatch(ray, task, todo, log_dir, workers, local, device, weights, force):
    """Hand each video to whichever worker is free (Ray places the workers), until all are done."""
    from ray.util.queue import Queue

    count, resources, torch_device = _worker_shape(ray, device, workers, len(todo), local)
    progress = Queue(actor_options={"num_cpus": 0})
    actor = ray.remote(Worker).options(**resources)
    threads = max(1, int(resources["num_cpus"]))

    def start_worker():
        return actor.remote(task, weights, torch_device, threads, progress)

    idle = [start_worker() for _ in range(count)]
    try:   # a worker that cannot start (vprop missing on a node, no GPU memory) is one error for the batch
        ray.get([worker.__ray_ready__.remote() for worker in idle])
    except ray.exceptions.RayError as error:
        raise UsageError("vprop batch", f"the Ray workers cannot start ({_reason(error)})") from None
    waiting, running = deque(todo), {}
    while waiting or running:
        while idle and waiting:
            worker, (job, frames) = idle.pop(), waiting.popleft()
            running[worker.run.remote(job, force, log_dir / f"{job.name}.log")] = (worker, job, frames)
        ready, _ = ray.wait(list(running), num_returns=1, timeout=0.2)
        ticks = progress.qsize()
        if ticks:
            yield sum(progress.get_nowait_batch(ticks))
        for ref in ready:
            worker, job, frames = running.pop(ref)
            try:
                outcome = ray.get(ref)
            except ray.exceptions.RayError as error:
                # The worker died (out of memory, a crash in a codec): its video failed, a new one takes its place.
                outcome = Outcome(job, "failed", f"{job.video}: the worker died ({_reason(error)})")
                _append(log_dir / f"{job.name}.log", f"failed: {outcome.error}\n{error}")
                ray.kill(worker)
                worker = start_worker()
            outcome.planned = frames
            idle.append(worker)
            yield outcome
