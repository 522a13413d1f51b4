"""The only place that talks to the terminal: progress on stderr, one-line errors, warnings as notes, and how a
run that ends early says so.

Exit codes: 0 done, 1 bad input or a failed run, 2 usage (click), 128 + the signal's number when a signal
stopped the run (130 SIGINT/Ctrl-C, 143 SIGTERM, 129 SIGHUP). Whatever way a run ends early, its outputs were
still under temporary names (vprop/io/atomic.py) and are removed before the one line is printed.
"""
from __future__ import annotations

import contextlib
import errno
import logging
import signal
import sys
import tempfile
import threading
import time
import traceback
import warnings
from collections import deque
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Callable

import click
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)
from rich.text import Text

from vprop.errors import UserError
from vprop.io.video import probe
from vprop.stop_signals import handling_stop_signals

stderr = Console(stderr=True, highlight=False)

PLAIN_EVERY_S = 30.0     # when stderr is a log file: one progress line this often
_NO_SPACE = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
             errno.EFBIG: "file too large (file system or `ulimit -f` limit)"}


def _clock_text(seconds: float | None) -> str:
    return "-:--:--" if seconds is None else str(timedelta(seconds=round(seconds)))


@dataclass
class Meter:
    """Frames (or training steps) finished, and the rate and ETA of that finished work.

    Offline propagation finishes frames in bursts -- a whole key segment at once, after minutes of work -- so a
    rate over the samples of the last few seconds swings between zero and hundreds. Here the rate is measured
    from the latest finished frame at least ``window`` seconds older than the newest one: over a whole key
    segment and the frames finished with it, or over the last ``window`` seconds when frames stream out. Until
    such a frame exists it is measured from ``begin()``: when the frames' work started, after the preparation
    (probing, reading every key, finding cuts, loading the model), which on a long film is minutes of no frames and
    would make the rate of the first key segments read low. ``done`` may start above 0 (a resumed training run).
    """

    total: int | None
    clock: Callable[[], float] = time.monotonic
    window: float = 60.0
    done: int = 0
    noun: str = "frames"
    unit: str = "fps"
    note: str = ""                                          # e.g. the training loss, shown after the rate
    start: float = field(init=False)
    began: float = field(init=False)                        # when the frames' work started (``begin``)
    done_at_start: int = field(init=False)
    last: float | None = field(init=False, default=None)    # when the latest frame finished
    _since: deque = field(init=False, default_factory=deque)  # (time, done) of the recent finished frames

    def __post_init__(self):
        self.start = self.began = self.clock()
        self.done_at_start = self.done

    def begin(self) -> None:
        """The preparation is over: measure the rate of frame work from now (until a window-old frame exists)."""
        self.began, self.done_at_start = self.clock(), self.done

    def tick(self) -> None:
        self.done += 1
        self.last = self.clock()
        self._since.append((self.last, self.done))
        while len(self._since) > 1 and self._since[1][0] <= self.last - self.window:
            self._since.popleft()      # the oldest kept sample is the newest one at least a window old

    def fps(self) -> float | None:
        if not self.done:
            return None
        since, done_then = self._since[0]
        if since > self.last - self.window:
            since, done_then = self.began, self.done_at_start
        return (self.done - done_then) / (self.last - since) if self.last > since else None

    def eta(self) -> float | None:
        """Seconds left at that rate, counted down from the latest finished frame."""
        fps = self.fps()
        if fps is None or self.total is None:
            return None
        return max((self.total - self.done) / fps - (self.clock() - self.last), 0.0)

    def line(self, description: str) -> str:
        fps = self.fps()
        count = f"{self.done}/{self.total}" if self.total else f"{self.done}"
        note = f", {self.note}" if self.note else ""
        return (f"{description}: {count} {self.noun}, {'...' if fps is None else f'{fps:.2f}'} {self.unit}{note}, "
                f"elapsed {_clock_text(self.clock() - self.start)}, ETA {_clock_text(self.eta())}")


