"""Spans run in this process or spread over worker processes, their results handed back strictly in order.

Spans are independent given their keys (``vprop.engine.spans``), so N processes can each run one; every
process loads the model once and gets its share of the CPU threads (torch and OpenCV), so that N workers use
as many threads in all as one process would. At most ``2 N`` spans are in flight, and a span's results wait
in the parent only until the spans before it are written: memory stays flat in the video's length.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Iterable, Iterator, Protocol

import cv2
import torch

from vprop.engine.spans import Span
from vprop.io.video import VideoFrame

Results = Iterable[tuple[VideoFrame, Any]]


class SpanSource(Protocol):
    """What runs a span: picklable, so that a worker process can be given it."""

    def open(self) -> None: ...                          # load the model: once per process
    def outputs(self, span: Span) -> Results: ...        # (frame, output) for frames [span.start, span.end)


def run_spans(source: SpanSource, spans: Iterable[Span], workers: int = 1) -> Iterator[tuple[Span, Results]]:
    """(span, its results) for every span, in order. One worker: run here, results streamed frame by frame."""
    if workers <= 1:
        source.open()
        for span in spans:
            yield span, source.outputs(span)
        return
    threads = max(1, torch.get_num_threads() // workers)
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
                               initargs=(source, threads, os.getpid()))
    in_flight: deque = deque()
    try:
        for span in spans:
            in_flight.append((span, pool.submit(_run_span, span)))
            if len(in_flight) >= 2 * workers:
                span, done = in_flight.popleft()
                yield span, done.result()
        while in_flight:
            span, done = in_flight.popleft()
            yield span, done.result()
    finally:
        _stop(pool)


MAX_DEFAULT_WORKERS = 4     # each worker holds a model and a span of frames (some 0.7 GB at 854x480)
# Starting a worker (a fresh interpreter, torch, the model) takes seconds: below this much work (frames x pixels)
# one process finishes first. Measured on 2 CPUs (benchmarks/bench_workers.py): under load, 50 frames at 320x180
# (2.9 M) ran 0.5x as fast with 2 workers, 60 frames at 640x360 (13.8 M) 1.4x as fast; idle, the latter 1.04x and
# 398 frames at 854x480 (163 M, --davis 5) 1.29x (one process already keeps 1.53 of the 2 CPUs busy).
MIN_PARALLEL_WORK = 10_000_000


def default_workers(device: str, frames: int, width: int, height: int, spans: int) -> int:
    """One worker per CPU this process may use (at most ``MAX_DEFAULT_WORKERS``, at most one per span) for a run
    big enough to repay their start; one on a GPU, which one process keeps busy."""
    if device != "cpu" or frames * width * height < MIN_PARALLEL_WORK:
        return 1
    return max(1, min(len(os.sched_getaffinity(0)), MAX_DEFAULT_WORKERS, spans))


# -- in a worker process -----------------------------------------------------------------------------------------

_source: SpanSource | None = None     # the worker's one source, set up once by the pool's initializer
_parent: int | None = None


def _start_worker(source: SpanSource, threads: int, parent: int) -> None:
    global _source, _parent
    signal.signal(signal.SIGINT, signal.SIG_IGN)    # Ctrl-C is the parent's to handle: it stops the workers
    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    source.open()
    _source, _parent = source, parent


def _run_span(span: Span) -> list[tuple[VideoFrame, Any]]:
    results = []
    for frame, output in _source.outputs(span):
        if os.getppid() != _parent:
            os._exit(1)     # the parent was killed: this span's results have nowhere to go
        results.append((frame, output))
    return results


def _stop(pool: ProcessPoolExecutor) -> None:
    """Stop at once, also mid-span (an error or Ctrl-C in the parent): the workers' spans are not needed."""
    processes = list((pool._processes or {}).values())    # the executor offers no public way to terminate them
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join()
