"""``ethoprism train | predict | evaluate | fewshot | demo``: behaviour classification."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from ethoprism.backbones import DEFAULT_BACKBONE
from ethoprism.cli.common import (
    HEAD_KINDS,
    LABELS_HELP,
    STORE_ANIMAL_MODE_HELP,
    STORE_DTYPE_HELP,
    STORE_TOKEN_DIM_HELP,
    STORE_WEIGHTS_HELP,
    SUBJECT_HELP,
    StepProgress,
    announce_threads,
    at_least,
    console,
    entry_filter,
    expand_videos,
    known_heads,
    never_replaces_inputs,
    output_folder,
    reports_errors,
    stdout_console,
)
from ethoprism.errors import EthoprismError

# what --head auto chooses among (the token-grid head needs extract --token-grid: name it)
AUTO_HEADS = ["linear", "mlp", "attentive", "temporal"]
AUTO_HELP = (
    "auto (the default): every head (linear, mlp, attentive, temporal) on every backbone in the "
    "store unless --backbone names one, each cross-validated by video; the choice itself is scored "
    "too (each held-out video gets the recipe that was best on the others)"
)


def reads_token_grids(kinds: list[str]) -> bool:
    from ethoprism.heads.io import TOKEN_HEADS

    return any(kind in TOKEN_HEADS for kind in kinds)


def _recipe_datasets(store, labels, label_format, which, exclusive, heads, subject=None) -> dict:
    """{backbone: dataset} for every backbone of the store where ``which`` names none (a recipe is
    a backbone and a head), else {None: the one dataset}."""
    from ethoprism.store import EmbeddingStore

    if which is None:
        try:
            entries = EmbeddingStore(store).entries()
        except EthoprismError:
            entries = []
        covered = {}
        for entry in entries:
            covered.setdefault(entry.backbone, set()).add(entry.video_name)
        backbones = sorted(covered)
        if len({frozenset(videos) for videos in covered.values()}) > 1:
            counts = ", ".join(f"{name}: {len(covered[name])} videos" for name in backbones)
            raise EthoprismError(
                f"the store's backbones cover different videos, so their recipes cannot be compared "
                f"video by video ({counts}): pass --backbone",
                store,
            )
        if len(backbones) > 1:
            return {
                name: _labelled(store, labels, label_format, name, exclusive, heads, subject)
                for name in backbones
            }
    return {None: _labelled(store, labels, label_format, which, exclusive, heads, subject)}


def _labelled(store, labels, label_format, which, exclusive, heads, subject=None):
    """The store's embeddings (``which``: :func:`~ethoprism.cli.common.entry_filter`) joined with
    the labels, in the features ``heads`` read."""
    from ethoprism.workflows import classify

    return classify.load_labelled(
        store,
        labels,
        label_format,
        which,
        _exclusive_flag(exclusive),
        grid=reads_token_grids(heads),
        subject=subject,
    )


def _postprocess(smooth: int, min_bout: int) -> dict:
    return {"smooth": at_least(1, "--smooth", smooth), "min_bout": at_least(1, "--min-bout", min_bout)}


def _exclusive_flag(value: str) -> bool | None:
    if value not in ("auto", "yes", "no"):
        raise EthoprismError(f"--exclusive must be auto, yes or no, not '{value}'")
    return None if value == "auto" else value == "yes"


def print_summary(report: dict) -> None:
    how = "on the label file's test videos" if report.get("split") == "file" else "cross-validated by video"
    table = Table(title=f"{how} (chance: the AP of uninformed scores = prevalence)")
    for column in ("head", "mAP", "mAP per held-out fold", "chance mAP", "macro accuracy", "macro F1"):
        table.add_column(column)
    for kind, result in report["heads"].items():
        m = result["metrics"]
        table.add_row(
            kind,
            f"{m['map']:.3f}",
            f"{result.get('fold_map', float('nan')):.3f}",
            f"{m['chance_map']:.3f}",
            f"{m['macro_accuracy']:.3f}",
            f"{m['macro_f1']:.3f}",
        )
    out = stdout_console()
    out.print(table)
    recommended = report.get("recommended")
    if recommended and "auto" not in report["heads"]:
        out.print(
            f"best on the label file's test videos (the choice itself is not scored): "
            f"--backbone {recommended['backbone']} --head {recommended['head']}",
            highlight=False,
        )
    elif recommended:
        auto = report["heads"]["auto"]
        chosen = ", ".join(f"{name} x{n}" for name, n in auto["chosen"].items())
        out.print(
            f"auto: the recipe chosen on the other videos scores mAP {auto['metrics']['map']:.3f} "
            f"on the held-out ones (chosen: {chosen}). Train the winner: ethoprism train STORE --labels ... "
            f"--backbone {recommended['backbone']} --head {recommended['head']}",
            highlight=False,
        )


def train(
    store: Path = typer.Argument(..., help="Embedding store folder."),
    labels: list[str] = typer.Option(..., "--labels", help=LABELS_HELP),
    out: Path = typer.Option(
        ..., "--out", help="Head file to write (<out>.json + its arrays, <out>.<hash>.safetensors)."
    ),
    head: str = typer.Option(
        "linear",
        "--head",
        help=f"Head: {HEAD_KINDS}; or auto (the backbone and head that win leave-one-video-out here).",
    ),
    label_format: str = typer.Option("auto", "--format", help="Label format (auto-detected by default)."),
    exclusive: str = typer.Option(
        "auto",
        "--exclusive",
        help="Classes exclusive? auto (yes unless a labelled frame has two behaviours), yes, no.",
    ),
    backbone: Optional[str] = typer.Option(None, "--backbone", help="Backbone in the store (if several)."),
    weights: Optional[str] = typer.Option(None, "--weights", help=STORE_WEIGHTS_HELP),
    dtype: Optional[str] = typer.Option(None, "--dtype", help=STORE_DTYPE_HELP),
    token_dim: Optional[int] = typer.Option(None, "--token-dim", help=STORE_TOKEN_DIM_HELP),
    animal_mode: Optional[str] = typer.Option(None, "--animal-mode", help=STORE_ANIMAL_MODE_HELP),
    subject: Optional[str] = typer.Option(None, "--subject", help=SUBJECT_HELP),
    smooth: int = typer.Option(1, "--smooth", help="Moving-average window (frames) on probabilities."),
    min_bout: int = typer.Option(1, "--min-bout", help="Drop predicted bouts shorter than this (frames)."),
):
    """Train a head on stored embeddings and labels; thresholds are tuned on held-out training data."""
    from ethoprism.workflows import classify

    if head != "auto":
        known_heads([head])
    from ethoprism.io.model_files import model_paths

    never_replaces_inputs("--out", model_paths(out), [labels])
    postprocess = _postprocess(smooth, min_bout)
    which = entry_filter(backbone, weights, dtype, token_dim, animal_mode)
    if head == "auto":  # the backbone and head that win leave-one-video-out on these labels
        from ethoprism.workflows.compare import best_recipe

        datasets = _recipe_datasets(store, labels, label_format, which, exclusive, [head], subject)
        announce_threads()
        (chosen_backbone, head), rows = best_recipe(datasets, AUTO_HEADS, postprocess)
        for row in rows:
            console.print(
                f"{row['backbone']} + {row['head']}: mAP {row['map']:.3f}, per held-out video "
                f"{row['fold_map']:.3f} ± {row['map_std']:.3f} (chance {row['chance_map']:.3f})",
                highlight=False,
            )
        data = datasets[chosen_backbone]
        console.print(f"--head auto: {data.provenance.backbone} + {head}", highlight=False)
    else:
        data = _labelled(store, labels, label_format, which, exclusive, [head], subject)
        announce_threads()
    path = classify.train(data, head, out, postprocess)
    console.print(
        f"head written: {path} ({len(data.behaviors)} behaviours, {int(data.labelled.sum())} labelled frames)"
    )


def predict(
    store: Path = typer.Argument(..., help="Embedding store folder."),
    head: Path = typer.Option(..., "--head", help="Trained head (.json)."),
    out: Path = typer.Option(..., "--out", help="Output folder."),
):
    """Per-frame predictions, bouts, BORIS events file and an ethogram for every stored video."""
    from ethoprism.workflows import classify

    output_folder(out)
    for item in classify.predict(store, head, out):
        console.print(f"{item['video']}: {item['frames_csv']}, {item['bouts_csv']}, {item['boris']}")


def evaluate(
    store: Path = typer.Argument(..., help="Embedding store folder."),
    labels: list[str] = typer.Option(..., "--labels", help=LABELS_HELP),
    out: Path = typer.Option(..., "--out", help="Report folder."),
    heads: list[str] = typer.Option(
        ["auto"], "--head", help=f"Head(s) to evaluate: {HEAD_KINDS}; {AUTO_HELP}."
    ),
    folds: Optional[int] = typer.Option(
        None, "--folds", help="Group k-fold by video (default: leave one video out)."
    ),
    split: str = typer.Option(
        "auto",
        "--split",
        help="auto (the label file's own train/test split, as FERAL files "
        "have, else by video), file, or videos.",
    ),
    label_format: str = typer.Option("auto", "--format"),
    exclusive: str = typer.Option("auto", "--exclusive"),
    backbone: Optional[str] = typer.Option(None, "--backbone"),
    weights: Optional[str] = typer.Option(None, "--weights", help=STORE_WEIGHTS_HELP),
    dtype: Optional[str] = typer.Option(None, "--dtype", help=STORE_DTYPE_HELP),
    token_dim: Optional[int] = typer.Option(None, "--token-dim", help=STORE_TOKEN_DIM_HELP),
    animal_mode: Optional[str] = typer.Option(None, "--animal-mode", help=STORE_ANIMAL_MODE_HELP),
    subject: Optional[str] = typer.Option(None, "--subject", help=SUBJECT_HELP),
    smooth: int = typer.Option(1, "--smooth"),
    min_bout: int = typer.Option(1, "--min-bout"),
):
    """Cross-validated (by video) mAP, macro accuracy, F1 and confusion matrix; report.html + metrics.json."""
    from ethoprism.workflows import classify

    output_folder(out)
    choose = "auto" in heads  # every recipe side by side, and the choice among them scored
    if choose:
        heads = list(dict.fromkeys(h for head in heads for h in (AUTO_HEADS if head == "auto" else [head])))
    known_heads(heads)
    at_least(2, "--folds", folds)
    postprocess = _postprocess(smooth, min_bout)
    which = entry_filter(backbone, weights, dtype, token_dim, animal_mode)
    if choose:
        data = _recipe_datasets(store, labels, label_format, which, exclusive, heads, subject)
    else:
        data = _labelled(store, labels, label_format, which, exclusive, heads, subject)
    announce_threads()
    with StepProgress() as progress:
        report = classify.evaluate(
            data, heads, out, folds, postprocess, progress=progress, split=split, choose=choose
        )
    print_summary(report)


def fewshot(
    store: Path = typer.Argument(..., help="Embedding store folder."),
    labels: list[str] = typer.Option(..., "--labels", help=LABELS_HELP),
    out: Path = typer.Option(..., "--out", help="Report folder."),
    heads: list[str] = typer.Option(["linear"], "--head"),
    shots: list[int] = typer.Option([10, 50, 100], "--shots", help="Labelled frames per class."),
    seeds: int = typer.Option(5, "--seeds"),
    test_videos: list[str] = typer.Option(
        [], "--test-video", help="Held-out test video(s) (default: last third)."
    ),
    label_format: str = typer.Option("auto", "--format"),
    exclusive: str = typer.Option("auto", "--exclusive"),
    backbone: Optional[str] = typer.Option(None, "--backbone"),
    weights: Optional[str] = typer.Option(None, "--weights", help=STORE_WEIGHTS_HELP),
    dtype: Optional[str] = typer.Option(None, "--dtype", help=STORE_DTYPE_HELP),
    token_dim: Optional[int] = typer.Option(None, "--token-dim", help=STORE_TOKEN_DIM_HELP),
    animal_mode: Optional[str] = typer.Option(None, "--animal-mode", help=STORE_ANIMAL_MODE_HELP),
    subject: Optional[str] = typer.Option(None, "--subject", help=SUBJECT_HELP),
):
    """The paper's few-shot protocol: k labelled frames per class, n seeds, mean ± std."""
    from ethoprism.workflows import classify

    output_folder(out)
    known_heads(heads)
    for k in shots:
        at_least(1, "--shots", k)
    at_least(1, "--seeds", seeds)
    which = entry_filter(backbone, weights, dtype, token_dim, animal_mode)
    data = _labelled(store, labels, label_format, which, exclusive, heads, subject)
    announce_threads()
    with StepProgress() as progress:
        table = classify.fewshot(data, heads, out, tuple(shots), seeds, test_videos, progress=progress)
    stdout_console().print(table.to_string(index=False))


