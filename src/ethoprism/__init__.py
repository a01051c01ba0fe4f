"""ethoprism: animal behaviour analysis with frozen video foundation models.

The data flow, one subpackage per stage::

    video -> clips -> backbones -> store -> heads -> (outputs, evaluation)
"""

__version__ = "0.1.0"

from ethoprism.errors import EthoprismError  # noqa: E402

# torch and the models load on first use, not on `import ethoprism`: `ethoprism --help` and an
# argument error answer at once
_LAZY = {
    "load_backbone": "ethoprism.backbones",
    "BACKBONES": "ethoprism.backbones",
    "ClipSpec": "ethoprism.clips",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ethoprism' has no attribute '{name}'")


__all__ = ["__version__", "load_backbone", "BACKBONES", "ClipSpec", "EthoprismError"]
