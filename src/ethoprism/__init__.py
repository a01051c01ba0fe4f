"""ethoprism: animal behaviour analysis with frozen video foundation models.

The data flow, one subpackage per stage::

    video -> clips -> backbones -> store -> heads -> (outputs, evaluation)
"""

__version__ = "0.1.0"

from ethoprism.backbones import BACKBONES, load_backbone  # noqa: E402
from ethoprism.clips import ClipSpec  # noqa: E402
from ethoprism.errors import EthoprismError  # noqa: E402

__all__ = ["__version__", "load_backbone", "BACKBONES", "ClipSpec", "EthoprismError"]
