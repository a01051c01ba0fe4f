"""AP@IoU with pycocotools: mAP (IoU 0.5:0.95), AP@50, AP@75."""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from pathlib import Path

import pandas as pd
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from ethoprism.io.coco import write_coco


def coco_ap(
    truth: pd.DataFrame,
    predictions: pd.DataFrame,
    sizes: dict[str, tuple[int, int]],
    frames: set[tuple[str, int]] | None = None,
) -> dict:
    """Scores ``predictions`` (with ``score``) against ``truth`` on the evaluated ``frames``
    ((video, frame) pairs; default: the frames ``truth`` has boxes on). A frame without
    detections still counts its animals as missed; detections outside ``frames`` are ignored."""
    if frames is None:
        frames = set(zip(truth.video, (int(f) for f in truth.frame)))
    truth = truth[[k in frames for k in zip(truth.video, (int(f) for f in truth.frame))]]
    predictions = predictions[
        [k in frames for k in zip(predictions.video, (int(f) for f in predictions.frame))]
    ]
    with tempfile.TemporaryDirectory() as folder:
        gt_path = write_coco(truth, Path(folder) / "gt.json", sizes, frames=frames)
        images = {
            (img["file_name"], img["frame"]): img["id"] for img in json.loads(gt_path.read_text())["images"]
        }
        results = [
            {
                "image_id": images[(r.video, int(r.frame))],
                "category_id": 1,
                "score": float(r.score),
                "bbox": [float(r.x0), float(r.y0), float(r.x1 - r.x0), float(r.y1 - r.y0)],
            }
            for r in predictions.itertuples()
        ]
        with contextlib.redirect_stdout(io.StringIO()):
            gt = COCO(str(gt_path))
            if not results:
                return {"map": 0.0, "ap50": 0.0, "ap75": 0.0, "n_frames": len(images), "n_predictions": 0}
            evaluation = COCOeval(gt, gt.loadRes(results), "bbox")
            evaluation.evaluate()
            evaluation.accumulate()
            evaluation.summarize()
    stats = evaluation.stats
    return {
        "map": float(stats[0]),
        "ap50": float(stats[1]),
        "ap75": float(stats[2]),
        "n_frames": len(images),
        "n_predictions": len(results),
    }
