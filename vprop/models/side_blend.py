"""How much each of an offline frame's two propagations counts, per pixel, learned.

Offline, a frame is propagated from its preceding and from its next key, and the two are blended. The hand-set rule
(``Propagator``) weighs each side by its chain's confidence and by the other key's distance. This network starts
from that rule's log-odds and learns a correction from what the two sides say: their properties, how far they
disagree, their confidences, the distance share and the frame itself. Zero-initialised, it is the hand-set rule.
It runs at 1/``scale`` of the frame's size (the weight is smooth; at colour's working size 1/4 costs about 3% of an
offline frame, ``benchmarks/profile_colorize.py``; 1/2 cost twice as much) and its correction is up-sampled.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SideBlend(nn.Module):
    def __init__(self, property_channels: int, *, width: int, scale: int):
        super().__init__()
        # both sides, their disagreement, the log of both confidences, the distance share, the frame
        features = 2 * property_channels + 5
        self.scale = scale
        self.net = nn.Sequential(
            nn.Conv2d(features, width, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=2, dilation=2), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=4, dilation=4), nn.ReLU(inplace=True),
            nn.Conv2d(width, 1, 3, padding=1),
        )
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)
        self.net.to(memory_format=torch.channels_last)

    def forward(self, forward: torch.Tensor, backward: torch.Tensor, forward_conf: torch.Tensor,
                backward_conf: torch.Tensor, share: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
        """The forward side's weight (B, 1, H, W) in 0..1. ``forward``, ``backward``: the two propagations (B, C, H, W);
        ``*_conf``: their chains' confidences (B, 1, H, W), above 0; ``share``: the next key's distance over both
        keys' (B, 1, 1, 1) or per pixel; ``frame``: the frame's gray level in 0..1 (B, 1, H, W)."""
        log_forward_conf, log_backward_conf = torch.log(forward_conf), torch.log(backward_conf)
        # the hand-set rule: each side weighed by its confidence and the other key's distance
        odds = log_forward_conf - log_backward_conf + torch.log(share / (1.0 - share))
        features = [forward, backward, (forward - backward).abs().sum(1, keepdim=True), log_forward_conf,
                    log_backward_conf, frame]
        if self.scale > 1:
            # Each feature pooled on its own (pooling is per channel): the concatenation and the layout copy below
            # then move a 1/scale^2 of the pixels (the blend ~2x faster at colour's working size).
            features = [F.avg_pool2d(f, self.scale, ceil_mode=True) for f in features]
        *features, frame = features
        x = torch.cat([*features, share.expand_as(frame), frame], 1)
        # channels-last, as the weights: the CPU's convolutions run about twice as fast on it
        correction = self.net(x.contiguous(memory_format=torch.channels_last))
        if self.scale > 1:
            correction = F.interpolate(correction, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return torch.sigmoid(odds + correction[..., : odds.shape[-2], : odds.shape[-1]])
