"""COCO JSON for video, boxes in and out.

Each image entry names its video in ``file_name`` and its frame in ``frame`` (or
``frame_index``/``frame_idx``); ``bbox`` is ``[x, y, width, height]``; ``track_id`` is optional.
Every image is a labelled frame; one without annotations holds no animal.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ethoprism.errors import EthoprismError
from ethoprism.io.tables import read_json
from ethoprism.labels.boxes import BoxLabels, box_labels


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
            raise EthoprismError(
                f"annotation {annotation.get('id')} refers to unknown image {annotation.get('image_id')}",
                path,
            )
        bbox = annotation.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4:
            raise EthoprismError(f"annotation {annotation.get('id')} has no [x, y, w, h] bbox", path)
        video, frame = images[annotation["image_id"]]
        x, y, w, h = map(float, bbox)
        rows.append((video, frame, int(annotation.get("track_id", -1)), x, y, x + w, y + h))
    return box_labels(rows, images.values())


def write_coco(
    boxes: pd.DataFrame,
    path,
    sizes: dict[str, tuple[int, int]],
    scores: bool = False,
    frames: set[tuple[str, int]] | None = None,
) -> Path:
    """Ground truth as a COCO file, or (``scores=True``) detections as a COCO *results* list.
    ``frames``: (video, frame) pairs that are images even without a box, so that detections on
    an empty frame count as false positives."""
    keys = set(zip(boxes.video, (int(f) for f in boxes.frame))) | set(frames or ())
    image_ids = {key: i + 1 for i, key in enumerate(sorted(keys))}
    if scores:
        results = [
            {
                "image_id": image_ids[(r.video, int(r.frame))],
                "category_id": 1,
                "track_id": int(r.track),
                "bbox": [float(r.x0), float(r.y0), float(r.x1 - r.x0), float(r.y1 - r.y0)],
                "score": float(r.score),
                "video": r.video,
                "frame": int(r.frame),
            }
            for r in boxes.itertuples()
        ]
        Path(path).write_text(json.dumps(results))
        return Path(path)
    images = [
        {"id": i, "file_name": v, "frame": int(f), "width": sizes[v][0], "height": sizes[v][1]}
        for (v, f), i in image_ids.items()
    ]
    annotations = [
        {
            "id": n + 1,
            "image_id": image_ids[(r.video, int(r.frame))],
            "category_id": 1,
            "track_id": int(r.track),
            "bbox": [float(r.x0), float(r.y0), float(r.x1 - r.x0), float(r.y1 - r.y0)],
            "area": float((r.x1 - r.x0) * (r.y1 - r.y0)),
            "iscrowd": 0,
        }
        for n, r in enumerate(boxes.itertuples())
    ]
    Path(path).write_text(
        json.dumps(
            {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "animal"}]}
        )
    )
    return Path(path)
