"""``ethoprism compare``: every backbone x head on the user's own labelled videos."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ethoprism.cli import common
from ethoprism.errors import EthoprismError


def compare(
    videos: list[str] = typer.Argument(..., help="Labelled videos (paths or globs)."),
    labels: list[str] = typer.Option(..., "--labels", help=common.LABELS_HELP),
    out: Path = typer.Option(..., "--out", help="Folder for compare.csv, compare.png, recommendation.txt."),
    backbone: Optional[list[str]] = typer.Option(
        None, "--backbone", help="A backbone to compare (name or hf:<id>). Repeatable; default effnet-lite0."
    ),
    head: Optional[list[str]] = typer.Option(
        None, "--head", help="A head to compare. Repeatable; default all."
    ),
    store: Optional[Path] = typer.Option(
        None, "--store", help="Embedding store to reuse and extend (default: OUT/store)."
    ),
    label_format: str = typer.Option("auto", "--format", help="Label format (auto-detected by default)."),
    folds: Optional[int] = typer.Option(
        None, "--folds", help="Group k-fold by video instead of leave-one-video-out (many short videos)."
    ),
):
    """Which backbone and head suit these videos: the same leave-one-video-out evaluation for each,
    beside chance, with what each costs here (extraction frames/s, disk per hour, fit time)."""
    from ethoprism.backbones import DEFAULT_BACKBONE
    from ethoprism.heads.io import HEADS
    from ethoprism.workflows.compare import SUMMARY_COLUMNS
    from ethoprism.workflows.compare import compare as run

    heads = common.known_heads(head) if head else [h for h in HEADS if h != "attentive-tokens"]
    backbones = backbone or [DEFAULT_BACKBONE]
    common.output_folder(out)
    paths = common.expand_videos(videos)
    common.at_least(2, "--folds", folds)
    if len(paths) < 2:
        raise EthoprismError("compare scores by leave-one-video-out: it needs at least two labelled videos")
    common.never_replaces_inputs("--out", [out / "compare.csv"], [labels, *paths])
    common.announce_threads()
    with common.StepProgress() as progress:
        result = run(paths, labels, backbones, heads, out, store, label_format, progress, folds)
    table = result["table"]
    shown = table[SUMMARY_COLUMNS]
    common.stdout_console().print(shown.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    common.console.print(result["recommendation"], highlight=False)
    common.console.print(f"written: {out / 'compare.csv'}, {result['plot']}")


def register(app: typer.Typer) -> None:
    app.command()(common.reports_errors(compare))
