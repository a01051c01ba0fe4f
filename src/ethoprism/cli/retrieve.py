"""``ethoprism index | search | zero-shot | evaluate-retrieval``: finding behaviours."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from ethoprism.cli.common import (
    LABELS_HELP,
    STORE_DTYPE_HELP,
    STORE_WEIGHTS_HELP,
    TOKENIZER_HELP,
    at_least,
    console,
    entry_filter,
    output_folder,
    reports_errors,
    stdout_console,
)
from ethoprism.errors import EthoprismError


def index(
    store: Path = typer.Argument(..., help="Embedding store folder."),
    backbone: Optional[str] = typer.Option(None, "--backbone"),
    index_type: str = typer.Option("auto", "--index-type", help="auto, flat (exact), ivf, hnsw."),
    normalize: str = typer.Option("video", "--normalize", help="video (subtract each video's mean) or none."),
    rebuild: bool = typer.Option(False, "--rebuild", help="Rebuild from scratch."),
    weights: Optional[str] = typer.Option(None, "--weights", help=STORE_WEIGHTS_HELP),
    dtype: Optional[str] = typer.Option(None, "--dtype", help=STORE_DTYPE_HELP),
):
    """Build or extend the nearest-neighbour index of a store (new videos are appended)."""
    from ethoprism.retrieval import update_index

    if normalize not in ("video", "none"):
        raise EthoprismError(f"--normalize must be 'video' or 'none', not '{normalize}'")
    built, added = update_index(store, entry_filter(backbone, weights, dtype), index_type, normalize, rebuild)
    console.print(
        f"index {built.folder}: {built.meta['kind']}, {built.ntotal} frames of {len(built.videos)} videos "
        f"({added} added)"
    )


def search(
    store: Path = typer.Argument(..., help="Embedding store folder (indexed)."),
    example: list[str] = typer.Option(
        [], "--example", help="VIDEO:START-END in frames, or VIDEO:4.5-6s. Repeatable."
    ),
    clip: Optional[Path] = typer.Option(None, "--clip", help="A short clip file as the query."),
    text: Optional[str] = typer.Option(None, "--text", help="Text query (videoprism-lvt stores)."),
    k: int = typer.Option(10, "--k", help="Segments to return."),
    out: Optional[Path] = typer.Option(
        None, "--out", help="Folder for results.csv/.json and the contact sheet."
    ),
    clips: bool = typer.Option(False, "--clips", help="Also write an mp4 of each hit."),
    weights: Optional[str] = typer.Option(
        None, "--weights", help="Backbone weights for --clip / --text / lighting."
    ),
    tokenizer: Optional[str] = typer.Option(None, "--tokenizer", help=TOKENIZER_HELP),
    backbone: Optional[str] = typer.Option(None, "--backbone"),
    exclude: int = typer.Option(
        30, "--exclude", help="Frames around the example to leave out of the results."
    ),
    augment_lighting: bool = typer.Option(
        False,
        "--augment-lighting",
        help="Re-embed the examples under lighting changes and fuse them "
        "(robust to lighting; needs the video files and the backbone).",
    ),
):
    """Find the segments most like an example (or a text) in every indexed video."""
    from ethoprism.workflows import retrieve

    at_least(1, "--k", k)
    at_least(0, "--exclude", exclude)
    if out:
        output_folder(out)
    results = retrieve.search(
        store, example, clip, text, k, backbone, weights, tokenizer, exclude, augment_lighting
    )
    stdout_console().print(results.drop(columns=["video_path"]).to_string(index=False))
    if out:
        console.print(f"results in {retrieve.write_search_results(results, out, clips)}")


def zero_shot(
    store: Path = typer.Argument(..., help="Store extracted with a videoprism-lvt backbone."),
    behaviors: list[str] = typer.Option(..., "--behavior", help="Behaviour name (repeatable)."),
    out: Path = typer.Option(..., "--out", help="Folder for per-frame tables and bouts."),
    prompt: str = typer.Option(
        "a video of a mouse {}.", "--prompt", help="Prompt template; {} is the behaviour."
    ),
    weights: Optional[str] = typer.Option(None, "--weights"),
    tokenizer: Optional[str] = typer.Option(None, "--tokenizer", help=TOKENIZER_HELP),
    backbone: Optional[str] = typer.Option(None, "--backbone"),
):
    """Zero-shot behaviour classification from behaviour names (VideoPrism video-text models)."""
    from ethoprism.workflows import retrieve

    output_folder(out)
    retrieve.zero_shot_predictions(store, behaviors, out, prompt, backbone, weights, tokenizer)
    console.print(f"zero-shot predictions in {out}")


def evaluate_retrieval(
    store: Path = typer.Argument(..., help="Embedding store folder."),
    labels: list[str] = typer.Option(..., "--labels", help=LABELS_HELP),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    normalize: Optional[str] = typer.Option(
        None,
        "--normalize",
        help="Expect an index built with video or none (default: the index as "
        "built; one is built with 'video' if there is none).",
    ),
    max_queries: int = typer.Option(20, "--max-queries", help="Queries per behaviour."),
    label_format: str = typer.Option("auto", "--format"),
    backbone: Optional[str] = typer.Option(None, "--backbone"),
    weights: Optional[str] = typer.Option(None, "--weights", help=STORE_WEIGHTS_HELP),
    dtype: Optional[str] = typer.Option(None, "--dtype", help=STORE_DTYPE_HELP),
):
    """Mean Hit@1/5/10 of retrieval by example, each labelled bout a query, against random."""
    from ethoprism.workflows import retrieve

    output_folder(out)
    at_least(1, "--max-queries", max_queries)
    summary = retrieve.evaluate_retrieval(
        store, labels, out, label_format, entry_filter(backbone, weights, dtype), normalize, max_queries
    )
    table = Table(
        title=f"retrieval by example ({summary['n_queries']} queries, normalize={summary['normalize']})"
    )
    for column in ("K", "mean Hit@K", "random"):
        table.add_column(column)
    for k in (1, 5, 10):
        table.add_row(str(k), f"{summary[f'hit@{k}']:.3f}", f"{summary[f'random_hit@{k}']:.3f}")
    stdout_console().print(table)


def register(app: typer.Typer) -> None:
    app.command("index")(reports_errors(index))
    app.command()(reports_errors(search))
    app.command("zero-shot")(reports_errors(zero_shot))
    app.command("evaluate-retrieval")(reports_errors(evaluate_retrieval))