def demo(
    out: Path = typer.Option(Path("demo_out"), "--out", help="Output folder."),
    videos: list[str] = typer.Option(
        [], "--videos", help="Your videos (files or globs) instead of the synthetic set."
    ),
    labels: Optional[Path] = typer.Option(None, "--labels", help="Labels for --videos."),
    backbone: str = typer.Option(DEFAULT_BACKBONE, "--backbone"),
    weights: Optional[str] = typer.Option(None, "--weights"),
    heads: list[str] = typer.Option(["linear", "mlp", "attentive", "temporal"], "--head"),
    n_videos: int = typer.Option(6, "--n-videos", help="Synthetic videos to generate."),
    n_frames: int = typer.Option(450, "--n-frames", help="Frames per synthetic video."),
    size: Optional[int] = typer.Option(
        None, "--size", help="Model input size (default: 128 synthetic, else the backbone's)."
    ),
    seeds: int = typer.Option(3, "--seeds", help="Few-shot seeds."),
    seed: int = typer.Option(0, "--seed", help="Synthetic dataset seed."),
):
    """End to end, offline, on CPU: data -> embeddings -> heads -> few-shot -> report.html."""
    from ethoprism.workflows.demo import run_demo

    output_folder(out)
    known_heads(heads)
    at_least(2, "--n-videos", n_videos)
    at_least(32, "--n-frames", n_frames)
    at_least(1, "--seeds", seeds)
    at_least(16, "--size", size)
    if labels is not None and not videos:
        raise EthoprismError("--labels needs --videos (the synthetic set brings its own labels)", labels)
    announce_threads()
    with StepProgress() as progress:
        report = run_demo(
            out,
            expand_videos(videos) if videos else None,
            labels,
            backbone,
            weights,
            tuple(heads),
            n_videos,
            n_frames,
            size,
            seeds,
            seed,
            progress=progress,
        )
    print_summary(report)
    console.print(f"report: {out / 'report' / 'report.html'}")


