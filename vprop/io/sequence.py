"""Numbered image files: read as one video (film scans, renders and archive transfers often arrive so), and
written one per frame.

FFmpeg's image2 demuxer decodes them (PNG, TIFF, DPX, JPEG, ...); this module only finds the sequence a folder or
a printf pattern names and checks that it is whole, since image2 ends the video silently at the first missing file.
"""

import os
import re
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av

from vprop.errors import InputError

# What tells a sequence's frames from the other files a folder may hold (an edit's .mp4, notes, a thumbnail).
IMAGE_SUFFIXES = {".png", ".tif", ".tiff", ".dpx", ".jpg", ".jpeg", ".bmp", ".webp"}
# EXR frames hold scene-linear radiance; VIDEO is display-referred (what hdr's LDR input and colour keys are).
_LINEAR = "EXR frames are scene-linear: VIDEO must be display-referred (PNG, TIFF, DPX, JPEG); HDR shots are keys"
DEFAULT_FPS = Fraction(24)      # film's rate: the sequence itself has no clock
_NUMBERED = re.compile(r"^(?P<prefix>.*?)(?P<number>\d+)$")
_PRINTF = re.compile(r"%(0(?P<width>\d+))?d")
_HASHES = re.compile(r"#+")     # Nuke's and Resolve's way: scan_####.dpx is scan_%04d.dpx


@dataclass(frozen=True)
class ImageSequence:
    """A whole sequence of numbered image files, read as a video at ``fps``."""

    folder: Path
    prefix: str          # the file name before the number, "scan_" in scan_0086400.dpx
    width: int           # the number's zero-padded width; 0: not padded
    suffix: str          # ".dpx"
    first: int           # the first file's number
    count: int
    fps: Fraction
    audio: Path | None = None   # the sound that goes with the pictures, from the first frame on (a scanned track)

    @property
    def pattern(self) -> str:
        """The printf-style path image2 reads (a literal % doubled)."""
        return self._printf(lambda text: text.replace("%", "%%"))

    @property
    def name(self) -> str:
        return self.file(self.first).name

    def file(self, number: int) -> Path:
        return self.folder / f"{self.prefix}{number:0{self.width}d}{self.suffix}"

    def files(self) -> list[Path]:
        return [self.file(n) for n in range(self.first, self.first + self.count)]

    def __str__(self) -> str:
        """As a user would type it."""
        return self._printf(lambda text: text)

    def _printf(self, literal) -> str:
        number = f"%0{self.width}d" if self.width else "%d"
        return literal(os.path.join(self.folder, self.prefix)) + number + literal(self.suffix)   # prefix may be ""


@dataclass(frozen=True)
class FrameFiles:
    """Where a run writes one file per frame, and their names: ``00000.png``, ... in a folder, or as a pattern says
    (``graded/scan_%07d.png``), numbered from the input sequence's first file number (0 for a video), so that a
    conform by frame number still holds."""

    folder: Path
    prefix: str = ""
    width: int = 5
    suffix: str = ".png"
    first: int = 0

    def name(self, index: int) -> str:
        return f"{self.prefix}{self.first + index:0{self.width}d}{self.suffix}"

    @property
    def glob(self) -> str:
        """Matches the files of such names already in the folder."""
        return f"{self.prefix}[0-9]*{self.suffix}"


def frame_files(output, suffix: str | tuple[str, ...] | None, source=None) -> FrameFiles:
    """The frame files of ``output``: a folder of ``suffix`` files (of a tuple's first), or a pattern (which must
    end in ``suffix``, in one of a tuple's; None: any) numbered as the ``source`` sequence's files are."""
    path = _printf_path(Path(output))
    allowed = (suffix,) if isinstance(suffix, str) else suffix
    if not is_pattern(path):
        return FrameFiles(path, suffix=allowed[0] if allowed else "")
    prefix, width, rest = _split_pattern(path)
    if allowed is not None and rest.lower() not in allowed:
        kinds = f"{', '.join(allowed[:-1])} or {allowed[-1]}" if len(allowed) > 1 else allowed[0]
        raise InputError(output, f"the frames are {kinds} files: the pattern must end in {kinds}")
    first = source.first if isinstance(source, ImageSequence) else 0
    return FrameFiles(path.parent, prefix, width, rest, first)


def _printf_path(path: Path) -> Path:
    """``scan_####.dpx`` (Nuke's and Resolve's way) as ``scan_%04d.dpx``; any other path as it is."""
    if len(_HASHES.findall(path.name)) != 1 or path.exists():
        return path
    return path.with_name(_HASHES.sub(lambda run: f"%0{len(run[0])}d", path.name))


def is_pattern(output) -> bool:
    return _PRINTF.search(_printf_path(Path(output)).name) is not None


def _split_pattern(pattern: Path) -> tuple[str, int, str]:
    """A pattern's name as (prefix, zero-padded width, suffix): ("scan_", 7, ".dpx") for scan_%07d.dpx."""
    match = _PRINTF.search(pattern.name)
    return pattern.name[:match.start()], int(match["width"] or 0), pattern.name[match.end():]


