"""Switchable temporal propagation network (Liu et al., ECCV 2018): guidance U-Net, property encoder,
two cascaded 4-direction propagation units and a decoder.

Two decoders share the engine:
- ``"paper"``: the hidden map is decoded and bilinearly up-sampled to full size (paper Sec. 5.1).
- ``"residual"``: the network predicts a low-frequency correction of a full-resolution base property
  (the key's property aligned to the target by optical flow), applied through a learned per-pixel gate,
  so full-resolution detail of the base survives and a good warp can be left untouched. With
  ``unaligned_key`` the base is a learned per-pixel mix of the aligned key and the key as it is, so where a
  long flow chain lost track the network can fall back on the key itself.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields

import torch
import torch.nn.functional as F
from torch import nn

from vprop.models.side_blend import SideBlend
from vprop.ops import propagate_4dir_max

# Gate channel groups of one propagation unit, in order; the switch swaps opposite directions.
DIRECTION_ORDER = ("l2r", "r2l", "t2b", "b2t")
SWITCHED_ORDER = (1, 0, 3, 2)


@dataclass
class TPNConfig:
    """Architecture as data: saved beside the weights, so a weights file alone rebuilds its model."""

    task: str                      # "color", "hdr" or "seg"
    guidance_channels: int         # channels of the guidance input (both frames, plus alignment cues)
    property_channels: int         # channels of the propagated property U (ab = 2, RGB log radiance = 3, ...)
    hidden_channels: int = 32      # channels of U at the hidden resolution
    hidden_stride: int = 4         # hidden resolution = input / hidden_stride (2 or 4)
    base_width: int = 8            # first guidance conv width; doubles per level
    max_width: int = 512           # width cap of the guidance U-Net (the paper reaches 512)
    depth: int = 7                 # conv + ReLU + max-pool levels of the guidance U-Net
    units: int = 2                 # cascaded propagation units
    decoder: str = "paper"         # "paper" or "residual"
    # The property input also carries the key's unaligned property (as many channels again, after the aligned
    # one), encoded beside it: where a long flow chain lost track the network can fall back to the key itself.
    unaligned_key: bool = False
    # And, after those, a per-pixel cue that needs no alignment (seg: how much the target's colours are the key
    # object's), which the encoder, the trust map and the decoder's gate all see.
    appearance: bool = False
    # Offline, the two sides' blend learned (vprop.models.side_blend.SideBlend's arguments; empty: the hand-set rule).
    side_blend: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)   # task data kept with the weights (e.g. the HDR log mean)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "TPNConfig":
        """ValueError naming the settings this version does not know: a file written by a newer vprop."""
        settings = json.loads(text)
        unknown = sorted(set(settings) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown model setting(s) {', '.join(unknown)}")
        return cls(**settings)

    @property
    def property_groups(self) -> int:
        """How many groups of property_channels the property input has (aligned key, unaligned key, appearance)."""
        return 1 + self.unaligned_key + self.appearance

    @property
    def min_side(self) -> int:
        """Inputs are padded to at least this on each side, so that the U-Net's deepest level keeps a pixel."""
        return 2 ** self.depth


def memory_layout(t: torch.Tensor) -> torch.memory_format:
    """The layout ``t`` is in, channels-last or the default: to hand a result back in it."""
    return torch.channels_last if t.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format


