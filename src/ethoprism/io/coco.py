"""COCO JSON for video, boxes in and out.

Each image entry names its video in ``file_name`` and its frame in ``frame`` (or
``frame_index``/``frame_idx``); ``bbox`` is ``[x, y, width, height]``; ``track_id`` is optional.
Every image is a labelled frame; one without annotations holds no animal.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator

from ethoprism.errors import EthoprismError, validated
from ethoprism.io.tables import read_json
from ethoprism.labels.boxes import BoxLabels, box_labels


class _Image(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: StrictInt | StrictStr
    file_name: str = Field(min_length=1)
    frame: StrictInt | None = Field(None, ge=0)
    frame_index: StrictInt | None = Field(None, ge=0)
    frame_idx: StrictInt | None = Field(None, ge=0)

    def frame_number(self) -> int | None:
        return next((f for f in (self.frame, self.frame_index, self.frame_idx) if f is not None), None)


class _Annotation(BaseModel):
    model_config = ConfigDict(extra="allow", allow_inf_nan=False)
    image_id: StrictInt | StrictStr
    bbox: list[float] = Field(min_length=4, max_length=4)
    track_id: StrictInt = -1

    @field_validator("bbox")
    @classmethod
    def _positive_size(cls, bbox):
        if bbox[2] < 0 or bbox[3] < 0:
            raise ValueError("width and height must not be negative")
        return bbox


class _Coco(BaseModel):
    model_config = ConfigDict(extra="allow")
    images: list[_Image]
    annotations: list[_Annotation]


def read_coco(path: str | Path) -> BoxLabels:
    """Every COCO image is a labelled frame; one without annotations holds no animal. The file is
    validated against a schema first (whole frame numbers, four finite box numbers, ...)."""
    path = Path(path)
    data = read_json(path, "box file")
    if not isinstance(data, dict) or "images" not in data or "annotations" not in data:
        raise EthoprismError("not a COCO file: needs 'images' and 'annotations'", path)
    coco = validated(_Coco, data, "COCO file", path)
    images = {}
    for image in coco.images:
        frame = image.frame_number()
        if frame is None:
            raise EthoprismError(f"COCO image {image.id} has no frame number (frame)", path)
        images[image.id] = (Path(image.file_name).name, frame)
    rows = []
    for number, annotation in enumerate(coco.annotations):
        if annotation.image_id not in images:
            raise EthoprismError(
                f"annotation {number} refers to unknown image {annotation.image_id}",
                path,
            )
        video, frame = images[annotation.image_id]
        x, y, w, h = annotation.bbox
        rows.append((video, frame, annotation.track_id, x, y, x + w, y + h))
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
