"""vprop: propagate video properties from key-frames with switchable temporal propagation networks."""
__version__ = "0.1.0"

from vprop.models.hub import load_model  # noqa: E402
from vprop.ops import Propagate, propagate  # noqa: E402
from vprop.pipelines.colorize import colorize  # noqa: E402

__all__ = ["propagate", "Propagate", "load_model", "colorize", "__version__"]
