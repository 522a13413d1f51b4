"""vprop: propagate video properties from key-frames with switchable temporal propagation networks."""
__version__ = "0.1.0"

import os  # noqa: E402

# OpenMP worker threads that run out of work sleep instead of spinning (libgomp's default spins for a while). On a
# 2-core machine shared with other work, the spinning threads took the CPU from each other and from OpenCV's flow:
# the colour network ran ~4x slower (benchmarks/profile_colorize.py). OpenMP reads this when torch loads it, so it
# counts only where torch is not imported yet (the `vprop` command), and a value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from vprop.engine.propagator import Propagator, Settings  # noqa: E402
from vprop.models.hub import load_model  # noqa: E402
from vprop.ops import Propagate, propagate  # noqa: E402
from vprop.pipelines.colorize import colorize  # noqa: E402
from vprop.pipelines.hdr import hdr  # noqa: E402
from vprop.pipelines.segment import segment  # noqa: E402

__all__ = ["propagate", "Propagate", "load_model", "colorize", "segment", "hdr", "Propagator", "Settings",
           "__version__"]
