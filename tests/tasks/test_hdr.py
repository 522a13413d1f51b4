"""Camera model, log property, threshold and blending of eq. 10."""
import numpy as np
import pytest

from vprop.tasks import hdr as H


@pytest.mark.parametrize("curve", [H.HDRCNN_CURVE, H.CameraCurve(gamma=2.2)])
def test_curve_inverse_round_trip(curve):
    x = np.linspace(0, 1, 1001, dtype=np.float32)
    assert curve(np.float32(1.0)) == pytest.approx(1.0, abs=1e-6)
    assert np.all(np.diff(curve(x)) > 0)
    np.testing.assert_allclose(curve.inverse(curve(x)), x, atol=2e-5)
    y = np.linspace(0, 1, 1001, dtype=np.float32)
    np.testing.assert_allclose(curve(curve.inverse(y)), y, atol=2e-5)


def test_hdrcnn_curve_formula():
    x = np.float32(0.25)
    expected = 1.6 * x**0.9 / (x**0.9 + 0.6)
    assert H.HDRCNN_CURVE(x) == pytest.approx(expected, rel=1e-6)


def test_ldr_synthesis_clips_and_quantises():
    hdr = np.array([[[0.0, 0.5, 2.0], [10.0, 0.001, 1.0]]], np.float32)
    ldr = H.synthesize_ldr(hdr, exposure=1.0)
    assert ldr.dtype == np.uint8
    assert ldr[0, 0, 2] == 255 and ldr[0, 1, 0] == 255 and ldr[0, 0, 0] == 0
    assert ldr[0, 0, 1] == round(float(H.HDRCNN_CURVE(np.float32(0.5))) * 255)


def test_log_property_round_trip():
    hdr = np.random.default_rng(0).random((5, 7, 3)).astype(np.float32) * 100
    np.testing.assert_allclose(H.from_log(H.to_log(hdr, -1.5), -1.5), hdr, rtol=1e-5, atol=1e-5)


def test_threshold_leaves_the_brightest_five_percent_above():
    rng = np.random.default_rng(1)
    key = np.repeat(rng.lognormal(0, 2, (100, 100, 1)).astype(np.float32), 3, -1)
    t = H.key_threshold(key)
    above = (H.luminance(key) > t).mean()
    assert above == pytest.approx(0.05, abs=0.001)


def test_inverse_scale_recovers_the_exposure():
    rng = np.random.default_rng(2)
    hdr = rng.lognormal(-1, 1, (60, 80, 3)).astype(np.float32)
    ldr = H.synthesize_ldr(hdr, exposure=2.5)
    assert H.inverse_scale(hdr, ldr) == pytest.approx(1 / 2.5, rel=0.02)


def test_blending_uses_the_inverted_ldr_below_t_and_the_estimate_above():
    ldr = np.full((2, 2, 3), 100, np.uint8)
    ldr[1, 1] = 255                                  # saturated
    estimate = np.array([[[1, 1, 1], [5, 5, 5]], [[9, 9, 9], [1, 1, 1]]], np.float32)
    params = H.KeyBlend(threshold=4.0, scale=3.0)
    out = H.blend(estimate, ldr, params, rule="paper")
    inverted = H.HDRCNN_CURVE.inverse(np.float32(100 / 255)) * 3.0
    np.testing.assert_allclose(out[0, 0], inverted, rtol=1e-6)          # below T: f^-1(D) * scale
    np.testing.assert_array_equal(out[0, 1], estimate[0, 1])            # above T: the network
    np.testing.assert_array_equal(out[1, 0], estimate[1, 0])
    np.testing.assert_array_equal(out[1, 1], estimate[1, 1])            # saturated LDR: no information


def test_clipped_rule_keeps_the_measured_ldr_and_bounds_the_estimate_where_it_clipped():
    ldr = np.array([[[100, 100, 100], [240, 240, 240], [255, 255, 255], [255, 255, 255]]], np.uint8)
    estimate = np.array([[[9, 9, 9], [9, 9, 9], [0.1, 0.1, 0.1], [50, 50, 50]]], np.float32)
    params = H.KeyBlend(threshold=4.0, scale=3.0)
    out = H.blend(estimate, ldr, params, rule="clipped")
    inverted = H.inverted_ldr(ldr, 3.0)
    np.testing.assert_allclose(out[0, 0], inverted[0, 0], rtol=1e-6)    # measured: the LDR, whatever the estimate
    w = (240 / 255 - H.NEAR_CLIP) / (H.SATURATED - H.NEAR_CLIP)
    np.testing.assert_allclose(out[0, 1], inverted[0, 1] * (1 - w) + 9 * w, rtol=1e-5)   # the hand-over
    np.testing.assert_allclose(out[0, 2], inverted[0, 2], rtol=1e-6)    # clipped: never below the clip level
    np.testing.assert_array_equal(out[0, 3], estimate[0, 3])            # clipped: the estimate above it
    with pytest.raises(ValueError, match=r"blend rule must be one of \('measured', 'clipped', 'paper', 'calibrated'\)"):
        H.blend(estimate, ldr, params, rule="nope")


