"""Localisation: animal boxes from frozen spatial tokens, AP@IoU, identity linking."""

from ethoprism.localization.evaluate import coco_ap
from ethoprism.localization.head import BoxHead, link_tracks, smooth_tracks

__all__ = ["BoxHead", "coco_ap", "link_tracks", "smooth_tracks"]