class _MeterColumn(ProgressColumn):
    def __init__(self, show: Callable[[Meter], str]):
        super().__init__()
        self.show = show

    def render(self, task) -> Text:
        return Text(self.show(task.fields["meter"]))


def _rate_text(meter: Meter) -> str:
    fps, unit = meter.fps(), meter.unit
    return f"  ... {unit}" if fps is None else f"{fps:5.2f} {unit}" if fps < 10 else f"{fps:5.1f} {unit}"


@dataclass
class Ticker:
    """What a run is handed for its progress: called once per finished frame (or training step, with an optional
    ``note`` such as the loss), and ``begin()`` once the preparation is over and frames start (``Meter.begin``)."""

    meter: Meter | None = None                      # None: quiet
    advance: Callable[[], None] = lambda: None      # moves the live bar, where there is one

    def __call__(self, *_, note: str | None = None) -> None:
        if self.meter is None:
            return
        self.meter.tick()
        if note is not None:
            self.meter.note = note
        self.advance()

    def begin(self) -> None:
        if self.meter is not None:
            self.meter.begin()


@contextlib.contextmanager
def progress(description: str, total: int | None, quiet: bool, every: float = PLAIN_EVERY_S,
             unit: str = "fps", completed: int = 0):
    """Yields a ``Ticker`` over ``total`` frames (or training steps: ``unit="steps/s"``, counting from
    ``completed``). On a terminal: a live bar of the count, rate and ETA of finished work on stderr; otherwise (a
    log file) a plain line every ``every`` seconds and one at the end."""
    if quiet:
        yield Ticker()
        return
    meter = Meter(total, done=completed, noun="steps" if unit == "steps/s" else "frames", unit=unit)
    if not stderr.is_terminal:
        stop = threading.Event()

        def report():
            while not stop.wait(every):
                click.echo(meter.line(description), err=True)

        thread = threading.Thread(target=report, daemon=True)
        thread.start()
        try:
            yield Ticker(meter)
        finally:
            stop.set()
            thread.join()
        click.echo(meter.line(description), err=True)
        return
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), _MeterColumn(_rate_text),
                   _MeterColumn(lambda m: m.note), TimeElapsedColumn(),
                   _MeterColumn(lambda m: f"ETA {_clock_text(m.eta())}"), console=stderr, transient=False)
    task = bar.add_task(description, total=total, completed=completed, meter=meter)
    bar.start()
    try:
        yield Ticker(meter, lambda: bar.advance(task))
    except BaseException:
        bar.live.transient = True     # the error's one line replaces the bar
        raise
    finally:
        bar.stop()


@contextlib.contextmanager
def log_to_stderr(quiet: bool):
    """The library's ``logging`` records (logger ``vprop``) on stderr, above any progress bar; warnings only when
    quiet."""
    logger = logging.getLogger("vprop")
    handler = RichHandler(console=stderr, show_path=False, markup=False, rich_tracebacks=False)
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


class Interrupted(KeyboardInterrupt):
    """A stop signal (SIGTERM, SIGHUP, SIGINT) turned into an exception, so that `with` blocks clean up."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _stop_signals_raise():
    """SIGINT, SIGTERM and SIGHUP raise Interrupted in the main thread (unless they were ignored, as under nohup);
    a second signal while the first one's clean-up runs is ignored, so the clean-up itself is never cut short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stopping = False

    def on_signal(signum, frame):
        nonlocal stopping
        if not stopping:
            stopping = True
            raise Interrupted(signum)

    with handling_stop_signals(on_signal):
        yield


def _say(text: str) -> None:
    click.echo(" ".join(text.split()), err=True)     # one line, whatever the message holds


def _saved_traceback() -> str:
    with tempfile.NamedTemporaryFile("w", prefix="vprop-traceback-", suffix=".txt", delete=False) as f:
        f.write(traceback.format_exc())
    return f.name