def test_clipped_rule_never_loses_to_the_inverted_ldr_where_the_estimate_is_right():
    rng = np.random.default_rng(4)
    truth = rng.lognormal(0, 1.5, (40, 40, 3)).astype(np.float32)
    ldr = H.synthesize_ldr(truth, exposure=1.0)
    params = H.KeyBlend(threshold=1.0, scale=1.0)
    inverted = H.inverted_ldr(ldr, 1.0)
    assert (ldr.max(-1) >= 250).mean() > 0.1
    assert H.log_rmse(H.blend(truth, ldr, params, rule="clipped"), truth) < H.log_rmse(inverted, truth) / 3


def test_measured_rule_keeps_a_dark_estimate_within_what_its_code_value_allows():
    ldr = np.array([[[100, 100, 100], [1, 0, 2], [1, 0, 2], [255, 255, 255], [8, 9, 8]]], np.uint8)
    estimate = np.array([[[9, 9, 9], [0.004, 0.001, 0.005], [5, 5, 5], [50, 50, 50], [1, 1, 1]]], np.float32)
    params = H.KeyBlend(threshold=4.0, scale=3.0)
    out = H.blend(estimate, ldr, params, rule="measured")
    clipped = H.blend(estimate, ldr, params, rule="clipped")
    low = H.inverted_ldr(np.clip(ldr.astype(np.float32) - H.LDR_TOLERANCE, 0, 255), 3.0)
    high = H.inverted_ldr(np.clip(ldr.astype(np.float32) + H.LDR_TOLERANCE, 0, 255), 3.0)
    np.testing.assert_array_equal(out[0, 0], clipped[0, 0])             # measured: the LDR, as "clipped" has it
    np.testing.assert_array_equal(out[0, 3], clipped[0, 3])             # clipped: as "clipped" has it
    assert np.all(low[0, 1] < estimate[0, 1]) and np.all(estimate[0, 1] < high[0, 1])
    np.testing.assert_array_equal(out[0, 1], estimate[0, 1])            # dark: an estimate the value allows stays
    assert not np.allclose(clipped[0, 1], estimate[0, 1])
    np.testing.assert_allclose(out[0, 2], high[0, 2], rtol=1e-6)        # dark: one it does not is brought in
    np.testing.assert_allclose(out[0, 4, [0, 2]], high[0, 4, [0, 2]], rtol=1e-6)   # 8 is dark, 9 is not
    np.testing.assert_array_equal(out[0, 4, 1], clipped[0, 4, 1])


def test_measured_rule_beats_the_inverted_ldr_in_the_dark_where_the_estimate_is_right():
    rng = np.random.default_rng(5)
    truth = rng.lognormal(-6, 1.0, (40, 40, 3)).astype(np.float32)      # a dim scene: a few levels at most
    ldr = H.synthesize_ldr(truth, exposure=0.3)
    assert np.median(ldr) <= 2
    params = H.KeyBlend(threshold=1.0, scale=1 / 0.3)
    inverted = H.inverted_ldr(ldr, 1 / 0.3)
    assert H.log_rmse(H.blend(truth, ldr, params, rule="measured"), truth) < H.log_rmse(inverted, truth) / 3
    assert H.log_rmse(H.blend(truth, ldr, params, rule="clipped"), truth) == pytest.approx(H.log_rmse(inverted, truth))


def camera_with_offset(hdr, exposure, offset):
    """A camera whose code values sit ``offset`` levels from the nominal curve's (as a codec's round trip leaves
    them), 8-bit."""
    ideal = H.CameraCurve()(hdr * np.float32(exposure)) * 255.0
    return np.clip(np.round(ideal + offset), 0, 255).astype(np.uint8)


def test_key_response_brackets_the_keys_own_radiance_per_code_value():
    rng = np.random.default_rng(6)
    key = rng.lognormal(-2, 1.2, (120, 120, 3)).astype(np.float32)
    ldr = camera_with_offset(key, 0.5, -2.0)
    scale = H.inverse_scale(key, ldr)
    response = H.key_response(key, ldr, scale)
    assert response.shape == (2, 256, 3) and np.all(response[0] <= response[1])
    counts = np.bincount(ldr[..., 0].ravel(), minlength=256)
    for code in np.flatnonzero(counts >= H.RESPONSE_MIN_PIXELS)[::7]:
        at = key[..., 0][ldr[..., 0] == code]
        inside = (at >= response[0, code, 0]) & (at <= response[1, code, 0])
        assert 0.85 <= inside.mean() <= 1.0
    # A code the key hardly shows falls back on the nominal curve, LDR_TOLERANCE levels either side.
    rare = int(np.flatnonzero(counts < H.RESPONSE_MIN_PIXELS)[0])
    nominal = H.inverted_ldr(np.float32([rare - H.LDR_TOLERANCE, rare + H.LDR_TOLERANCE]).clip(0, 255), scale)
    np.testing.assert_allclose(response[:, rare, 0], nominal, rtol=1e-6)