def normalize_gates(gates: torch.Tensor) -> torch.Tensor:
    """SPN stability rule: where the three gates of a direction sum to more than 1 in magnitude, divide by that sum.
    Returned in the input's memory layout."""
    b, c, h, w = gates.shape
    # Grouped in the default layout: on a channels-last tensor this view's sum and division ran 3-7x slower.
    g = gates.contiguous().view(b, c // 3, 3, h, w)
    total = g.abs().sum(2, keepdim=True)
    return (g / total.clamp(min=1.0)).view(b, c, h, w).contiguous(memory_format=memory_layout(gates))


def switch_gates(gates: torch.Tensor) -> torch.Tensor:
    """Swap the gates of opposite directions (l2r <-> r2l, t2b <-> b2t) in every unit: transposes G (Sec. 3.2)."""
    b, c, h, w = gates.shape
    g = gates.view(b, c // 12, 4, 3, h, w)
    return g[:, :, list(SWITCHED_ORDER)].reshape(b, c, h, w)


def propagation_unit(x: torch.Tensor, gates: torch.Tensor) -> torch.Tensor:
    """Four directional scans of x merged by node-wise max-pooling. gates: (B, 12, H, W)."""
    return propagate_4dir_max(x, gates)


class GuidanceUNet(nn.Module):
    """Symmetric U-Net: conv+ReLU+max-pool down, bilinear up, skip links by summation (paper appendix)."""

    def __init__(self, cfg: TPNConfig, out_channels: int, out_level: int):
        super().__init__()
        widths = [min(cfg.base_width * 2**i, cfg.max_width) for i in range(cfg.depth + 1)]
        self.out_level = out_level
        self.stem = nn.Conv2d(cfg.guidance_channels, widths[0], 3, padding=1)
        self.down = nn.ModuleList(nn.Conv2d(widths[i], widths[i + 1], 3, padding=1) for i in range(cfg.depth))
        self.up = nn.ModuleList(nn.Conv2d(widths[i + 1], widths[i], 3, padding=1) for i in range(cfg.depth))
        self.head = nn.Conv2d(widths[out_level], out_channels, 3, padding=1)
        # Full-resolution features for the residual decoder's blending gate.
        self.top_width = widths[0]

    def forward(self, guidance: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (head output at 1/2**out_level resolution, full-resolution features)."""
        # In place: a convolution's output is needed by nothing but its ReLU (one full-size copy less per level).
        x = F.relu(self.stem(guidance), inplace=True)
        skips = [x]
        for conv in self.down:
            x = F.relu(conv(F.max_pool2d(x, 2)), inplace=True)
            skips.append(x)
        head = None
        for level in range(len(self.up) - 1, -1, -1):
            x = F.interpolate(x, size=skips[level].shape[-2:], mode="bilinear", align_corners=False)
            x = F.relu(self.up[level](x), inplace=True) + skips[level]
            if level == self.out_level:
                head = self.head(x)
        return head, x


class SwitchableTPN(nn.Module):
    def __init__(self, cfg: TPNConfig):
        super().__init__()
        if cfg.decoder not in ("paper", "residual"):
            raise ValueError(f"unknown decoder {cfg.decoder!r}; expected 'paper' or 'residual'")
        if cfg.hidden_stride not in (1, 2, 4):
            raise ValueError("hidden_stride must be 1, 2 or 4")
        self.cfg = cfg
        out_level = cfg.hidden_stride.bit_length() - 1
        self.guidance = GuidanceUNet(cfg, 12 * cfg.units, out_level)
        hc, pc = cfg.hidden_channels, cfg.property_channels
        layers: list[nn.Module] = []
        in_c = pc * cfg.property_groups
        for i in range(out_level):
            layers += [nn.Conv2d(in_c, hc, 3, stride=2, padding=1)]
            if i < out_level - 1:
                layers += [nn.ReLU()]
            in_c = hc
        if out_level == 0:
            layers = [nn.Conv2d(pc * cfg.property_groups, hc, 3, padding=1)]
        self.encode = nn.Sequential(*layers)
        self.decode = nn.Conv2d(hc, pc, 3, padding=1)
        if cfg.decoder == "residual":
            # Per-pixel gate at full resolution from the guidance features and the up-sampled correction.
            self.blend = nn.Sequential(
                nn.Conv2d(self.guidance.top_width + pc * (1 + cfg.appearance), 16, 3, padding=1), nn.ReLU(inplace=True),
                nn.Conv2d(16, 1, 3, padding=1),
            )
            # Start nearly closed: an untrained model returns the aligned base (the optical-flow result).
            nn.init.constant_(self.blend[-1].bias, -4.0)
        if cfg.side_blend:
            self.side_blend = SideBlend(cfg.property_channels, **cfg.side_blend)
        if cfg.unaligned_key and cfg.decoder == "residual":
            # Per pixel, how far the alignment is trusted (from the full-resolution guidance features: the flow
            # chain's cues): the base is that mix of the aligned and the unaligned key. Starts on the aligned one.
            cues = pc * cfg.property_groups if cfg.appearance else 0
            self.select = nn.Conv2d(self.guidance.top_width + cues, 1, 3, padding=1)
            nn.init.zeros_(self.select.weight)
            nn.init.constant_(self.select.bias, 3.0)

    # -- helpers -------------------------------------------------------------------------------------
    def _pad(self, t: torch.Tensor) -> torch.Tensor:
        """``t`` padded to a multiple of the hidden stride (the gates and the hidden map must line up) and to at
        least ``cfg.min_side``. Odd sizes deeper in the U-Net are fine: its pooling floors them and its
        up-sampling returns to each level's own size. (Padding to a multiple of 2**depth, as before, made 427x240
        448x256, 12% more pixels, for the same colour PSNR on the dev videos to +-0.01 dB.)"""
        h, w = t.shape[-2:]
        s = self.cfg.hidden_stride
        ph, pw = (max(-(-n // s) * s, self.cfg.min_side) - n for n in (h, w))
        return F.pad(t, (0, pw, 0, ph), mode="replicate") if ph or pw else t

    def gates(self, guidance: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raw, features = self.guidance(self._pad(guidance))
        return normalize_gates(raw), features

    def propagate_hidden(self, prop: torch.Tensor, gates: torch.Tensor) -> torch.Tensor:
        h = self.encode(prop)
        layout = memory_layout(h)
        h = h.float()
        for u in range(self.cfg.units):
            h = propagation_unit(h, gates[:, 12 * u : 12 * (u + 1)].float())
        # The scans return a layout of their own (channels-last on the CPU inference path, else the default): back to
        # the input's, or the convolutions after them (the decoder, the residual gate at full size) run in the
        # other, on a CPU 1.6-3x slower each.
        return self.decode(h.contiguous(memory_format=layout))

    def _output(self, prop: torch.Tensor, hidden_out: torch.Tensor, features: torch.Tensor, size) -> torch.Tensor:
        if self.cfg.decoder == "paper":
            up = F.interpolate(hidden_out, size=prop.shape[-2:], mode="bilinear", align_corners=False)
            return up[..., : size[0], : size[1]]
        pc, cues = self.cfg.property_channels, prop
        if self.cfg.unaligned_key:
            trust = torch.sigmoid(self.select(torch.cat([features, cues], 1) if self.cfg.appearance else features))
            prop = trust * prop[:, :pc] + (1.0 - trust) * prop[:, pc : 2 * pc]
        else:
            prop = prop[:, :pc]
        # The hidden path predicts the property; only its low-frequency change from the base is applied,
        # so the base keeps its full-resolution detail wherever the gate stays closed. Bilinear up-sampling is
        # linear, so the change is up-sampled once rather than the prediction and the base's low-pass apart.
        base_low = F.avg_pool2d(prop, self.cfg.hidden_stride) if self.cfg.hidden_stride > 1 else prop
        correction = F.interpolate(hidden_out - base_low, size=prop.shape[-2:], mode="bilinear", align_corners=False)
        # In the features' type: under bf16 autocast the gate's convolution would cast to it anyway, and a mixed
        # concatenation costs a float32 copy of every channel first.
        gate_in = [features, correction] + ([cues[:, -pc:]] if self.cfg.appearance else [])
        gate = torch.sigmoid(self.blend(torch.cat([x.to(features.dtype) for x in gate_in], 1)))
        return (prop + gate * correction)[..., : size[0], : size[1]]

    def _run(self, prop, gates, features, size):
        padded = self._pad(prop)
        return self._output(padded, self.propagate_hidden(padded, gates), features, size)

    # -- public --------------------------------------------------------------------------------------
    def forward(self, guidance: torch.Tensor, prop: torch.Tensor, switched: bool = False) -> torch.Tensor:
        """Propagate ``prop`` (B, property_channels, H, W) under ``guidance`` (B, guidance_channels, H, W);
        with ``cfg.unaligned_key``, ``prop`` is (B, 2 x property_channels, H, W): aligned, then unaligned.

        ``switched=True`` runs the reverse pass of the switchable TPN (opposite directions' gates swapped).
        """
        gates, features = self.gates(guidance)
        return self._run(prop, switch_gates(gates) if switched else gates, features, prop.shape[-2:])

    def forward_pair(self, guidance, prop, target):
        """The forward pass prop -> target and the switched reverse pass target -> prop, sharing one guidance run."""
        gates, features = self.gates(guidance)
        size = prop.shape[-2:]
        # The reverse pass starts in the target frame, its own key: aligned and unaligned are the same there; it
        # has no colour model of the frame it goes to, so its appearance cue says nothing (0.5).
        back = target.repeat(1, 1 + self.cfg.unaligned_key, 1, 1)
        if self.cfg.appearance:
            back = torch.cat([back, torch.full_like(target, 0.5)], 1)
        return self._run(prop, gates, features, size), self._run(back, switch_gates(gates), features, size)


def model_aligned(model: nn.Module, align: bool | None = None) -> bool:
    """Whether the keys are aligned to each frame by flow for ``model``: ``align`` when given, else what its
    weights were trained for (a model without a config, such as a baseline, aligns)."""
    if align is not None:
        return bool(align)
    cfg = getattr(model, "cfg", None)
    return bool(cfg is None or cfg.extra.get("aligned", True))
