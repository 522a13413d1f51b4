"""Scene-linear RGB in other primaries (an OpenEXR file's ``chromaticities``: ACES, ACEScg, a D50 ICC workflow)
brought to vprop's, BT.709 / sRGB with a D65 white, by the 3x3 matrix that the two sets of primaries define and a
Bradford adaptation between their whites (as OpenColorIO's ACES configs do)."""
from __future__ import annotations

import numpy as np

# (red x, y, green x, y, blue x, y, white x, y), OpenEXR's order
BT709 = (0.64, 0.33, 0.30, 0.60, 0.15, 0.06, 0.3127, 0.3290)
_BRADFORD = np.array([[0.8951, 0.2664, -0.1614],
                      [-0.7502, 1.7135, 0.0367],
                      [0.0389, -0.0685, 1.0296]])
SAME = 1e-3     # chromaticities this close to BT.709's are BT.709 (files round them)


def _xyz(x: float, y: float) -> np.ndarray:
    return np.array([x / y, 1.0, (1.0 - x - y) / y])


def rgb_to_xyz(chromaticities) -> np.ndarray:
    """The 3x3 matrix from linear RGB in these primaries to CIE XYZ, white at Y = 1."""
    c = [float(v) for v in chromaticities]
    primaries = np.stack([_xyz(c[0], c[1]), _xyz(c[2], c[3]), _xyz(c[4], c[5])], axis=1)
    return primaries * np.linalg.solve(primaries, _xyz(c[6], c[7]))


def to_bt709(chromaticities) -> np.ndarray | None:
    """The 3x3 matrix taking linear RGB in ``chromaticities`` to BT.709 / D65, or None where they are BT.709's."""
    if np.allclose([float(v) for v in chromaticities], BT709, atol=SAME):
        return None
    source_white, target_white = (_BRADFORD @ _xyz(*chromaticities[6:8]), _BRADFORD @ _xyz(*BT709[6:8]))
    adapt = np.linalg.inv(_BRADFORD) @ np.diag(target_white / source_white) @ _BRADFORD
    return np.linalg.inv(rgb_to_xyz(BT709)) @ adapt @ rgb_to_xyz(chromaticities)
