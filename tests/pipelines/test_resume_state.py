"""The state folder of a resumable run: finished spans survive a restart; changed inputs are refused by name."""
import json

import pytest
import torch

from vprop.engine.spans import plan_spans
from vprop.errors import InputError, UsageError
from vprop.pipelines.resume import MANIFEST, ResumeState, fingerprint, state_folder


@pytest.fixture
def run(tmp_path):
    video = tmp_path / "in.mp4"
    video.write_bytes(b"video bytes")
    keys = {0: tmp_path / "00000.png", 20: tmp_path / "00020.png"}
    for path in keys.values():
        path.write_bytes(path.name.encode())
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 2)
    return video, keys, model, tmp_path / "out.mp4"


def test_finished_spans_survive_a_restart_and_the_folder_goes_at_the_end(run):
    video, keys, model, output = run
    spans = plan_spans(30, keys, [], offline=True)
    state = ResumeState(output, video, fingerprint(video, keys, model, {"mode": "offline"}), spans)
    assert state.folder == state_folder(output) and state.folder.name == "out.mp4.vprop-resume"
    state.finish(spans[0])
    (state.output_folder("frames") / ".00001.png.partial-1234.png").write_bytes(b"half")   # a killed write
    again = ResumeState(output, video, fingerprint(video, keys, model, {"mode": "offline"}), spans)
    assert again.is_finished(spans[0]) and not again.is_finished(spans[1])
    assert again.finished_frames() == 20
    assert list(again.output_folder("frames").iterdir()) == []
    assert json.loads((again.folder / MANIFEST).read_text())["finished"] == [[0, 20]]
    again.remove()
    assert not again.folder.exists()


def test_a_changed_key_video_weights_or_argument_is_refused_by_name(run):
    video, keys, model, output = run
    spans = plan_spans(30, keys, [], offline=True)
    ResumeState(output, video, fingerprint(video, keys, model, {"mode": "offline"}), spans)
    keys[20].write_bytes(b"repainted")
    with pytest.raises(InputError, match="00020.png: key file changed since the interrupted run"):
        ResumeState(output, video, fingerprint(video, keys, model, {"mode": "offline"}), spans)
    keys[20].write_bytes(b"00020.png")
    with pytest.raises(UsageError, match="--mode: is 'online', was 'offline'"):
        ResumeState(output, video, fingerprint(video, keys, model, {"mode": "online"}), spans)
    with pytest.raises(UsageError, match="--weights: the weights changed"):
        ResumeState(output, video, fingerprint(video, keys, torch.nn.Linear(2, 2), {"mode": "offline"}), spans)
    video.write_bytes(b"another video")
    with pytest.raises(InputError, match="in.mp4: changed since the interrupted run"):
        ResumeState(output, video, fingerprint(video, keys, model, {"mode": "offline"}), spans)
