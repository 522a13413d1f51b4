"""The state of a resumable run (``--resume``): what it was run on, and which spans are finished.

It lives next to the output, in ``<output>.vprop-resume/``:

- ``manifest.json``: the sha256 of the video, of every key file and of the weights, the run's arguments, the
  spans of the video (``vprop.engine.spans``) and those finished, in order;
- one folder per output: the finished frames of a frame-folder output (PNG, EXR), or one piece per span of a
  video output (``vprop.io.chunks``), joined without re-encoding at the end.

A span is added to the manifest only once its outputs are written and flushed to the disk, and the manifest is
replaced in one rename, so whenever the run is killed (SIGKILL, power loss) the manifest names only spans whose
outputs are complete. The folder is removed once the outputs are in place.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from vprop.engine.spans import Span
from vprop.errors import InputError, UsageError
from vprop.io.atomic import atomic_path
from vprop.io.sequence import ImageSequence

SUFFIX = ".vprop-resume"
MANIFEST = "manifest.json"
VERSION = 1


def state_folder(output) -> Path:
    path = Path(os.path.abspath(output))
    return path.with_name(path.name + SUFFIX)


def file_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def video_sha256(video) -> str:
    """The video file's bytes; for an image sequence, its frame rate and its files' names, sizes and modification
    times (reading every scan of a film would take longer than many a run)."""
    if not isinstance(video, ImageSequence):
        return file_sha256(video)
    digest = hashlib.sha256(f"{video.fps}".encode())
    for path in video.files():
        stat = path.stat()
        digest.update(f"\n{path.name} {stat.st_size} {stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def model_sha256(model: torch.nn.Module) -> str:
    """The weights as the run uses them, whatever file or hub revision they came from."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def fingerprint(video, key_files: dict[int, Path], model: torch.nn.Module, arguments: dict[str, Any]) -> dict:
    """What a resumed run must share with the first: its inputs' hashes and the arguments that shape the output."""
    return {"video": video_sha256(video),
            "keys": {str(i): [str(p), file_sha256(p)] for i, p in sorted(key_files.items())},
            "weights": model_sha256(model),
            "arguments": {name: _plain(value) for name, value in sorted(arguments.items())}}


def finished_frames(output) -> int:
    """How many frames the state of ``output`` holds finished, as its manifest says (0: none, or unreadable);
    for a progress bar, before the state is checked."""
    try:
        saved = json.loads((state_folder(output) / MANIFEST).read_text())
        return sum(end - start for start, end in saved["finished"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


class ResumeState:
    """Open (or start) the state of a resumable run of ``output``; refuse one made from other inputs."""

    def __init__(self, output, video, run: dict, spans: list[Span]):
        self.folder = state_folder(output)
        self.spans = spans
        manifest = self.folder / MANIFEST
        if manifest.is_file():
            saved = json.loads(manifest.read_text())
            _check_same(saved, run, video, self.folder)
            if saved["spans"] != [_plain(s) for s in spans]:
                raise InputError(self.folder, "its spans differ from this run's (the cuts moved?); delete it to "
                                              "start over")
            self.finished = {tuple(s) for s in saved["finished"]}
        else:
            if self.folder.exists():     # killed before its first manifest: nothing in it is finished
                shutil.rmtree(self.folder)
            self.folder.mkdir(parents=True)
            self.finished = set()
        self.run = run
        self._write()
        self._remove_partial_files()

    def is_finished(self, span: Span) -> bool:
        return (span.start, span.end) in self.finished

    def finished_frames(self) -> int:
        return sum(s.frames for s in self.spans if self.is_finished(s))

    def output_folder(self, name: str) -> Path:
        """Where the output ``name`` (a frame folder, or a video's pieces) is kept until the run completes."""
        folder = self.folder / name
        folder.mkdir(exist_ok=True)
        return folder

    def finish(self, span: Span) -> None:
        """Mark ``span`` finished, once its outputs are written."""
        os.sync()     # its frames on the disk before the manifest says they are there
        self.finished.add((span.start, span.end))
        self._write()

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def _write(self) -> None:
        manifest = {"version": VERSION, **self.run, "spans": [_plain(s) for s in self.spans],
                    "finished": sorted(self.finished)}
        with atomic_path(self.folder / MANIFEST) as tmp:
            with open(tmp, "w") as f:
                json.dump(manifest, f, indent=1)
                f.flush()
                os.fsync(f.fileno())

    def _remove_partial_files(self) -> None:
        """Temporary files of a killed run's unfinished writes (``vprop.io.atomic``)."""
        for path in self.folder.rglob(".*"):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def _check_same(saved: dict, run: dict, video: Path, folder: Path) -> None:
    """One line naming the first thing that changed since the run that left ``folder``."""
    again = f"since the interrupted run whose state is {folder}; delete that folder to start over"
    if saved.get("version") != VERSION:
        raise InputError(folder, "was left by another version of vprop; delete it to start over")
    if saved["video"] != run["video"]:
        raise InputError(video, f"changed {again}")
    old_keys, new_keys = saved["keys"], run["keys"]
    for index in sorted(set(old_keys) | set(new_keys), key=int):
        if index not in new_keys:
            raise InputError(old_keys[index][0], f"key file missing {again}")
        if index not in old_keys:
            raise InputError(new_keys[index][0], f"key file added {again}")
        if old_keys[index][1] != new_keys[index][1]:
            raise InputError(new_keys[index][0], f"key file changed {again}")
    if saved["weights"] != run["weights"]:
        raise UsageError("--weights", f"the weights changed {again}")
    old, new = saved["arguments"], run["arguments"]
    for name in sorted(set(old) | set(new)):
        if old.get(name) != new.get(name):
            raise UsageError(f"--{name.replace('_', '-')}", f"is {new.get(name)!r}, was {old.get(name)!r} {again}")


def _plain(value):
    """JSON's view of a value, so that a saved manifest compares equal to a fresh one."""
    if isinstance(value, Span):
        return [value.start, value.end, value.read_end]
    return json.loads(json.dumps(value, default=str))
