"""Which frames are key-frames: files named by frame index, checked against the interval and the video."""
from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable

from vprop.errors import InputError, UsageError
from vprop.io.images import find_indexed_files
from vprop.io.sequence import ImageSequence


def key_files(directory, interval: int | None, frame_count: int | None, suffixes, video=None) -> dict[int, Path]:
    """Key files by 0-based frame index. With ``interval``, keys at 0, K, 2K, ... must all exist. Where the
    ``video`` is an image sequence, a key named as its files are is numbered as they are (``numbered_as_files``)."""
    found = find_indexed_files(directory, suffixes)
    if isinstance(video, ImageSequence):
        found = numbered_as_files(found, video)
    check_key_indices(found, frame_count)
    if interval is not None:
        if interval < 1:
            raise UsageError("--interval", "must be at least 1")
        if frame_count is None:
            wanted = range(0, max(found) + 1, interval)
        else:
            wanted = range(0, frame_count, interval)
        missing = [i for i in wanted if i not in found]
        if missing:
            shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
            raise InputError(directory, f"missing key-frames for interval {interval}: {shown}")
        off_interval = [found[i].name for i in found if i not in wanted]
        if off_interval:
            shown = ", ".join(off_interval[:5]) + (" ..." if len(off_interval) > 5 else "")
            warnings.warn(f"{Path(directory).name}: {shown} not on --interval {interval}, so not used "
                          "(without --interval every key is used)", stacklevel=2)
        return {i: found[i] for i in wanted}
    return found


def numbered_as_files(files: Mapping[int, Path], sequence: ImageSequence) -> dict[int, Path]:
    """``files`` (by the number in their names) by frame index, where a name that starts with the sequence's own
    prefix carries a file's number: a scan copied out and painted (scan_0086430.png beside scan_0086400.dpx, ...)
    keeps its name. Other names (``vprop keys``' 00030.png) are frame indices already."""
    if not sequence.prefix:
        return dict(files)
    indexed: dict[int, Path] = {}
    for number, path in files.items():
        index = number - sequence.first if path.name.startswith(sequence.prefix) else number
        if index < 0:
            raise InputError(path, f"is numbered before the sequence's first file, {sequence.name}")
        if index in indexed:
            raise InputError(path, f"frame {index} is also given by {indexed[index].name}")
        indexed[index] = path
    return dict(sorted(indexed.items()))


def check_key_indices(files: Mapping[int, Path], frame_count: int | None) -> Mapping[int, Path]:
    """Before any work: every key's index is a frame of the video (when its frame count is known). Returns
    ``files``."""
    for index, path in sorted(files.items()):
        if index < 0:
            raise InputError(path, "negative frame index")
        if frame_count is not None and index >= frame_count:
            raise InputError(path, f"key index {index} is beyond the video's end "
                                   f"({frame_count} frames, last index {frame_count - 1})")
    return files


class LazyKeys(Mapping):
    """Key data made when the frame loop reaches it, so long videos with many keys stay light: ``load`` of the
    value ``files`` holds for that index (a key file's path; or another mapping's key data, e.g. shrunk)."""

    def __init__(self, files: Mapping[int, Any], load: Callable[[Any], object]):
        self.files, self.load = files, load

    def __getitem__(self, index: int):
        return self.load(self.files[index])

    def __iter__(self):
        return iter(self.files)

    def __len__(self) -> int:
        return len(self.files)

    def __contains__(self, index) -> bool:
        return index in self.files


def check_all_keys_used(files: Mapping[int, Path], seen) -> None:
    """After the frame loop: a key whose index the video never reached (its frame count was not known or was
    wrong beforehand) is an error naming that key, so no output is kept that silently ignored it."""
    unused = sorted(set(files) - set(seen))
    if unused:
        raise InputError(files[unused[0]], f"key index {unused[0]} is beyond the video's end")
