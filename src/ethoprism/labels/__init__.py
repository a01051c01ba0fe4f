"""The one internal label model (:class:`VideoLabels`); the readers and writers of label files
are in :mod:`ethoprism.io`, one module per format."""

from ethoprism.labels.model import UNLABELLED, VideoLabels, bouts_from_mask, merge_behaviors

__all__ = ["VideoLabels", "UNLABELLED", "bouts_from_mask", "merge_behaviors"]
