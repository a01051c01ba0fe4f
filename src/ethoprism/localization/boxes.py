"""Box labels in: COCO JSON, pose files (SLEAP ``.slp``, DeepLabCut) via sleap-io, and the
synthetic generator. One internal form, :class:`BoxLabels`: a table ``video, frame, track, x0,
y0, x1, y1`` in pixels of the original frame (``track`` -1 when identities are unknown) and the
frames the file labels. Pose files label some frames only: a labelled frame without boxes holds
no animal, a frame the file does not label is unknown and is neither trained on nor scored.

COCO for video: each image entry names its video in ``file_name`` and its frame in ``frame``
(or ``frame_index``/``frame_idx``); ``bbox`` is ``[x, y, width, height]``; ``track_id`` is
optional.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ethoprism.errors import EthoprismError
from ethoprism.labels.tables import read_json

BOX_COLUMNS = ["video", "frame", "track", "x0", "y0", "x1", "y1"]


@dataclass
class BoxLabels:
    boxes: pd.DataFrame  # BOX_COLUMNS
    frames: pd.DataFrame  # video, frame: the labelled frames (with or without boxes)

    def labelled(self, video: str) -> set[int]:
        return set(self.frames.frame[self.frames.video == video].astype(int))

    def rename_videos(self, mapping: dict[str, str]) -> "BoxLabels":
        if not mapping:
            return self
        return BoxLabels(self.boxes.assign(video=self.boxes.video.replace(mapping)),
                         self.frames.assign(video=self.frames.video.replace(mapping)))

    def only(self, videos) -> "BoxLabels":
        videos = set(videos)
        return BoxLabels(self.boxes[self.boxes.video.isin(videos)], self.frames[self.frames.video.isin(videos)])


def _labels(rows: list[tuple], frames) -> BoxLabels:
    boxes = pd.DataFrame(rows, columns=BOX_COLUMNS).sort_values(["video", "frame", "track"], kind="stable")
    frames = pd.DataFrame(sorted(set(frames)), columns=["video", "frame"])
    return BoxLabels(boxes.reset_index(drop=True), frames)


def validate_boxes(boxes: pd.DataFrame, n_frames: dict[str, int], sizes: dict[str, tuple[int, int]], source,
                   tolerance: float = 2.0) -> pd.DataFrame:
    """Boxes must name known videos and frames and lie inside the frame (``tolerance`` px)."""
    for video, rows in boxes.groupby("video"):
        if video not in n_frames:
            raise EthoprismError(f"boxes name video '{video}', which is not among {sorted(n_frames)}", source)
        bad = rows[(rows.frame < 0) | (rows.frame >= n_frames[video])]
        if len(bad):
            raise EthoprismError(f"boxes on unknown frame {int(bad.frame.iloc[0])} of '{video}' "
                                 f"(video has {n_frames[video]} frames)", source)
        width, height = sizes[video]
        outside = rows[(rows.x0 < -tolerance) | (rows.y0 < -tolerance) | (rows.x1 > width + tolerance)
                       | (rows.y1 > height + tolerance) | (rows.x1 <= rows.x0) | (rows.y1 <= rows.y0)]
        if len(outside):
            row = outside.iloc[0]
            raise EthoprismError(f"box ({row.x0:.1f}, {row.y0:.1f}, {row.x1:.1f}, {row.y1:.1f}) on frame "
                                 f"{int(row.frame)} of '{video}' is empty or outside the {width}x{height} frame", source)
    return boxes


def read_coco(path: str | Path) -> BoxLabels:
    """Every COCO image is a labelled frame; one without annotations holds no animal."""
    path = Path(path)
    data = read_json(path, "box file")
    if not isinstance(data, dict) or "images" not in data or "annotations" not in data:
        raise EthoprismError("not a COCO file: needs 'images' and 'annotations'", path)
    images = {}
    for image in data["images"]:
        frame = next((image[k] for k in ("frame", "frame_index", "frame_idx") if k in image), None)
        if frame is None or "file_name" not in image or "id" not in image:
            raise EthoprismError(f"COCO image {image.get('id')} lacks id, file_name or frame", path)
        images[image["id"]] = (Path(image["file_name"]).name, int(frame))
    rows = []
    for annotation in data["annotations"]:
        if annotation.get("image_id") not in images:
            raise EthoprismError(f"annotation {annotation.get('id')} refers to unknown image {annotation.get('image_id')}", path)
        bbox = annotation.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4:
            raise EthoprismError(f"annotation {annotation.get('id')} has no [x, y, w, h] bbox", path)
        video, frame = images[annotation["image_id"]]
        x, y, w, h = map(float, bbox)
        rows.append((video, frame, int(annotation.get("track_id", -1)), x, y, x + w, y + h))
    return _labels(rows, images.values())


def boxes_from_pose(path: str | Path, video: str | None = None, margin: float = 0.1, min_points: int = 2) -> BoxLabels:
    """Boxes around each instance's keypoints (min/max, plus ``margin`` of the box size on every
    side) from a DeepLabCut file (``.h5``/``.csv``, analysis output or labelled data) or any pose
    file sleap-io reads (SLEAP ``.slp``, ...). Labelled frames: the frames a SLEAP file or a
    DeepLabCut labelled-data file lists; for DeepLabCut analysis output, the frames where some
    animal has enough confident points (low confidence is no evidence of an empty frame)."""
    from ethoprism.localization.deeplabcut import is_deeplabcut, read_deeplabcut

    path = Path(path)
    if not path.exists():
        raise EthoprismError("pose file does not exist", path)
    instances, labelled = read_deeplabcut(path, video) if is_deeplabcut(path) else _sleap_instances(path, video)
    rows = []
    for name, frame, track, points in instances:
        points = points[np.isfinite(points).all(axis=1)]
        if len(points) < min_points:
            continue
        (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
        pad_x, pad_y = margin * max(x1 - x0, 1), margin * max(y1 - y0, 1)
        rows.append((name, frame, track, x0 - pad_x, y0 - pad_y, x1 + pad_x, y1 + pad_y))
    return _labels(rows, labelled if labelled is not None else [(r[0], r[1]) for r in rows])


def _sleap_instances(path: Path, video: str | None):
    """-> (instances, labelled frames). Per frame, the user's instances win over predicted ones
    (as ``movement`` reads SLEAP files): a corrected frame is not polluted by the prediction it
    corrected; frames with predictions only keep those."""
    import sleap_io

    try:
        labels = sleap_io.load_file(str(path))
    except Exception as exc:  # sleap-io raises many types for unreadable files
        raise EthoprismError(f"cannot read pose file ({exc.__class__.__name__}: {exc})", path) from exc
    tracks = {id(track): i for i, track in enumerate(labels.tracks)}
    instances, labelled = [], []
    for frame in labels.labeled_frames:
        name = video or Path(frame.video.filename if isinstance(frame.video.filename, str) else frame.video.filename[0]).name
        labelled.append((name, int(frame.frame_idx)))
        for instance in frame.user_instances or frame.predicted_instances:
            track = tracks.get(id(instance.track), -1) if instance.track is not None else -1
            instances.append((name, int(frame.frame_idx), track, instance.numpy()))
    return instances, labelled


def clip_to_frame(boxes: pd.DataFrame, sizes: dict[str, tuple[int, int]]) -> pd.DataFrame:
    """Clamp boxes (pose margins can cross the border) to the frame."""
    boxes = boxes.copy()
    width = boxes.video.map(lambda v: sizes[v][0])
    height = boxes.video.map(lambda v: sizes[v][1])
    boxes["x0"], boxes["x1"] = boxes.x0.clip(lower=0), np.minimum(boxes.x1, width)
    boxes["y0"], boxes["y1"] = boxes.y0.clip(lower=0), np.minimum(boxes.y1, height)
    return boxes


def write_coco(boxes: pd.DataFrame, path, sizes: dict[str, tuple[int, int]], scores: bool = False,
               frames: set[tuple[str, int]] | None = None) -> Path:
    """Ground truth as a COCO file, or (``scores=True``) detections as a COCO *results* list.
    ``frames``: (video, frame) pairs that are images even without a box, so that detections on
    an empty frame count as false positives."""
    keys = set(zip(boxes.video, (int(f) for f in boxes.frame))) | set(frames or ())
    image_ids = {key: i + 1 for i, key in enumerate(sorted(keys))}
    if scores:
        results = [{"image_id": image_ids[(r.video, int(r.frame))], "category_id": 1, "track_id": int(r.track),
                    "bbox": [float(r.x0), float(r.y0), float(r.x1 - r.x0), float(r.y1 - r.y0)], "score": float(r.score),
                    "video": r.video, "frame": int(r.frame)} for r in boxes.itertuples()]
        Path(path).write_text(json.dumps(results))
        return Path(path)
    images = [{"id": i, "file_name": v, "frame": int(f), "width": sizes[v][0], "height": sizes[v][1]}
              for (v, f), i in image_ids.items()]
    annotations = [{"id": n + 1, "image_id": image_ids[(r.video, int(r.frame))], "category_id": 1, "track_id": int(r.track),
                    "bbox": [float(r.x0), float(r.y0), float(r.x1 - r.x0), float(r.y1 - r.y0)],
                    "area": float((r.x1 - r.x0) * (r.y1 - r.y0)), "iscrowd": 0} for n, r in enumerate(boxes.itertuples())]
    Path(path).write_text(json.dumps({"images": images, "annotations": annotations,
                                      "categories": [{"id": 1, "name": "animal"}]}))
    return Path(path)
