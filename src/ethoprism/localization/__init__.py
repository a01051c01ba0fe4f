"""Localisation: animal boxes from frozen spatial tokens, AP@IoU, identity linking."""

from ethoprism.localization.boxes import boxes_from_pose, read_coco, validate_boxes, write_coco
from ethoprism.localization.evaluate import coco_ap
from ethoprism.localization.head import BoxHead, link_tracks, smooth_tracks

__all__ = ["BoxHead", "read_coco", "write_coco", "boxes_from_pose", "validate_boxes", "coco_ap", "link_tracks",
           "smooth_tracks"]
