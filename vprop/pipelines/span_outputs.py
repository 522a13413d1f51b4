"""Where a run's spans write, and how its outputs appear when the run completes.

Two kinds of output: a folder of frame files (PNG, EXR) and a video. A folder's frames go into a temporary
folder that becomes the output at the end (``vprop.io.atomic``); with ``--resume`` that folder is the state's
(``vprop.pipelines.resume``), so finished frames survive the run. A video is written by one ``VideoWriter`` when
the spans run in order in one process and nothing is to be kept; otherwise (``--resume``, ``--workers``) each span
is its own piece, and the pieces are joined without re-encoding at the end (``vprop.io.chunks``).
"""
from __future__ import annotations

import shutil
import tempfile
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator

from vprop.engine.spans import Span
from vprop.io.atomic import atomic_path, move_directory
from vprop.io.chunks import SUFFIX, chunk_writer, join_chunks
from vprop.io.video import VideoInfo, VideoWriter, check_output
from vprop.pipelines.resume import ResumeState


class SpanOutputs:
    """``folders``: name -> output folder; ``videos``: name -> (output path, ``VideoWriter`` options).

    Use as a context manager around the run, ``span(span)`` around each span's writes; ``folder(name)`` is where
    frame files go, ``video(name)`` the writer of the current span's frames. The outputs appear when the ``with``
    block completes; if it fails they do not, and only a ``state``'s finished spans are kept.
    """

    def __init__(self, source: VideoInfo, spans: list[Span], folders: dict[str, Path],
                 videos: dict[str, tuple[Path, dict]], state: ResumeState | None = None, pieces: bool = False):
        self.source, self.spans, self.state = source, spans, state
        self.folders, self.videos = {n: Path(p) for n, p in folders.items()}, videos
        self.pieces = pieces or state is not None
        # Checked now so that a bad output path fails before any work.
        for path in self.folders.values():
            check_output(path, source.path)
        self._checked = {name: VideoWriter(path, source, **options) for name, (path, options) in videos.items()}
        self._places: dict[str, Path] = {}
        self._writers: dict[str, VideoWriter] = {}
        self._stack: ExitStack | None = None

    def __enter__(self) -> SpanOutputs:
        with ExitStack() as stack:
            for name, path in self.folders.items():
                self._places[name] = (self.state.output_folder(name) if self.state else
                                      stack.enter_context(atomic_path(path, directory=True)))
            for name, writer in self._checked.items():
                if not self.pieces:
                    self._writers[name] = stack.enter_context(writer)
                elif self.state:
                    self._places[name] = self.state.output_folder(name)
                else:
                    scratch = tempfile.mkdtemp(prefix=f".{writer.path.name}.pieces-", dir=writer.path.parent)
                    stack.callback(shutil.rmtree, scratch, ignore_errors=True)
                    self._places[name] = Path(scratch)
            self._stack = stack.pop_all()
        return self

    def folder(self, name: str) -> Path:
        return self._places[name]

    def video(self, name: str) -> VideoWriter:
        return self._writers[name]

    @contextmanager
    def span(self, span: Span) -> Iterator[None]:
        """Around the writes of one span's frames; with a state, the span is recorded finished after them."""
        if not self.pieces:
            yield
            return
        with ExitStack() as stack:
            for name, (path, options) in self.videos.items():
                self._writers[name] = stack.enter_context(
                    chunk_writer(path, self.source, self._piece(name, span), **options))
            yield
        if self.state:
            self.state.finish(span)

    def __exit__(self, exc_type, exc, tb):
        stack, self._stack = self._stack, None
        if exc_type is not None:
            return stack.__exit__(exc_type, exc, tb)
        try:
            if self.pieces:
                for name, (path, _) in self.videos.items():
                    join_chunks([self._piece(name, s) for s in self.spans], path, self.source)
            if self.state:
                for name, path in self.folders.items():
                    move_directory(self._places[name], path)
        except BaseException as error:
            stack.__exit__(type(error), error, error.__traceback__)
            raise
        stack.__exit__(None, None, None)
        if self.state:
            self.state.remove()
        return False

    def _piece(self, name: str, span: Span) -> Path:
        return self._places[name] / f"{span.start:08d}{SUFFIX}"