def image_sequence(text: str, fps: Fraction = DEFAULT_FPS, audio=None) -> ImageSequence | None:
    """The sequence that VIDEO names (a folder of numbered images, or a pattern such as ``scans/f_%06d.dpx``) at
    ``fps`` frames per second, with the sound file ``audio`` if given; None where it names a file."""
    path = _printf_path(Path(text))
    if path.suffix.lower() == ".exr" and _PRINTF.search(path.name):
        raise InputError(path, _LINEAR)
    if path.is_dir():
        sequence = _in_folder(path, fps)
    elif _PRINTF.search(path.name) and not path.exists():
        sequence = _from_pattern(path, fps)
    else:
        return None
    return sequence if audio is None else replace(sequence, audio=_sound_file(Path(audio)))


def _sound_file(path: Path) -> Path:
    if not path.is_file():
        raise InputError(path, "no such sound file")
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise InputError(path, "holds no audio stream")
    except av.FFmpegError as error:
        raise InputError(path, f"not a sound file ({error.strerror or error})") from None
    return path


def holds_numbered_images(folder: Path) -> bool:
    """Whether ``folder`` looks like an image sequence (is one, or a broken one), before it is checked whole."""
    return any(_numbered_image(path) for path in folder.iterdir())


def _numbered_image(path: Path) -> re.Match | None:
    """The (prefix, number) match of an image file named by a number, such as scan_0086400.dpx; None for others."""
    if path.suffix.lower() not in IMAGE_SUFFIXES or path.name.startswith(".") or not path.is_file():
        return None
    return _NUMBERED.match(path.stem)


def parse_fps(text: str) -> Fraction:
    """A frame rate as a user types it: 24, 25, 24000/1001, or 23.976 / 29.97 / 59.94 for the NTSC rates."""
    try:
        fps = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"{text!r} is not a frame rate (24, 25, 24000/1001, 23.976)") from None
    if not 0 < fps <= 1000:
        raise ValueError(f"{text!r} is not a frame rate between 0 and 1000")
    ntsc = Fraction(round(fps * 1001 / 1000) * 1000, 1001)
    return ntsc if fps.denominator != 1 and abs(fps - ntsc) < Fraction(1, 1000) else fps


def _in_folder(folder: Path, fps: Fraction) -> ImageSequence:
    groups: dict[tuple[str, str], list[str]] = {}
    entries = list(folder.iterdir())
    for path in entries:
        if match := _numbered_image(path):
            groups.setdefault((match["prefix"], path.suffix), []).append(match["number"])
    if not groups and any(p.suffix.lower() == ".exr" for p in entries):
        raise InputError(folder, _LINEAR)
    if not groups:
        raise InputError(folder, "holds no numbered image files (frame_0001.png, ...): not an image sequence")
    if len(groups) > 1:
        names = ", ".join(f"{prefix}#{suffix}" for prefix, suffix in sorted(groups))
        prefix, suffix = min(groups)
        example = ImageSequence(folder, prefix, _padding(folder, groups[prefix, suffix]), suffix, 0, 0, fps)
        raise InputError(folder, f"holds more than one numbered sequence ({names}); name one with a pattern, "
                                 f"e.g. {example}")
    (prefix, suffix), numbers = groups.popitem()
    return _whole(folder, prefix, _padding(folder, numbers), suffix, numbers, fps)


def _from_pattern(pattern: Path, fps: Fraction) -> ImageSequence:
    prefix, width, suffix = _split_pattern(pattern)
    if "%" in prefix + suffix:
        raise InputError(pattern, "a pattern holds one number, %d or %0Nd")
    folder = pattern.parent
    if not folder.is_dir():
        raise InputError(folder, "no such folder")
    digits = rf"\d{{{width},}}" if width else r"[1-9]\d*|0"
    named = re.compile(rf"{re.escape(prefix)}({digits}){re.escape(suffix)}")
    numbers = [m[1] for p in folder.iterdir()
               if (m := named.fullmatch(p.name)) and p.is_file() and m[1] == f"{int(m[1]):0{width}d}"]
    if not numbers:
        raise InputError(pattern, "no file matches this pattern")
    return _whole(folder, prefix, width, suffix, numbers, fps)


def _padding(folder: Path, numbers: list[str]) -> int:
    """The zero-padded width the numbers share (0: none); a folder that mixes two is refused."""
    padded = {len(n) for n in numbers if n.startswith("0") and len(n) > 1}
    if len(padded) > 1:
        raise InputError(folder, f"its file numbers are padded to different widths ({sorted(padded)})")
    width = padded.pop() if padded else min(len(n) for n in numbers)
    if any(len(n) < width for n in numbers):
        raise InputError(folder, "its file numbers mix padded and unpadded names")
    return width if width > 1 else 0


def _whole(folder: Path, prefix: str, width: int, suffix: str, numbers: list[str], fps: Fraction) -> ImageSequence:
    values = sorted({int(n) for n in numbers})
    if len(values) != len(numbers):
        raise InputError(folder, f"two files carry the same number ({prefix}…{suffix})")
    sequence = ImageSequence(folder, prefix, width, suffix, values[0], len(values), Fraction(fps))
    if values[-1] - values[0] + 1 != len(values):
        missing = next(n for n, m in zip(range(values[0], values[-1] + 1), values) if n != m)
        raise InputError(sequence.file(missing), f"missing from the sequence {sequence.file(values[0]).name} … "
                                                 f"{sequence.file(values[-1]).name}: fill the gap (a black or "
                                                 "repeated frame) or give the part before it")
    return sequence