def test_a_deep_ldr_is_counted_in_10_bit_codes():
    rng = np.random.default_rng(8)
    key = rng.lognormal(-2, 1.2, (200, 200, 3)).astype(np.float32)
    deep = H.synthesize_ldr(key, 0.5, bits=10)
    assert deep.dtype == np.uint16 and deep.max() == 65535
    codes, levels = H.ldr_codes(deep)
    assert levels == H.DEEP_LEVELS and codes.max() == levels - 1
    np.testing.assert_array_equal(codes, np.round(deep / 65535.0 * (levels - 1)))     # the camera's own codes
    scale = H.inverse_scale(key, deep)
    assert scale == pytest.approx(H.inverse_scale(key, H.synthesize_ldr(key, 0.5)), rel=0.01)
    response = H.key_response(key, deep, scale)
    assert response.shape == (2, levels, 3) and np.all(response[0] <= response[1])
    # a 10-bit code brackets the key's radiance about four times as tightly as an 8-bit one
    eight = H.key_response(key, H.synthesize_ldr(key, 0.5), scale)
    mid = slice(levels // 4, levels // 2)
    assert np.median((response[1] - response[0])[mid]) < 0.4 * np.median((eight[1] - eight[0])[64:128])
    params = H.KeyBlend.from_key(key, deep, with_response=True)
    with pytest.raises(ValueError, match="code values"):
        H.blend(key, H.synthesize_ldr(key, 0.5), params)


def test_calibrated_rule_follows_the_videos_own_code_values_where_measured_trusts_the_curve():
    """Code values two levels below the curve's (a codec's round trip): "measured" takes them as exact and darkens
    every unclipped pixel, "calibrated" reads what they mean off the key and keeps a right estimate."""
    rng = np.random.default_rng(7)
    key = rng.lognormal(-2, 1.2, (120, 120, 3)).astype(np.float32)
    frame = key * rng.lognormal(0, 0.05, key.shape).astype(np.float32)      # the next frame, a little changed
    key_ldr, frame_ldr = camera_with_offset(key, 0.5, -2.0), camera_with_offset(frame, 0.5, -2.0)
    blender = H.Blender(rule="calibrated")
    blender.add_key(0, H.HDRKey(key, key_ldr))
    assert blender.keys[0].response is not None and H.Blender().keys == {}
    estimate = key * np.float32(1.02)                    # propagated from the key: close, not exact
    calibrated = H.log_rmse(blender(1, frame_ldr, estimate), frame)
    measured = H.log_rmse(H.blend(estimate, frame_ldr, blender.keys[0], rule="measured"), frame)
    assert calibrated < measured / 2, (calibrated, measured)
    with pytest.raises(ValueError, match="response"):
        H.blend(estimate, frame_ldr, H.KeyBlend(1.0, 1.0), rule="calibrated")
    assert H.BLEND_RULE == "calibrated"          # the default
    assert H.blend(estimate, frame_ldr, blender.keys[0]).tobytes() == blender(1, frame_ldr, estimate).tobytes()


def test_blender_keeps_keys_fixed_and_interpolates_between_them():
    rng = np.random.default_rng(3)
    a = rng.lognormal(0, 1, (20, 20, 3)).astype(np.float32)
    b = a * 4
    blender = H.Blender(mode="offline")
    blender.add_key(0, H.HDRKey(a, H.synthesize_ldr(a, 0.5)))
    blender.add_key(10, H.HDRKey(b, H.synthesize_ldr(a, 0.5)))
    t0, t10 = blender.keys[0].threshold, blender.keys[10].threshold
    assert t10 == pytest.approx(4 * t0, rel=1e-5)
    assert blender.params(3).threshold == pytest.approx(t0 * 4 ** 0.3, rel=1e-4)
    online = H.Blender(mode="online")
    online.keys = blender.keys
    assert online.params(9).threshold == t0
    assert blender.params(12).threshold == t10
    calibrated = H.Blender(mode="offline", rule="calibrated")
    calibrated.add_key(0, H.HDRKey(a, H.synthesize_ldr(a, 0.5)))
    calibrated.add_key(10, H.HDRKey(b, H.synthesize_ldr(a, 0.5)))
    r0, r10 = calibrated.keys[0].response, calibrated.keys[10].response
    np.testing.assert_allclose(calibrated.params(3).response, r0 ** 0.7 * r10 ** 0.3, rtol=1e-4, atol=1e-9)


def test_model_inputs_shapes():
    from vprop.engine.flow import ChainedWarp

    hdr = np.ones((8, 10, 3), np.float32)
    key = H.HDRKey(hdr, np.full((8, 10, 3), 128, np.uint8))
    target = np.zeros((8, 10, 3), np.uint8)
    g, p = H.model_inputs(target, key, None)
    assert g.shape == (6, 8, 10) and p.shape == (3, 8, 10)
    g, p = H.model_inputs(target, key, ChainedWarp.identity(8, 10), log_mean=0.5)
    assert g.shape == (9, 8, 10)
    np.testing.assert_allclose(p, np.log(1.01) - 0.5, rtol=1e-5)
    task = H.HDRTask(0.5)
    np.testing.assert_allclose(task.finish(target, task.key_output(target, key)), hdr, rtol=1e-5)