@contextlib.contextmanager
def user_errors(quiet: bool = False):
    """However the command ends early, one line on stderr and the documented exit code, never a traceback."""
    def show_warning(message, category, filename, lineno, file=None, line=None):
        if not quiet:
            click.echo(f"warning: {message}", err=True)

    old = warnings.showwarning
    warnings.showwarning = show_warning
    try:
        with _stop_signals_raise():
            yield
    except UserError as e:
        _say(f"error: {e}")
        sys.exit(1)
    except KeyboardInterrupt as e:
        signum = e.signum if isinstance(e, Interrupted) else signal.SIGINT
        _say(f"interrupted ({signal.Signals(signum).name}): no output written")
        sys.exit(128 + signum)
    except OSError as e:     # a full disk, an output folder removed under us, ...
        problem = _NO_SPACE.get(e.errno) or e.strerror or str(e)
        where = f"{e.filename}: " if e.filename else ""
        _say(f"error: {where}{problem}; no output written")
        sys.exit(1)
    except (click.ClickException, click.exceptions.Abort, click.exceptions.Exit):
        raise
    except Exception as e:   # a bug: still one line; the traceback goes to a file for the bug report
        _say(f"error: internal error ({type(e).__name__}: {e}); no output written; "
             f"traceback in {_saved_traceback()}")
        sys.exit(1)
    finally:
        warnings.showwarning = old


def wrote(path, report_dir=None) -> str:
    """The closing line of a pipeline command."""
    return f"wrote {path}" + (f" and the confidence report {report_dir}" if report_dir else "")


def run_over_video(label: str, video, quiet: bool, work: Callable[[Ticker], object],
                   written: Callable[[object], str], completed: int = 0) -> None:
    """A command's run over VIDEO: a progress bar over its frames for ``work(ticker)``, then the line
    ``written(result)``; a user error is one line (``user_errors``). ``completed``: frames already done (resume)."""
    with user_errors(quiet):
        info = probe(video)
        with progress(label, info.frame_count, quiet, completed=completed) as tick:
            result = work(tick)
        if not quiet:
            click.echo(written(result), err=True)


class FramesPerSecond(TextColumn):
    def __init__(self, unit: str = "fps"):
        super().__init__("")
        self.unit = unit

    def render(self, task):
        speed = task.finished_speed or task.speed
        return f"{speed:5.1f} {self.unit}" if speed else f"  ... {self.unit}"


class BatchProgress:
    """One bar for a whole batch on stderr: frames done of all videos, videos finished, fps and ETA.

    ``say`` prints a line above the bar (errors are said even when quiet)."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.bar = Progress(TextColumn("batch"), BarColumn(), MofNCompleteColumn(), TextColumn("frames"),
                            TextColumn("{task.fields[videos]}"), FramesPerSecond(), TimeRemainingColumn(),
                            console=stderr, transient=False)
        self.task, self.videos, self.finished = None, 0, 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.task is not None:
            self.bar.stop()
        return False

    def start(self, videos: int, frames: int):
        self.videos = videos
        if not self.quiet and videos:
            self.bar.start()
            self.task = self.bar.add_task("batch", total=frames or None, videos=f"0/{videos} videos")

    def advance(self, frames: int):
        if self.task is not None:
            self.bar.advance(self.task, frames)

    def finished_video(self, frames_off: int = 0):
        """A video ended; ``frames_off``: its frames the total counted wrongly (a failure's unprocessed ones)."""
        self.finished += 1
        if self.task is not None:
            total = self.bar.tasks[0].total
            self.bar.update(self.task, total=None if total is None else max(0, total + frames_off),
                            videos=f"{self.finished}/{self.videos} videos")

    def say(self, line: str, error: bool = False):
        if error or not self.quiet:
            stderr.print(line, markup=False, highlight=False, soft_wrap=True)
