"""Every external file format, one module per format, reader and writer side by side.

Labels: :mod:`~ethoprism.io.boris` (tabular events, binary tables), :mod:`~ethoprism.io.deepethogram`,
:mod:`~ethoprism.io.feral`, :mod:`~ethoprism.io.simba`, :mod:`~ethoprism.io.bouts_csv`, with
:func:`read_labels` choosing the reader by each format's validator (:mod:`~ethoprism.io.labels`).
Boxes and pose: :mod:`~ethoprism.io.coco`, :mod:`~ethoprism.io.sleap`, :mod:`~ethoprism.io.deeplabcut`,
with :func:`read_boxes` (:mod:`~ethoprism.io.boxes`). Model files (heads, box heads):
:mod:`~ethoprism.io.model_files` (JSON + safetensors, no pickle).
"""

from ethoprism.io.boris import read_boris_binary, read_boris_events, write_boris_events
from ethoprism.io.bouts_csv import read_bouts_csv, write_bouts_csv
from ethoprism.io.deepethogram import read_deepethogram, write_deepethogram
from ethoprism.io.feral import read_feral
from ethoprism.io.labels import FORMATS, detect_format, label_files, read_labels
from ethoprism.io.simba import read_simba

__all__ = [
    "read_labels",
    "label_files",
    "detect_format",
    "FORMATS",
    "read_deepethogram",
    "write_deepethogram",
    "read_boris_events",
    "read_boris_binary",
    "write_boris_events",
    "read_feral",
    "read_simba",
    "read_bouts_csv",
    "write_bouts_csv",
]
