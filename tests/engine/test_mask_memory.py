"""The online memory of the mask loop: SEG(t)'s cut also hears the frame before, aligned by one step of flow."""
import numpy as np
import torch

from support.seg_media import iou
from vprop.engine.masks import propagate_masks
from vprop.engine.propagator import Settings
from vprop.io.video import VideoFrame
from vprop.models import seg as seg_models

H, W = 120, 160


def scene():
    """A noisy two-tone background with a red disc (radius 30) in the middle, and the disc's mask."""
    rgb = np.zeros((H, W, 3), np.float32)
    rgb[:, : W // 2] = (40, 90, 160)
    rgb[:, W // 2:] = (70, 140, 60)
    yy, xx = np.mgrid[:H, :W]
    disc = (xx - 80) ** 2 + (yy - 60) ** 2 <= 30 ** 2
    rgb[disc] = (220, 40, 30)
    rgb += np.random.default_rng(0).normal(0, 6, rgb.shape)
    return np.clip(rgb, 0, 255).astype(np.uint8), disc


class HalfSure(torch.nn.Module):
    """A 'network' sure of the disc's left half, and wrongly sure that its right half is background."""
    cfg = None

    def __init__(self, disc):
        super().__init__()
        prob = np.where(disc, 1.0, 0.0)
        prob[:, W // 2 + 5:] *= 0.02
        self.prob = torch.from_numpy(prob.astype(np.float32))[None, None]

    def forward(self, guidance, prop):
        return self.prob.expand(len(prop), 1, H, W)


def masks_of(memory: bool, keys, cuts=(), frames=8):
    rgb, disc = scene()
    video = [VideoFrame(i, rgb.copy(), i, None) for i in range(frames)]
    labels = {k: disc.astype(np.uint8) for k in keys}
    out = propagate_masks(HalfSure(disc), iter(video), labels, Settings(mode="online"), grabcut=True, memory=memory,
                          cuts=cuts)
    return {frame.index: mask > 0 for frame, mask in out}, disc


def test_where_the_frame_before_holds_the_object_the_network_being_sure_otherwise_leaves_it_to_the_cut():
    plain, disc = masks_of(False, keys=[0])
    remembered, _ = masks_of(True, keys=[0])
    assert all(iou(plain[i], disc) < 0.7 for i in range(1, 8))       # the cut cannot undo a sure answer
    # the key's mask, then each frame's own cut, carried one flow step at a time: the disc's colours decide
    assert all(iou(remembered[i], disc) > 0.95 for i in range(1, 8))


def test_the_memory_runs_forward_from_a_key_and_not_into_frames_before_a_shots_first_key():
    remembered, disc = masks_of(True, keys=[0, 6], cuts=[4])
    assert all(iou(remembered[i], disc) > 0.95 for i in (1, 2, 3, 7))
    # frames 4 and 5 start a new shot and come backward from its key (6): nothing before them to remember
    assert all(iou(remembered[i], disc) < 0.7 for i in (4, 5))


def test_the_memory_is_for_segt_alone_and_offline_hears_it_only_after_a_shots_last_key():
    _, disc = scene()
    net = seg_models.wrap_model(HalfSure(disc), grabcut=True, memory=True)
    assert net.memory == seg_models.MEMORY_WEIGHT and net.weight == 1.0
    assert seg_models.wrap_model(HalfSure(disc), torch.nn.Identity(), grabcut=True, memory=True).memory == 0.0
    rgb, _ = scene()
    video = [VideoFrame(i, rgb.copy(), i, None) for i in range(12)]
    keys = {0: disc.astype(np.uint8), 4: disc.astype(np.uint8), 9: disc.astype(np.uint8)}
    offline = {frame.index: mask > 0 for frame, mask in propagate_masks(
        HalfSure(disc), iter(video), keys, Settings(mode="offline"), grabcut=True, memory=True, cuts=[7])}
    assert sorted(offline) == list(range(12))
    # between two keys the cut runs as it does without memory: the network's sure answer stands
    assert all(iou(offline[i], disc) < 0.7 for i in (1, 2, 3, 7, 8))
    # after a shot's last key (4: the shot ends at the cut before 7; 9) a frame has one key, as online: remembered
    assert all(iou(offline[i], disc) > 0.95 for i in (5, 6, 10, 11))
    assert all(np.array_equal(offline[k], disc) for k in keys)


def test_vprop_segment_remembers_by_default_and_a_run_in_spans_gives_the_same_masks(tmp_path):
    from support.media import write_video
    from support.seg_media import save_palette
    from vprop.io.images import read_mask
    from vprop.pipelines.segment import segment

    rgb, disc = scene()
    video = tmp_path / "disc.mp4"
    write_video(video, frames=10, size=(W, H), content=lambda index, width, height: rgb)
    keys = {0: save_palette(tmp_path / "k0.png", disc.astype(np.uint8)),
            6: save_palette(tmp_path / "k6.png", disc.astype(np.uint8))}

    def masks(name, **options):
        segment(video, keys, tmp_path / name, model=HalfSure(disc), **options)
        return [read_mask(p) > 0 for p in sorted((tmp_path / name).iterdir())]

    remembered, plain = masks("online", mode="online"), masks("plain", mode="online", memory=False)
    assert all(iou(m, disc) > 0.95 for m in remembered)
    assert all(iou(m, disc) < 0.7 for i, m in enumerate(plain) if i not in keys)
    # two masks: offline by default, and the memory after the last key only
    blended = masks("default")
    assert all(iou(blended[i], disc) < 0.7 for i in range(1, 6)) and all(iou(m, disc) > 0.95 for m in blended[6:])
    # two worker processes, each a span from a key: every frame as in one pass
    assert all(np.array_equal(a, b) for a, b in zip(masks("spans", mode="online", workers=2), remembered))
    assert all(np.array_equal(a, b) for a, b in zip(masks("offline spans", workers=2), blended))
