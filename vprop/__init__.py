"""vprop: propagate video properties from key-frames with switchable temporal propagation networks."""
__version__ = "0.1.0"

from vprop.engine.propagator import Propagator, Settings  # noqa: E402
from vprop.models.hub import load_model  # noqa: E402
from vprop.ops import Propagate, propagate  # noqa: E402
from vprop.pipelines.colorize import colorize  # noqa: E402
from vprop.pipelines.hdr import hdr  # noqa: E402
from vprop.pipelines.segment import segment  # noqa: E402

__all__ = ["propagate", "Propagate", "load_model", "colorize", "segment", "hdr", "Propagator", "Settings",
           "__version__"]
