"""HDR propagation: the camera model, the propagated log radiance and the LDR blending of the paper (appendix eq. 10).

The guidance is the LDR video (8-bit RGB), the propagated property is U = log(H + 0.01) - log_mean of the
key-frame's scene-linear radiance H (paper Sec. 5.3). Where the network's estimate is darker than a per-key
threshold T the output is the inverted LDR frame instead, scaled to the key's units. The blending takes the LDR
at 8 bits or, from a deeper source, at 16 (uint16), whose code values it counts at 10 bits (``DEEP_LEVELS``).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vprop.engine.flow import ChainedWarp

EPS = 0.01               # U = log(H + EPS), as the paper
TOP_FRACTION = 0.05      # T leaves this fraction of the key's pixels above it
SATURATED = 250 / 255    # an 8-bit value at or above this carries no radiance information
DARK = 8 / 255           # at or below this 8-bit value, quantisation dominates what the value says of the radiance
_LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)   # BT.709 / sRGB primaries
# A deep LDR frame's code values for the blending's per-code bounds: 10 bits, what deep video mostly carries; finer
# codes would leave most of them too rarely seen in a key to read their radiance off it (RESPONSE_MIN_PIXELS).
DEEP_LEVELS = 1024


def full_scale(ldr: np.ndarray) -> float:
    """The value of white in an LDR frame: 65535 for uint16, else 255 (uint8, or 8-bit code values as floats)."""
    return 65535.0 if np.asarray(ldr).dtype == np.uint16 else 255.0


def ldr_codes(ldr: np.ndarray) -> tuple[np.ndarray, int]:
    """(the frame's code values, how many there are): an 8-bit frame's own 256, a uint16 one's ``DEEP_LEVELS``."""
    ldr = np.asarray(ldr)
    if ldr.dtype != np.uint16:
        return np.asarray(ldr, np.uint8), 256
    return ((ldr.astype(np.uint32) * (DEEP_LEVELS - 1) + 32767) // 65535).astype(np.uint16), DEEP_LEVELS


@dataclass(frozen=True)
class CameraCurve:
    """HDRCNN's camera curve f(x) = (1 + σ) xⁿ / (xⁿ + σ) (Eilertsen et al. 2017), or a power curve x^(1/γ).

    Both map linear exposure 0..1 to 0..1 (f(1) = 1) and are strictly increasing, so the inverse is exact
    below saturation.
    """

    n: float = 0.9
    sigma: float = 0.6
    gamma: float | None = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.clip(np.asarray(x, np.float32), 0.0, None)
        if self.gamma is not None:
            return x ** np.float32(1.0 / self.gamma)
        xn = x ** np.float32(self.n)
        return (1.0 + self.sigma) * xn / (xn + self.sigma)

    def inverse(self, y: np.ndarray) -> np.ndarray:
        """f⁻¹ on [0, 1]; values are clipped to that range first."""
        y = np.clip(np.asarray(y, np.float32), 0.0, 1.0)
        if self.gamma is not None:
            return y ** np.float32(self.gamma)
        # y (xⁿ + σ) = (1 + σ) xⁿ  =>  xⁿ = σ y / (1 + σ - y)
        xn = self.sigma * y / (1.0 + self.sigma - y)
        return xn ** np.float32(1.0 / self.n)


HDRCNN_CURVE = CameraCurve()


def curve_for(gamma: float | None) -> CameraCurve:
    return HDRCNN_CURVE if gamma is None else CameraCurve(gamma=float(gamma))


def synthesize_ldr(hdr: np.ndarray, exposure: float, curve: CameraCurve = HDRCNN_CURVE, bits: int = 8
                   ) -> np.ndarray:
    """What a camera records: exposure scale, camera curve, clip to [0, 1], quantise to ``bits``. (H, W, 3) uint8,
    or for more bits uint16 with the codes widened to 16 bits, as a decoder gives a deep video's frames."""
    y = np.clip(curve(np.asarray(hdr, np.float32) * np.float32(exposure)), 0.0, 1.0)
    if bits == 8:
        return np.floor(y * 255.0 + 0.5).astype(np.uint8)
    top = float(2 ** bits - 1)
    return np.floor(np.floor(y * top + 0.5) * (65535.0 / top) + 0.5).astype(np.uint16)


def auto_exposure(hdr_frames, saturated: float = 0.10) -> float:
    """Exposure at which about ``saturated`` of the pixels clip (their largest channel reaches 1)."""
    peaks = np.concatenate([np.asarray(h, np.float32).max(-1).ravel() for h in hdr_frames])
    level = float(np.quantile(peaks, 1.0 - saturated))
    if not np.isfinite(level) or level <= 0:
        level = float(peaks.max()) if peaks.size and peaks.max() > 0 else 1.0
    return 1.0 / level


def luminance(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(rgb, np.float32) @ _LUMA


def to_log(hdr: np.ndarray, log_mean: float = 0.0) -> np.ndarray:
    """U = log(H + EPS) - log_mean, (H, W, 3) -> same shape, float32."""
    return (np.log(np.clip(hdr, 0.0, None) + EPS) - log_mean).astype(np.float32)


def from_log(u: np.ndarray, log_mean: float = 0.0) -> np.ndarray:
    return np.clip(np.exp(np.asarray(u, np.float32) + log_mean) - EPS, 0.0, None).astype(np.float32)


def log_rmse(a: np.ndarray, b: np.ndarray) -> float:
    """RMSE between two radiance maps in log space, log(H + 0.01), as the paper reports."""
    d = np.log(np.clip(a, 0, None) + EPS) - np.log(np.clip(b, 0, None) + EPS)
    return float(np.sqrt(np.mean(d.astype(np.float64) ** 2)))


# -- blending (appendix eq. 10) ---------------------------------------------------------------------------

def key_threshold(key_hdr: np.ndarray, top: float = TOP_FRACTION) -> float:
    """T such that the brightest ``top`` fraction of the key's pixels (by luminance) are above it."""
    return float(np.quantile(luminance(key_hdr), 1.0 - top))


def inverse_scale(key_hdr: np.ndarray, key_ldr: np.ndarray, curve: CameraCurve = HDRCNN_CURVE) -> float:
    """Factor taking f⁻¹(D) to the key's absolute units: median of H_key / f⁻¹(D_key) over unsaturated pixels.

    Ratios are taken on luminance, over pixels neither saturated nor so dark that 8-bit quantisation dominates.
    """
    d = np.asarray(key_ldr, np.float32) / np.float32(full_scale(key_ldr))
    lin = luminance(curve.inverse(d))
    h = luminance(key_hdr)
    ok = (d.max(-1) < SATURATED) & (d.min(-1) > DARK) & (h > 0)
    if ok.sum() < 16:     # a nearly all-dark or all-clipped key: take what there is
        ok = (d.max(-1) < SATURATED) & (lin > 0) & (h > 0)
    if not ok.any():
        return 1.0
    return float(np.median(h[ok] / lin[ok]))


# "calibrated": the radiances a code value allows, read off the key itself, where the video's own camera curve and
# codec put them: per channel and code, these percentiles of the key's radiance over its pixels with that code.
# A code the key shows on fewer than RESPONSE_MIN_PIXELS pixels falls back on the nominal curve, LDR_TOLERANCE
# levels either side. Fixed, not tuned.
RESPONSE_PERCENTILES = (5.0, 95.0)
RESPONSE_MIN_PIXELS = 20


def key_response(key_hdr: np.ndarray, key_ldr: np.ndarray, scale: float, curve: CameraCurve = HDRCNN_CURVE
                 ) -> np.ndarray:
    """(2, levels, 3) float32: per code value (axis 1: ``ldr_codes``) and channel (axis 2), the lowest and highest
    radiance (axis 0: ``RESPONSE_PERCENTILES``) that the key's own pixels with that code have, in the key's units."""
    all_codes, levels = ldr_codes(key_ldr)
    response = np.repeat(curve_bounds(scale, curve, levels)[..., None], 3, axis=2)
    for c in range(3):
        codes = all_codes[..., c].ravel()
        # Sorted by code, then by radiance within a code, as one 64-bit key: the code above a non-negative float32's
        # bits, which order as the floats do (radiance below 0 counts as 0). A third of np.lexsort's time.
        bits = np.maximum(np.asarray(key_hdr[..., c], np.float32).ravel(), 0).view(np.uint32)
        ordered = np.sort((codes.astype(np.uint64) << np.uint64(32)) | bits.astype(np.uint64))
        ordered = (ordered & np.uint64(0xFFFFFFFF)).astype(np.uint32).view(np.float32)
        counts = np.bincount(codes, minlength=levels)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        seen = counts >= RESPONSE_MIN_PIXELS
        for bound, percentile in enumerate(RESPONSE_PERCENTILES):
            rank = np.round(percentile / 100.0 * (counts - 1)).astype(np.int64)
            response[bound, seen, c] = ordered[(starts + rank)[seen]]
    return response


@dataclass(frozen=True)
class KeyBlend:
    """What one key fixes for the frames it propagates to: the threshold T, the LDR inversion scale and, for the
    "calibrated" rule, the radiances each code value allows (``key_response``)."""

    threshold: float
    scale: float
    response: np.ndarray | None = None

    @classmethod
    def from_key(cls, key_hdr, key_ldr, curve: CameraCurve = HDRCNN_CURVE, with_response: bool = False
                 ) -> "KeyBlend":
        scale = inverse_scale(key_hdr, key_ldr, curve)
        response = key_response(key_hdr, key_ldr, scale, curve) if with_response else None
        return cls(key_threshold(key_hdr), scale, response)

    @classmethod
    def between(cls, a: "KeyBlend", b: "KeyBlend", wb: float) -> "KeyBlend":
        """Geometric interpolation, weight ``wb`` on ``b`` (a frame between two keys, offline mode)."""
        def mix(x, y):
            return np.exp((1 - wb) * np.log(np.maximum(x, 1e-12)) + wb * np.log(np.maximum(y, 1e-12)))
        response = None
        if a.response is not None and b.response is not None:
            response = mix(a.response, b.response).astype(np.float32)
        return cls(float(mix(a.threshold, b.threshold)), float(mix(a.scale, b.scale)), response)


def inverted_ldr(ldr: np.ndarray, scale: float, curve: CameraCurve = HDRCNN_CURVE) -> np.ndarray:
    """f⁻¹(D) in the key's units, (H, W, 3) float32."""
    d = np.asarray(ldr, np.float32) / np.float32(full_scale(ldr))
    return (curve.inverse(d) * np.float32(scale)).astype(np.float32)


BLEND_RULES = ("measured", "clipped", "paper", "calibrated")
BLEND_RULE = "calibrated"   # the default, chosen by a rule written before it was scored (README, "HDR video")
NEAR_CLIP = 0.90     # from this 8-bit level up to SATURATED the LDR hands over to the estimate (all rules but "paper")
# "measured": how far from its code value, in 8-bit levels, a dark pixel's radiance may be: half a level of rounding
# and as much again for a lightly compressed video. Fixed, not tuned.
LDR_TOLERANCE = 1.0


def curve_bounds(scale: float, curve: CameraCurve = HDRCNN_CURVE, levels: int = 256) -> np.ndarray:
    """(2, levels) float32: per code value, the radiance LDR_TOLERANCE levels below and above it through the
    camera curve, in the key's units ("measured"'s dark bounds; "calibrated"'s where the key shows a value too
    rarely)."""
    codes = np.arange(levels, dtype=np.float32)
    top = np.float32(levels - 1)
    return np.stack([inverted_ldr(np.clip(codes - LDR_TOLERANCE, 0, top) * (255 / top), scale, curve),
                     inverted_ldr(np.clip(codes + LDR_TOLERANCE, 0, top) * (255 / top), scale, curve)])


def blend(estimate: np.ndarray, ldr: np.ndarray, params: KeyBlend, curve: CameraCurve = HDRCNN_CURVE,
          rule: str = BLEND_RULE) -> np.ndarray:
    """Combine the propagated estimate with the frame's own LDR.

    ``"paper"`` (eq. 10): the scaled inverted LDR where the estimate's luminance is below the key's T, the
    estimate elsewhere (and at saturated LDR pixels, which hold no radiance, whatever its value).
    ``"clipped"``: the LDR is the measurement wherever it did not clip, so the inverted LDR is kept there whatever
    the estimate says; where it clipped, the true radiance is at least the inverted clip level, so the estimate is
    taken but never below it. The hand-over is smooth between NEAR_CLIP and SATURATED. A misaligned or
    mispredicted highlight then cannot darken or brighten a correctly exposed pixel.
    ``"measured"`` (default): "clipped", except in the dark, where a code value at or below DARK spans a range of
    radiance as wide as the value itself: there, per channel, the estimate is kept within the radiances the code
    value allows (LDR_TOLERANCE levels either side, through the camera curve) instead of being replaced by the
    level's coarse value.
    ``"calibrated"``: "clipped", except below the hand-over, where per channel the estimate is kept within the
    radiances the key showed for that code value (``params.response``, ``key_response``): a compressed video's
    code values are a level or two from the camera curve's, which "measured" would take as exact.
    """
    if rule not in BLEND_RULES:
        raise ValueError(f"blend rule must be one of {BLEND_RULES}")
    inverted = inverted_ldr(ldr, params.scale, curve)
    level = np.asarray(ldr).max(-1) / np.float32(full_scale(ldr))
    if rule == "paper":
        use_ldr = (luminance(estimate) < params.threshold) & (level < SATURATED)
        return np.where(use_ldr[..., None], inverted, estimate).astype(np.float32)
    w = np.clip((level - NEAR_CLIP) / (SATURATED - NEAR_CLIP), 0.0, 1.0)[..., None]
    clipped = (inverted * (1 - w) + np.maximum(estimate, inverted) * w).astype(np.float32)
    if rule == "clipped":
        return clipped
    code, levels = ldr_codes(ldr)
    if rule == "calibrated":
        if params.response is None:
            raise ValueError("the calibrated rule needs the key's response: KeyBlend.from_key(..., with_response=True)")
        if params.response.shape[1] != levels:
            raise ValueError(f"the key's response has {params.response.shape[1]} code values, the frame {levels}")
        low, high = (_per_code(code, bound) for bound in params.response)
        kept = np.clip(np.asarray(estimate, np.float32), low, high)
        return np.where((level < NEAR_CLIP)[..., None], kept, clipped).astype(np.float32)
    # Each code value's bounds, looked up: the camera curve on every pixel twice would double the blend's cost.
    low, high = curve_bounds(params.scale, curve, levels)
    dark = code <= DARK * (levels - 1)
    dark_code = code[dark]
    clipped[dark] = np.clip(np.asarray(estimate, np.float32)[dark], low[dark_code], high[dark_code])
    return clipped


def _per_code(code: np.ndarray, table: np.ndarray) -> np.ndarray:
    """(H, W, 3) float32: ``table[code, channel]`` for each pixel and channel of ``code`` ((levels, 3) table)."""
    if code.dtype == np.uint8:      # cv2.LUT gives NumPy's fancy indexing to the bit, ~5x faster
        return cv2.LUT(np.ascontiguousarray(code), table.reshape(256, 1, 3))
    return table[code, np.arange(3)]


# -- network inputs -------------------------------------------------------------------------------------

@dataclass
class HDRKey:
    """A key-frame: its scene-linear radiance and the LDR video frame at the same index."""

    hdr: np.ndarray      # (H, W, 3) float32, scene-linear
    ldr: np.ndarray      # (H, W, 3) uint8 (uint16 where only the blending reads it: a deep source)


def guidance_channels(aligned: bool) -> int:
    return 9 if aligned else 6


def model_inputs(target_ldr: np.ndarray, key: HDRKey, chain: ChainedWarp | None, log_mean: float = 0.0):
    """Network inputs (guidance (C, H, W), property (3, H, W)) for the LDR frame ``target_ldr`` (uint8 RGB).

    Unaligned (the paper): the key's and the target's LDR, the key's U. Aligned: the target's LDR, the key's
    LDR warped to it, their difference, chain validity and confidence, and the warped U.
    """
    t = np.asarray(target_ldr, np.float32) / 255.0
    k = np.asarray(key.ldr, np.float32) / 255.0
    u = to_log(key.hdr, log_mean)
    if chain is None:
        guidance = np.concatenate([k.transpose(2, 0, 1), t.transpose(2, 0, 1)])
    else:
        both = chain.warp(np.ascontiguousarray(np.dstack([k, u])))
        wk, u = both[..., :3], both[..., 3:]
        diff = np.abs(wk - t).mean(-1) * 4.0
        guidance = np.concatenate([t.transpose(2, 0, 1), wk.transpose(2, 0, 1),
                                   np.stack([diff, chain.valid, chain.confidence()])])
    return (np.ascontiguousarray(guidance, dtype=np.float32),
            np.ascontiguousarray(u.transpose(2, 0, 1), dtype=np.float32))


@dataclass
class HDRTask:
    """Frames are the LDR video (uint8 RGB); a key's data is its scene-linear radiance, paired with the LDR frame
    under it into an ``HDRKey``; the output is the network's linear radiance.

    Blending with the LDR (which needs the key's T and scale) is applied on top by the caller: see ``Blender``
    (``Propagator``'s ``on_key`` hands it each key as the loop builds it).
    """

    log_mean: float = 0.0
    # Chains are mended (Settings.repair) once newly failed on 1% of the frame: a highlight's radiance is lost with a
    # few pixels' alignment. At colour's 3%, log-RMSE on the HDR dev clips (854x480, offline) rose from 0.0158 to
    # 0.0163 at K=20 and from 0.0174 to 0.0178 at K=30.
    repair_above: float = 0.01
    # Within 5 frames of its key a side leaves the network out for its flow-aligned key: after the blending with the
    # frame's own LDR the network changed nothing there (14 Poly Haven panoramas no choice had used, 854x480,
    # offline: log-RMSE 0.18% lower at K=10, 0.05% at K=20; online 0.14% higher at K=10), and the frame costs less.
    near_key: int = 5
    # At the working size (vprop.engine.working) the key is aligned at full size where its chain holds ("aligned"):
    # a highlight's edge blurred by the working size costs its radiance. Against the key's fine detail faded with the
    # chain's confidence ("fine", colour's), log-RMSE on 3 of those panoramas 0.0162 -> 0.0148 at K=10.
    detail: str = "aligned"

    def prepare(self, rgb: np.ndarray) -> np.ndarray:
        return rgb

    def gray(self, rgb: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)

    def key(self, rgb: np.ndarray, radiance: np.ndarray) -> HDRKey:
        """A key from its file's scene-linear radiance and the LDR video frame it is paired with."""
        return HDRKey(radiance, rgb)

    def inputs(self, rgb: np.ndarray, key: HDRKey, chain: ChainedWarp | None):
        return model_inputs(rgb, key, chain, self.log_mean)

    def key_output(self, rgb: np.ndarray, key: HDRKey) -> np.ndarray:
        return to_log(key.hdr, self.log_mean).transpose(2, 0, 1)

    def finish(self, rgb: np.ndarray, prop: np.ndarray) -> np.ndarray:
        return from_log(np.asarray(prop).transpose(1, 2, 0), self.log_mean)


class Blender:
    """Eq. 10 per frame, with the T and scale of the key(s) the frame was propagated from.

    Online: the preceding key. Offline: between two keys their parameters are interpolated by distance.
    ``inverted_only``: the inverted-LDR baseline (every pixel from the scaled f⁻¹(D)).
    """

    def __init__(self, curve: CameraCurve = HDRCNN_CURVE, mode: str = "offline", inverted_only: bool = False,
                 rule: str = BLEND_RULE):
        self.curve, self.mode, self.inverted_only, self.rule = curve, mode, inverted_only, rule
        self.keys: dict[int, KeyBlend] = {}

    def add_key(self, index: int, key: HDRKey) -> None:
        if index not in self.keys:
            self.keys[index] = KeyBlend.from_key(key.hdr, key.ldr, self.curve, with_response=self.rule == "calibrated")

    def params(self, index: int) -> KeyBlend:
        if not self.keys:
            raise ValueError("no key-frame registered")
        before = [i for i in self.keys if i <= index]
        after = [i for i in self.keys if i > index]
        if not before:
            return self.keys[min(after)]
        p = max(before)
        if p == index or not after or self.mode == "online":
            return self.keys[p]
        n = min(after)
        return KeyBlend.between(self.keys[p], self.keys[n], (index - p) / (n - p))

    def __call__(self, index: int, ldr: np.ndarray, estimate: np.ndarray) -> np.ndarray:
        params = self.params(index)
        if self.inverted_only:
            return inverted_ldr(ldr, params.scale, self.curve)
        if index in self.keys:      # a key frame is its own HDR
            return estimate
        return blend(estimate, ldr, params, self.curve, self.rule)