def suggest(
    store: Path = typer.Argument(..., help="Embedding store folder."),
    head: Path = typer.Option(..., "--head", help="Trained head (.json) whose uncertainty ranks segments."),
    labels: list[str] = typer.Option(..., "--labels", help=LABELS_HELP + " Labelled segments are skipped."),
    out: Path = typer.Option(..., "--out", help="CSV to write (video, start_frame, end_frame, ...)."),
    n: int = typer.Option(20, "--n", help="Segments to suggest."),
    segment_seconds: float = typer.Option(1.0, "--segment-seconds", help="Segment length."),
    strategy: str = typer.Option(
        "diverse", "--strategy", help="diverse (uncertain and spread out), uncertainty, or random."
    ),
    label_format: str = typer.Option("auto", "--format"),
    backbone: Optional[str] = typer.Option(None, "--backbone"),
    subject: Optional[str] = typer.Option(None, "--subject", help=SUBJECT_HELP),
):
    """Active learning: the unlabelled segments to label next, the head's most uncertain ones,
    spread out in embedding space."""
    from ethoprism.workflows import classify

    at_least(1, "--n", n)
    if not (segment_seconds > 0 and math.isfinite(segment_seconds)):
        raise EthoprismError(f"--segment-seconds must be a positive number of seconds, not {segment_seconds}")
    if out.is_dir():
        raise EthoprismError("--out is a folder; give the .csv file to write", out)
    from ethoprism.io.model_files import model_paths

    never_replaces_inputs("--out", [out], [*model_paths(head), labels])
    table = classify.suggest(
        store, head, labels, n, segment_seconds, strategy, label_format, backbone, subject
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    stdout_console().print(table.to_string(index=False))
    console.print(f"suggestions: {out}")


def export_nwb(
    store: Path = typer.Argument(..., help="Embedding store folder."),
    head: Path = typer.Option(..., "--head", help="Trained head (.json)."),
    out: Path = typer.Option(..., "--out", help="Folder for one <video>.nwb per stored video."),
    labels: Optional[list[str]] = typer.Option(
        None, "--labels", help=LABELS_HELP + " Added as labelled bouts."
    ),
    label_format: str = typer.Option("auto", "--format"),
    backbone: Optional[str] = typer.Option(None, "--backbone"),
    subject: Optional[str] = typer.Option(None, "--subject", help=SUBJECT_HELP),
):
    """NWB files (pynwb): the video linked, per-frame probabilities, predicted and labelled bouts."""
    from ethoprism.workflows import classify

    output_folder(out)
    for path in classify.export_nwb(store, head, out, labels or None, label_format, backbone, subject):
        console.print(f"written {path}")


def register(app: typer.Typer) -> None:
    for command in (train, predict, evaluate, fewshot, demo, suggest):
        app.command()(reports_errors(command))
    app.command("export-nwb")(reports_errors(export_nwb))
