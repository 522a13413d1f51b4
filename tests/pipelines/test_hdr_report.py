"""`vprop hdr --report`: one confidence per frame, from both keys offline."""
import json

from support.cli import run


def test_hdr_report_has_one_value_per_frame(tmp_path, hdr_clip, tiny_hdr_weights):
    video, _, keys = hdr_clip
    result = run("hdr", video, "--keys", keys, "-o", tmp_path / "exr", "--report", tmp_path / "rep",
                 "--weights", tiny_hdr_weights, "-q")
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "rep" / "confidence.json").read_text())
    assert data["task"] == "hdr" and data["mode"] == "offline" and data["keys"] == [0, 6]
    frames = data["frames"]
    assert [f["index"] for f in frames] == list(range(12))
    assert frames[3]["key_before"] == 0 and frames[3]["key_after"] == 6
    assert 0 < frames[3]["forward"] < 1 and 0 < frames[3]["backward"] < 1      # both keys reach the frame
    assert [f["confidence"] for f in frames if f["index"] in (0, 6)] == [1.0, 1.0]
    # Pictures of the least confident frames: halfway between the keys and the last frames after key 6.
    chosen = sorted(int(p.stem.rsplit("-", 1)[1]) for p in (tmp_path / "rep").glob("least-confident-*.png"))
    assert chosen == [2, 3, 4, 9, 10, 11]
    confidence = [f["confidence"] for f in frames]
    assert max(confidence[i] for i in chosen) < min(confidence[i] for i in range(12) if i not in chosen)
