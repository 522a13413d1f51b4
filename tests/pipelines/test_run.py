"""The shared run: its frame loop, the keys handed out as they are built, and what the library refuses."""
import numpy as np
import pytest
import torch

import vprop
from support.seg_media import SIZE, save_palette, square_labels
from vprop.engine.masks import propagate_masks
from vprop.engine.propagator import Propagator, Settings
from vprop.errors import InputError, UsageError
from vprop.io.video import VideoFrame
from vprop.models.hub import load_model
from vprop.pipelines.run import frame_loop
from vprop.tasks.color import ColorTask


class Identity(torch.nn.Module):       # the property passes as it is
    def forward(self, guidance, prop):
        return prop


def gray(n, size=(16, 12)):
    return [VideoFrame(i, np.full((size[1], size[0], 3), 100 + i, np.uint8), i, None) for i in range(n)]


def test_the_public_api_names_every_task_and_the_frame_loop():
    for name in ("colorize", "segment", "hdr", "Propagator", "Settings", "propagate", "Propagate", "load_model"):
        assert name in vprop.__all__ and callable(getattr(vprop, name))


@pytest.mark.parametrize("mode", ["offline", "online"])
def test_each_key_is_handed_out_before_any_frame_propagated_from_it(mode):
    task, frames = ColorTask(), gray(9)
    keys = {0: task.prepare_key(np.full((12, 16, 3), (200, 40, 40), np.uint8)),
            6: task.prepare_key(np.full((12, 16, 3), (40, 40, 200), np.uint8))}
    events = []
    loop = Propagator(Identity(), task, Settings(mode=mode, align=False))
    for frame, _ in loop(iter(frames), keys, on_key=lambda index, key: events.append(("key", index))):
        events.append(("frame", frame.index))
    assert [i for kind, i in events if kind == "frame"] == list(range(9))
    # offline, frames 1..5 need key 6 too: it is handed out before them; online only before frame 6
    first_user = {0: 0, 6: 1 if mode == "offline" else 6}
    for k, frame in first_user.items():
        assert events.index(("key", k)) < events.index(("frame", frame))


class ListSink:
    def __init__(self):
        self.written = []

    def write(self, place, frame, output):
        self.written.append((place, frame.index, output))

    def picture(self, frame, output):
        return output


def test_frame_loop_writes_every_output_in_order_and_ticks_once_per_frame():
    ticks, sink, place = [], ListSink(), object()
    results = ((f, f.rgb.mean()) for f in gray(5))
    frame_loop(results, sink, place, on_frame=ticks.append)
    assert ticks == list(range(5))
    assert [(p is place, i) for p, i, _ in sink.written] == [(True, i) for i in range(5)]
    assert sink.written[4][2] == 104


def test_the_library_refuses_the_chained_protocol_offline_like_the_cli(tiny_seg_weights, square_video, tmp_path):
    model, _ = load_model("seg", str(tiny_seg_weights))
    frames = [VideoFrame(i, np.zeros((SIZE[1], SIZE[0], 3), np.uint8), i, None) for i in range(3)]
    with pytest.raises(UsageError, match="--chain: works online only"):
        next(propagate_masks(model, iter(frames), {0: square_labels(0)}, Settings(mode="offline"), chain=True))
    save_palette(tmp_path / "m.png", square_labels(0))
    with pytest.raises(UsageError, match="--chain: works online only"):
        vprop.segment(square_video, {0: tmp_path / "m.png"}, tmp_path / "out", mode="offline", chain=True,
                      weights=str(tiny_seg_weights))
    assert not (tmp_path / "out").exists()


def test_hdr_weights_against_an_explicit_alignment_name_the_option(hdr_clip, tiny_hdr_weights, tmp_path):
    video, _, keys = hdr_clip
    with pytest.raises(UsageError, match=r"--no-align: .* expects 9 guidance channels; unaligned HDR inputs have 6"):
        vprop.hdr(video, keys, tmp_path / "exr", weights=str(tiny_hdr_weights), align=False, shots=False)
    assert not (tmp_path / "exr").exists()


def test_the_run_begins_once_after_its_checks_and_before_any_frame(tmp_path, square_video, tiny_seg_weights):
    mask = tmp_path / "mask.png"
    save_palette(mask, square_labels(0))
    events = []
    vprop.segment(square_video, {0: mask}, tmp_path / "out", weights=str(tiny_seg_weights),
                  on_begin=lambda: events.append("begin"), on_frame=lambda index: events.append(index))
    assert events[0] == "begin" and events.count("begin") == 1 and len(events) > 1
    events.clear()
    with pytest.raises(InputError):    # a key beyond the end fails in the checks: no begin
        vprop.segment(square_video, {999: mask}, tmp_path / "out2", weights=str(tiny_seg_weights),
                      on_begin=lambda: events.append("begin"))
    assert events == []
