"""Where a chain failed, the key's property found by patch matching (``vprop.engine.lookup``)."""
import numpy as np
import pytest

from vprop.engine.flow import ChainedWarp
from vprop.engine.lookup import LOOKUP_WEIGHT, looked_up, matchable
from vprop.engine.propagator import Propagator, Settings
from vprop.eval.baselines import Passthrough
from vprop.io.video import VideoFrame
from vprop.tasks.color import ColorTask, rgb_to_lab
from vprop.tasks.hdr import HDRTask

H, W = 120, 160


def textures():
    """Lightness (H, W) in 0..1 of a key whose left half is fine stripes and right half a smooth ramp."""
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    stripes = 0.5 + 0.3 * np.sign(np.sin(x * np.pi / 6))
    ramp = 0.2 + 0.3 * y / H
    return np.where(x < W / 2, stripes, ramp).astype(np.float32)


def key_property():
    """(2, H, W): the left half one colour, the right half another."""
    prop = np.zeros((2, H, W), np.float32)
    prop[:, :, : W // 2] = [[[0.5]], [[-0.2]]]
    prop[:, :, W // 2:] = [[[-0.4]], [[0.3]]]
    return prop


def test_a_failed_region_takes_the_colour_of_the_key_region_that_looks_like_it():
    key_l = textures()
    # The frame: the ramp has moved into the left half, where the chain failed and points (wrongly) at the stripes.
    target_l = key_l.copy()
    target_l[:, 20:60] = key_l[:, 100:140]
    failed = np.zeros((H, W), bool)
    failed[:, 20:60] = True
    network = np.zeros((2, H, W), np.float32)            # the network's guess: no colour
    chain = ChainedWarp.identity(H, W)
    out = looked_up(matchable(key_l, key_property()), target_l, network, failed, chain.coords)
    inside = out[:, 30:110, 30:50].reshape(2, -1).mean(1)
    # half the ramp's colour (LOOKUP_WEIGHT), not the stripes' that the chain points at
    assert np.allclose(inside, LOOKUP_WEIGHT * np.array([-0.4, 0.3]), atol=0.05)
    assert np.array_equal(out[:, ~failed], network[:, ~failed])       # pixels whose chain held are untouched


def test_nothing_failed_nothing_changes():
    prop = np.random.default_rng(0).normal(size=(2, H, W)).astype(np.float32)
    out = looked_up(matchable(textures(), key_property()), textures(), prop, np.zeros((H, W), bool),
                    ChainedWarp.identity(H, W).coords)
    assert out is prop


def test_the_loop_looks_up_only_when_asked():
    """With ``Settings.lookup`` a frame whose chain left the key's content takes the key's colours by their look; without,
    the flow baseline's warped key stands."""
    rgb_key = np.zeros((H, W, 3), np.uint8)
    rgb_key[:, : W // 2] = (200, 40, 40)
    rgb_key[:, W // 2:] = (40, 40, 200)
    rgb_key[:, W // 2:] = (rgb_key[:, W // 2:] * (0.6 + 0.4 * np.mgrid[0:H, 0:W // 2][0] / H)[..., None]).astype(np.uint8)
    frames = [VideoFrame(0, rgb_key, 0, None)]
    # The next frames: the scene jumps by half the frame (no flow follows that), so every chain fails.
    shifted = np.roll(rgb_key, W // 2, axis=1)
    frames += [VideoFrame(i, shifted, i, None) for i in (1, 2)]
    task, keys = ColorTask(), {0: rgb_to_lab(rgb_key)}
    outs = {}
    for lookup in (False, True):
        loop = Propagator(Passthrough(), task, Settings(mode="online", lookup=lookup))
        outs[lookup] = {f.index: rgb_to_lab(o) for f, o in loop(iter(frames), keys)}
    truth = rgb_to_lab(shifted)
    err = {k: np.abs(v[2][..., 1:] - truth[..., 1:]).mean() for k, v in outs.items()}
    assert err[True] < 0.75 * err[False]


def test_a_task_without_a_look_up_is_refused():
    with pytest.raises(ValueError, match="HDRTask has no look-up"):
        Propagator(Passthrough(), HDRTask(), Settings(lookup=True))
