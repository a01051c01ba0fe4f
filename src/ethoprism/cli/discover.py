"""``ethoprism discover | evaluate-motifs``: label-free motifs from stored embeddings."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from ethoprism.cli.common import (
    LABELS_HELP,
    SUBJECT_HELP,
    StepProgress,
    announce_threads,
    console,
    never_replaces_inputs,
    output_folder,
    reports_errors,
    stdout_console,
)
from ethoprism.errors import EthoprismError


def _n_motifs(value: str):
    if value.strip().lower() == "auto":
        return "auto"
    try:
        number = int(value)
    except ValueError:
        raise EthoprismError(f"--motifs must be a whole number or auto, not '{value}'") from None
    if number < 2:
        raise EthoprismError(f"--motifs must be at least 2 (or auto), not {number}")
    return number


def _names(values: list[str]) -> dict[int, str]:
    names = {}
    for value in values:
        motif, sep, name = value.partition("=")
        if not sep or not motif.strip().isdigit() or not name.strip():
            raise EthoprismError(f"--name takes MOTIF=BEHAVIOUR (e.g. 3=grooming), not '{value}'")
        names[int(motif)] = name.strip()
    return names


def discover(
    store: Path = typer.Argument(..., help="Embedding store folder."),
    out: Path = typer.Option(
        ...,
        "--out",
        help="Folder for the motifs, tables, movies and report.html (with --name: the labels CSV).",
    ),
    motifs: str = typer.Option(
        "auto", "--motifs", help="Number of motifs, or auto (chosen by stability across seeds)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the fit (k-means initialisation of the HMM)."),
    videos: Optional[list[str]] = typer.Option(
        None, "--videos", help="Only these stored videos (name or stem). Repeatable."
    ),
    groups: Optional[Path] = typer.Option(
        None, "--groups", help="CSV of video,group (or condition): usage compared between groups per motif."
    ),
    model: Optional[Path] = typer.Option(
        None, "--model", help="A saved motif model (model.json): assign its motifs without refitting."
    ),
    coarsen: Optional[int] = typer.Option(
        None, "--coarsen", help="Cut the model's merge tree into this many motifs (no refit)."
    ),
    name: Optional[list[str]] = typer.Option(
        None,
        "--name",
        help="MOTIF=BEHAVIOUR (with --model): write the named motifs' bouts as a labels CSV to --out.",
    ),
    backbone: Optional[str] = typer.Option(None, "--backbone", help="Backbone in the store (if several)."),
    whole_frame: bool = typer.Option(
        False, "--whole-frame", help="In a store with tracks: one motif sequence per video, not per animal."
    ),
    movies: bool = typer.Option(
        True, "--movies/--no-movies", help="Write a grid movie of each motif's exemplars."
    ),
):
    """Find the behaviours there are, without labels: motifs, their usage per video and group,
    transitions, ethograms, exemplar movies and a report; a saved model for new videos."""
    from ethoprism.io.model_files import model_paths
    from ethoprism.workflows import discover as workflow

    n_motifs = _n_motifs(motifs)
    inputs = [groups, *(model_paths(model) if model else [])]
    if coarsen is not None and coarsen < 1:
        raise EthoprismError(f"--coarsen must be at least 1, not {coarsen}")
    if name:
        if model is None:
            raise EthoprismError("--name names the motifs of a saved model: pass --model motifs/model.json")
        names = _names(name)
        if out.is_dir():
            raise EthoprismError("--out is a folder; with --name give the labels .csv to write", out)
        never_replaces_inputs("--out", [out], inputs)
        table = workflow.motif_labels(store, model, names, out, backbone, videos, ready=announce_threads)
        console.print(
            f"labels written: {out} ({len(table)} bouts of {', '.join(sorted(set(names.values())))})"
        )
        return
    output_folder(out)
    if out.exists() and Path(store).exists() and out.resolve() == Path(store).resolve():
        raise EthoprismError("--out would write into the store folder itself; choose another folder", out)
    never_replaces_inputs("--out", [out / "model.json", out / "usage.csv"], inputs)
    with StepProgress() as progress:
        summary = workflow.discover(
            store,
            out,
            n_motifs,
            seed,
            videos,
            groups,
            model,
            backbone,
            coarsen,
            False if whole_frame else None,
            movies,
            progress,
            say=lambda line: console.print(line, highlight=False),
            ready=announce_threads,
        )
    console.print(
        f"{summary['motifs']} motifs in {summary['sequences']} sequence(s), {summary['frames']} frames, "
        f"{summary['bouts']} bouts (the model expects {summary['mean_bout_s']:.2f} s on average); "
        f"model: {summary['model']}; report: {summary['report']}",
        highlight=False,
    )


def evaluate_motifs(
    store: Path = typer.Argument(..., help="Embedding store folder."),
    motifs: Path = typer.Option(..., "--motifs", help="A folder written by `ethoprism discover`."),
    labels: list[str] = typer.Option(..., "--labels", help=LABELS_HELP),
    label_format: str = typer.Option("auto", "--format", help="Label format (auto-detected by default)."),
    backbone: Optional[str] = typer.Option(None, "--backbone", help="Backbone in the store (if several)."),
    subject: Optional[str] = typer.Option(None, "--subject", help=SUBJECT_HELP),
    seed_check: bool = typer.Option(
        True,
        "--seed-check/--no-seed-check",
        help="Also fit with the next seed and report the AMI between the two.",
    ),
):
    """Score motifs against labels (NMI, AMI, homogeneity, completeness, V-measure, purity,
    Hungarian accuracy) beside shuffled motifs and frame-wise k-means on the same frames."""
    from ethoprism.discovery.scoring import METRICS
    from ethoprism.workflows import discover as workflow

    if not motifs.is_dir():
        raise EthoprismError("--motifs must be a folder written by `ethoprism discover`", motifs)
    announce_threads()
    result = workflow.evaluate_motifs(
        store, motifs, labels, label_format, backbone, subject, seed_check=seed_check
    )
    table = Table(
        title=f"motifs vs labels on {result['frames']} frames ({len(result['behaviours'])} classes)"
    )
    table.add_column("method")
    for metric in METRICS:
        table.add_column(metric)
    for row in result["scores"]:
        table.add_row(row["method"], *(f"{row[m]:.3f}" for m in METRICS))
    stdout_console().print(table)
    if "seed_ami" in result:
        stdout_console().print(f"AMI between the motifs of seed and seed+1: {result['seed_ami']:.3f}")
    console.print(f"written: {motifs / 'evaluation.csv'}")


def register(app: typer.Typer) -> None:
    app.command()(reports_errors(discover))
    app.command("evaluate-motifs")(reports_errors(evaluate_motifs))
