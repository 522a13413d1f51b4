"""`--report DIR` on colorize, and `vprop keys --suggest N --from DIR`, end to end through click."""
import json

import cv2
import numpy as np
import pytest

from support.cli import bad, misused, run
from support.media import write_video
from vprop.io.video import read_frames

TEXTURE = cv2.resize(np.random.default_rng(0).random((16, 80, 3)).astype(np.float32), (320, 64),
                     interpolation=cv2.INTER_CUBIC).clip(0, 1)


def panning(index, width, height):
    """A camera panning right over a texture, slowly for 12 frames, then fast."""
    x = 2 * index if index < 12 else 24 + 9 * (index - 12)
    return np.ascontiguousarray((TEXTURE[:height, x:x + width] * 255).astype(np.uint8))


@pytest.fixture(scope="module")
def reported(tmp_path_factory, tiny_color_weights):
    """A 24-frame pan coloured online from frame 0 alone, with a report."""
    tmp = tmp_path_factory.mktemp("reported")
    video = write_video(tmp / "pan.mp4", frames=24, size=(64, 48), content=panning)
    keys = tmp / "keys"
    keys.mkdir()
    key = panning(0, 64, 48)
    cv2.imwrite(str(keys / "00000.png"), np.dstack([key[..., 0] // 2, key[..., 1], key[..., 2]]))
    result = run("colorize", video, "--keys", keys, "--mode", "online", "-o", tmp / "out.mp4", "--report",
                 tmp / "report", "--weights", tiny_color_weights, "-q")
    assert result.exit_code == 0, result.output
    return tmp, video


def test_colorize_report_has_one_value_per_frame(reported):
    tmp, _ = reported
    data = json.loads((tmp / "report" / "confidence.json").read_text())
    assert data["task"] == "color" and data["mode"] == "online" and data["keys"] == [0]
    values = [f["confidence"] for f in data["frames"]]
    assert [f["index"] for f in data["frames"]] == list(range(24))
    assert values[0] == 1.0 and values[1] > values[12] > values[23]
    lines = (tmp / "report" / "confidence.csv").read_text().splitlines()
    assert lines[0].startswith("index,confidence") and len(lines) == 25
    assert cv2.imread(str(tmp / "report" / "confidence.png")).shape == (400, 800, 3)
    pictures = sorted((tmp / "report").glob("least-confident-*.png"))
    # The six least confident frames (trust falls with the distance from the key), 24 / (2 x 6) = 2 frames apart.
    assert [p.name for p in pictures] == [f"least-confident-{i:05d}.png" for i in range(13, 24, 2)]
    # Each picture is the output (480 wide, the video's aspect) beside its trust map.
    assert cv2.imread(str(pictures[0])).shape[:2] == (360, 960)


def test_keys_suggest_exports_spaced_frames_named_by_index(reported):
    tmp, video = reported
    result = run("keys", video, "--suggest", 2, "--from", tmp / "report", "-o", tmp / "suggested")
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (tmp / "suggested").iterdir())
    indices = [int(n[:5]) for n in names]
    assert len(names) == 2 and all(n == f"{i:05d}.png" for n, i in zip(names, indices))
    assert 0 not in indices and abs(indices[0] - indices[1]) >= 3
    # The fast part of the pan (from frame 12) is where the confidence goes: a key goes there.
    assert max(indices) >= 12
    # The exported images are the video's own frames.
    decoded = next(f.rgb for f in read_frames(video) if f.index == indices[0])
    frame = cv2.cvtColor(cv2.imread(str(tmp / "suggested" / names[0])), cv2.COLOR_BGR2RGB)
    assert np.array_equal(frame, decoded)
    assert "frames" in result.output


def test_keys_suggest_refuses_missing_invalid_or_foreign_reports(reported, tmp_path):
    tmp, video = reported
    bad(run("keys", video, "--suggest", 2, "--from", tmp_path / "nowhere", "-o", tmp_path / "a"), "nowhere",
        "report")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "confidence.json").write_text("{")
    bad(run("keys", video, "--suggest", 2, "--from", tmp_path / "broken", "-o", tmp_path / "b"),
        "confidence.json", "not a vprop confidence report")
    other = write_video(tmp_path / "other.mp4", frames=10, size=(64, 48))
    bad(run("keys", other, "--suggest", 2, "--from", tmp / "report", "-o", tmp_path / "c"), "another video")
    assert not any((tmp_path / d).exists() for d in "abc")
    usage = run("keys", video, "--suggest", 2, "-o", tmp_path / "d")
    misused(usage, "--suggest needs --from REPORT_DIR")


def test_report_is_never_overwritten(reported, tiny_color_weights):
    tmp, video = reported
    before = (tmp / "report" / "confidence.json").read_text()
    bad(run("colorize", video, "--keys", tmp / "keys", "-o", tmp / "again.mp4", "--report", tmp / "report",
            "--weights", tiny_color_weights, "-q"), "report", "already holds a confidence report")
    assert (tmp / "report" / "confidence.json").read_text() == before
    assert not (tmp / "again.mp4").exists()
