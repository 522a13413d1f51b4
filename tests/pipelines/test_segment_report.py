"""`vprop segment --report`: one confidence per frame, plain and --chain."""
import json

import pytest

from support.cli import run
from support.seg_media import save_palette, square_labels


@pytest.mark.parametrize("extra", [[], ["--chain"], ["--mode", "offline", "--mask", "9:{last}"]])
def test_segment_report_has_one_value_per_frame(tmp_path, square_video, tiny_seg_weights, extra):
    first = save_palette(tmp_path / "first.png", square_labels(0))
    last = save_palette(tmp_path / "last.png", square_labels(9))
    extra = [e.format(last=last) for e in extra]
    result = run("segment", square_video, "--mask", first, "-o", tmp_path / "out", "--report", tmp_path / "rep",
                 "--weights", tiny_seg_weights, "-q", *extra)
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "rep" / "confidence.json").read_text())
    assert [f["index"] for f in data["frames"]] == list(range(10))
    assert data["task"] == "seg" and data["keys"] == ([0, 9] if "offline" in extra else [0])
    assert all(0 <= f["confidence"] <= 1 for f in data["frames"])
    chosen = sorted(int(p.stem.rsplit("-", 1)[1]) for p in (tmp_path / "rep").glob("least-confident-*.png"))
    confidence = [f["confidence"] for f in data["frames"]]
    assert [confidence[k] for k in data["keys"]] == [1.0] * len(data["keys"])
    if "offline" not in extra:      # one key: trust only falls with the distance from it
        assert all(a > b for a, b in zip(confidence, confidence[1:]))
    # Pictures of the six least confident frames, never a key.
    assert len(chosen) == 6 and not set(chosen) & set(data["keys"])
    assert max(confidence[i] for i in chosen) < min(confidence[i] for i in range(10) if i not in chosen)


@pytest.mark.parametrize("extra, mode", [([], "online"), (["--mask", "9:{last}"], "offline"),
                                         (["--mask", "9:{last}", "--mode", "online"], "online"),
                                         (["--mask", "9:{last}", "--chain"], "online")])
def test_segment_runs_offline_by_default_once_it_has_two_masks(tmp_path, square_video, tiny_seg_weights, extra,
                                                                 mode):
    first = save_palette(tmp_path / "first.png", square_labels(0))
    last = save_palette(tmp_path / "last.png", square_labels(9))
    result = run("segment", square_video, "--mask", first, *[e.format(last=last) for e in extra], "-o",
                 tmp_path / "out", "--report", tmp_path / "rep", "--weights", tiny_seg_weights, "-q")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "rep" / "confidence.json").read_text())["mode"] == mode
