"""Labels in: one internal model (:class:`VideoLabels`) and one small reader per file format."""

from ethoprism.labels.auto import FORMATS, detect_format, read_labels
from ethoprism.labels.boris import read_boris_binary, read_boris_events, write_boris_events
from ethoprism.labels.bouts_csv import read_bouts_csv, write_bouts_csv
from ethoprism.labels.deepethogram import read_deepethogram, write_deepethogram
from ethoprism.labels.feral import read_feral
from ethoprism.labels.model import UNLABELLED, VideoLabels, bouts_from_mask, merge_behaviors
from ethoprism.labels.simba import read_simba

__all__ = ["read_labels", "detect_format", "FORMATS", "VideoLabels", "UNLABELLED", "bouts_from_mask", "merge_behaviors", "read_deepethogram", "write_deepethogram",
           "read_boris_events", "read_boris_binary", "write_boris_events", "read_feral", "read_simba",
           "read_bouts_csv", "write_bouts_csv"]
