"""Stage 6: what users open — per-frame tables, bouts, BORIS files, plots, HTML reports."""

from ethoprism.outputs.tables import bouts_table, frame_table, write_predictions

__all__ = ["frame_table", "bouts_table", "write_predictions"]
