"""``ethoprism localize train | predict | evaluate`` and ``ethoprism render``: animal boxes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from ethoprism.cli.common import (
    at_least,
    console,
    never_replaces_inputs,
    output_folder,
    reports_errors,
    stdout_console,
)

localize_app = typer.Typer(no_args_is_help=True, help="Animal boxes from frozen spatial tokens.")


@localize_app.command("train")
@reports_errors
def localize_train(
    store: Path = typer.Argument(..., help="Store extracted with --token-step."),
    boxes: Path = typer.Option(
        ..., "--boxes", help="COCO JSON, SLEAP .slp or DeepLabCut file (boxes from pose)."
    ),
    out: Path = typer.Option(
        ..., "--out", help="Box head to write (<out>.json + its arrays, <out>.<hash>.safetensors)."
    ),
    frames: Optional[str] = typer.Option(
        None, "--frames", help="Train on these frames only, e.g. 0-1049 or 0-299,600-1499."
    ),
    video: Optional[str] = typer.Option(
        None, "--video", help="Video name for pose files that name another path."
    ),
    epochs: int = typer.Option(40, "--epochs"),
):
    """Train the box head on stored token maps (labelled frames only)."""
    from ethoprism.workflows import localize

    at_least(1, "--epochs", epochs)
    from ethoprism.io.model_files import model_paths

    never_replaces_inputs("--out", model_paths(out), [boxes])
    path = localize.train(store, boxes, out, localize.parse_frames(frames), video, epochs=epochs)
    console.print(f"box head written: {path}")


@localize_app.command("predict")
@reports_errors
def localize_predict(
    store: Path = typer.Argument(...),
    head: Path = typer.Option(..., "--head"),
    out: Path = typer.Option(
        ..., "--out", help="Output folder: boxes.csv and predictions.json (COCO results)."
    ),
    frames: Optional[str] = typer.Option(
        None, "--frames", help="Predict on these frames only, e.g. 1050-1499."
    ),
    smooth: int = typer.Option(1, "--smooth", help="Moving average of each track's boxes (detections)."),
):
    """Predict boxes (with identities linked across frames) for every stored video."""
    from ethoprism.workflows import localize

    output_folder(out)
    at_least(1, "--smooth", smooth)
    table = localize.predict(store, head, localize.parse_frames(frames), smooth=smooth)
    localize.write_predictions(table, out, store)
    console.print(f"{len(table)} boxes on {table.frame.nunique() if len(table) else 0} frames -> {out}")


@localize_app.command("evaluate")
@reports_errors
def localize_evaluate(
    store: Path = typer.Argument(...),
    boxes: Path = typer.Option(..., "--boxes", help="Ground truth (COCO JSON or pose file)."),
    predictions: Path = typer.Option(
        ..., "--predictions", help="boxes.csv or predictions.json from localize predict."
    ),
    frames: Optional[str] = typer.Option(None, "--frames", help="Evaluate on these frames only."),
    video: Optional[str] = typer.Option(None, "--video"),
    out: Optional[Path] = typer.Option(None, "--out", help="Write metrics JSON here."),
    include_training_frames: bool = typer.Option(
        False,
        "--include-training-frames",
        help="Also score the frames the head was trained on (left out by default: that measures memory).",
    ),
):
    """mAP (IoU 0.5:0.95), AP@50 and AP@75 with pycocotools, on every labelled frame with a token
    map in --frames (default: the predicted frame range); frames without detections count as misses."""
    from ethoprism.workflows import localize

    if out is not None:
        never_replaces_inputs("--out", [out], [boxes, predictions])
    metrics = localize.evaluate(
        store,
        boxes,
        predictions,
        localize.parse_frames(frames),
        video,
        include_training_frames=include_training_frames,
    )
    if not metrics["training_frames_known"]:
        left_out = "training frames unknown (no head.json beside the predictions): none left out"
    elif include_training_frames:
        left_out = "training frames included"
    else:
        left_out = f"{metrics['excluded_training_frames']} training frames left out"
    stdout_console().print(
        f"mAP {metrics['map']:.3f}  AP@50 {metrics['ap50']:.3f}  AP@75 {metrics['ap75']:.3f}  "
        f"({metrics['n_frames']} frames; {left_out})"
    )
    if out:
        out.write_text(json.dumps(metrics, indent=2))


def render(
    video: Path = typer.Argument(..., help="The video to draw on."),
    out: Path = typer.Option(..., "--out", help="mp4 to write."),
    boxes: Optional[Path] = typer.Option(
        None, "--boxes", help="boxes.csv / predictions.json (localize predict)."
    ),
    predictions: Optional[Path] = typer.Option(
        None, "--predictions", help="Per-frame table (predict): <video>.frames.csv"
    ),
    max_frames: Optional[int] = typer.Option(None, "--max-frames"),
):
    """Write a browser-playable mp4 with boxes, identities, behaviour labels and an ethogram strip."""
    from ethoprism.outputs.render import render_files

    at_least(1, "--max-frames", max_frames)
    never_replaces_inputs("--out", [out], [boxes, predictions])
    console.print(f"written {render_files(video, out, boxes, predictions, max_frames)}")


def register(app: typer.Typer) -> None:
    app.add_typer(localize_app, name="localize")
    app.command()(reports_errors(render))
