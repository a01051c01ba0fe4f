"""The ``ethoprism`` command line (typer + rich).

Every user-facing failure is an :class:`EthoprismError`; it is printed as one line
``error: <file>: <problem>`` and the command exits with code 2. Work finished before the error
(other videos, stored entries) is kept.
"""

from __future__ import annotations

import functools
import glob
import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from ethoprism.errors import EthoprismError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Animal behaviour analysis from raw video with frozen video foundation models.")
console = Console(stderr=True)
EXIT_BAD_INPUT = 2


def fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def reports_errors(command):
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except EthoprismError as exc:
            fail(str(exc))
    return wrapper


def expand_videos(patterns: list[str]) -> list[Path]:
    videos: list[Path] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern, recursive=True)) if glob.has_magic(pattern) else [pattern]
        if not matches:
            raise EthoprismError("glob matched no files", pattern)
        videos.extend(Path(m) for m in matches)
    return videos


def frames_progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]:>7.1f} frames/s"), TimeRemainingColumn(),
                    console=console, transient=False)


@app.command()
@reports_errors
def extract(
    videos: list[str] = typer.Argument(..., help="Video files or glob patterns."),
    store: Path = typer.Option(..., "--store", help="Embedding store folder."),
    backbone: str = typer.Option("effnet-lite0", "--backbone", help="Backbone name (see `ethoprism backbones`)."),
    weights: Optional[str] = typer.Option(None, "--weights", help="Local folder/file, hub id, official .npz."),
    revision: Optional[str] = typer.Option(None, "--revision", help="Hub revision (branch, tag or commit)."),
    protocol: str = typer.Option("tiled", "--protocol", help="tiled (default) or centered."),
    frames: Optional[int] = typer.Option(None, "--frames", help="Frames per clip (default: the backbone's)."),
    frame_step: int = typer.Option(1, "--frame-step", help="Source frames between clip frames."),
    size: Optional[int] = typer.Option(None, "--size", help="Square input side in px (default: the backbone's)."),
    square: str = typer.Option("crop", "--square", help="crop (centre square) or pad (black bars)."),
    overlap: Optional[int] = typer.Option(None, "--overlap", help="Clip positions shared by tiled clips."),
    token_step: Optional[int] = typer.Option(None, "--token-step", help="Also store spatial token maps every N frames."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:1, ..."),
    dtype: str = typer.Option("fp32", "--dtype", help="fp32 or bf16."),
    batch_size: int = typer.Option(4, "--batch-size", help="Clips per forward pass."),
    compile_model: bool = typer.Option(False, "--compile", help="torch.compile the backbone (faster on long videos)."),
):
    """Embed every frame of each video with a frozen backbone and keep the result in STORE."""
    from ethoprism.backbones import load_backbone
    from ethoprism.clips import ClipSpec
    from ethoprism.extract import extract_video
    from ethoprism.store import EmbeddingStore

    paths = expand_videos(videos)
    model = load_backbone(backbone, weights, revision=revision, device=device, dtype=dtype, compile=compile_model)
    default = model.default_clip_spec(protocol if protocol in ("tiled", "centered") else "tiled")
    try:
        spec = ClipSpec(frames=frames or default.frames, frame_step=frame_step, size=size or default.size,
                        square=square, protocol=protocol,
                        overlap=default.overlap if overlap is None else overlap)
    except ValueError as exc:
        raise EthoprismError(f"invalid clip options: {exc}") from exc
    target = EmbeddingStore(store)
    target.remove_debris()
    failures = []
    with frames_progress() as bar:
        for path in paths:
            task = bar.add_task(path.name, total=None, rate=0.0)

            def update(done, total, task=task):
                elapsed = bar.tasks[task].elapsed or 0
                bar.update(task, completed=done, total=total, rate=done / elapsed if elapsed else 0.0)

            try:
                entry, hit = extract_video(path, model, target, spec, batch_size=batch_size,
                                           token_step=token_step, progress=update)
            except EthoprismError as exc:
                bar.update(task, description=f"[red]{path.name} failed")
                failures.append(str(exc))
                continue
            bar.update(task, description=f"{path.name} ({'cached' if hit else 'stored'})")
    for failure in failures:
        console.print(f"[bold red]error:[/] {failure}", highlight=False, soft_wrap=True)
    if failures:
        raise typer.Exit(EXIT_BAD_INPUT)


@app.command()
@reports_errors
def info(store: Path = typer.Argument(..., help="Embedding store folder."),
         as_json: bool = typer.Option(False, "--json", help="Print full provenance as JSON.")):
    """List what a store holds, with provenance."""
    from ethoprism.store import EmbeddingStore

    if not store.is_dir():
        raise EthoprismError("store folder does not exist", store)
    entries = EmbeddingStore(store).entries()
    if as_json:
        print(json.dumps([{"file": str(e.path), **e.provenance.to_dict()} for e in entries], indent=2))
        return
    out = Console()
    out.print(f"[bold]{store}[/]: {len(entries)} entries")
    for e in entries:
        p = e.provenance
        spec, video = p.clip_spec, p.video
        table = Table(show_header=False, box=None, padding=(0, 1))
        table.add_column(style="bold cyan")
        table.add_column(overflow="fold")
        table.add_row("video", video.path)
        table.add_row("frames", f"{e.n_frames} at {e.fps:.4g} fps ({video.width}x{video.height}"
                      f"{', variable frame rate' if video.variable_frame_rate else ''})")
        table.add_row("video sha256", e.video_sha256)
        table.add_row("backbone", f"{e.backbone} ({p.dtype})")
        table.add_row("weights", f"{p.weights.source}: {p.weights.model_id} revision={p.weights.revision or '-'} "
                      f"sha256={p.weights.sha256 or '-'}")
        table.add_row("clip spec", f"{spec.protocol}, {spec.frames} frames x step {spec.frame_step}, "
                      f"{spec.size} px {spec.square}, overlap {spec.overlap}")
        table.add_row("token maps", f"every {p.token_step} frames" if p.token_step else "no")
        table.add_row("stored by", f"ethoprism {p.ethoprism_version} in {e.path}")
        out.print(table)
        out.print()


HEAD_KINDS = "linear, mlp, attentive, temporal"
TOKENIZER_HELP = "SentencePiece .model file of a video-text backbone (needed with the official .npz weights)."
LABELS_HELP = ("Label file(s), glob or folder (BORIS, DeepEthogram, FERAL, SimBA, bouts CSV; DeepEthogram and "
               "SimBA project folders as they lie). Repeatable.")


def _postprocess(smooth: int, min_bout: int) -> dict:
    return {"smooth": smooth, "min_bout": min_bout}


def _exclusive_flag(value: str) -> bool | None:
    if value not in ("auto", "yes", "no"):
        raise EthoprismError(f"--exclusive must be auto, yes or no, not '{value}'")
    return None if value == "auto" else value == "yes"


@app.command()
@reports_errors
def train(
    store: Path = typer.Argument(..., help="Embedding store folder."),
    labels: list[str] = typer.Option(..., "--labels", help=LABELS_HELP),
    out: Path = typer.Option(..., "--out", help="Head file to write (<out>.json + <out>.safetensors)."),
    head: str = typer.Option("linear", "--head", help=f"Head: {HEAD_KINDS}."),
    label_format: str = typer.Option("auto", "--format", help="Label format (auto-detected by default)."),
    exclusive: str = typer.Option("auto", "--exclusive",
                                  help="Classes exclusive? auto (yes unless a labelled frame has two behaviours), yes, no."),
    backbone: Optional[str] = typer.Option(None, "--backbone", help="Backbone in the store (if several)."),
    smooth: int = typer.Option(1, "--smooth", help="Moving-average window (frames) on probabilities."),
    min_bout: int = typer.Option(1, "--min-bout", help="Drop predicted bouts shorter than this (frames)."),
):
    """Train a head on stored embeddings and labels; thresholds are tuned on a held-out video."""
    from ethoprism import classify

    data = classify.load_labelled(store, labels, label_format, backbone, _exclusive_flag(exclusive))
    path = classify.train(data, head, out, _postprocess(smooth, min_bout))
    console.print(f"head written: {path} ({len(data.behaviors)} behaviours, {int(data.labelled.sum())} labelled frames)")


@app.command()
@reports_errors
def predict(
    store: Path = typer.Argument(..., help="Embedding store folder."),
    head: Path = typer.Option(..., "--head", help="Trained head (.json)."),
    out: Path = typer.Option(..., "--out", help="Output folder."),
):
    """Per-frame predictions, bouts, BORIS events file and an ethogram for every stored video."""
    from ethoprism import classify

    for item in classify.predict(store, head, out):
        console.print(f"{item['video']}: {item['frames_csv']}, {item['bouts_csv']}, {item['boris']}")


@app.command()
@reports_errors
def evaluate(
    store: Path = typer.Argument(..., help="Embedding store folder."),
    labels: list[str] = typer.Option(..., "--labels", help=LABELS_HELP),
    out: Path = typer.Option(..., "--out", help="Report folder."),
    heads: list[str] = typer.Option(["linear"], "--head", help=f"Head(s) to evaluate: {HEAD_KINDS}."),
    folds: Optional[int] = typer.Option(None, "--folds", help="Group k-fold by video (default: leave one video out)."),
    split: str = typer.Option("auto", "--split", help="auto (the label file's own train/test split, as FERAL files "
                                                      "have, else by video), file, or videos."),
    label_format: str = typer.Option("auto", "--format"),
    exclusive: str = typer.Option("auto", "--exclusive"),
    backbone: Optional[str] = typer.Option(None, "--backbone"),
    smooth: int = typer.Option(1, "--smooth"),
    min_bout: int = typer.Option(1, "--min-bout"),
):
    """Cross-validated (by video) mAP, macro accuracy, F1 and confusion matrix; report.html + metrics.json."""
    from ethoprism import classify

    data = classify.load_labelled(store, labels, label_format, backbone, _exclusive_flag(exclusive))
    with StepProgress() as progress:
        report = classify.evaluate(data, heads, out, folds, _postprocess(smooth, min_bout), progress=progress,
                                   split=split)
    _print_summary(report)


@app.command()
@reports_errors
def fewshot(
    store: Path = typer.Argument(..., help="Embedding store folder."),
    labels: list[str] = typer.Option(..., "--labels", help=LABELS_HELP),
    out: Path = typer.Option(..., "--out", help="Report folder."),
    heads: list[str] = typer.Option(["linear"], "--head"),
    shots: list[int] = typer.Option([10, 50, 100], "--shots", help="Labelled frames per class."),
    seeds: int = typer.Option(5, "--seeds"),
    test_videos: list[str] = typer.Option([], "--test-video", help="Held-out test video(s) (default: last third)."),
    label_format: str = typer.Option("auto", "--format"),
    exclusive: str = typer.Option("auto", "--exclusive"),
    backbone: Optional[str] = typer.Option(None, "--backbone"),
):
    """The paper's few-shot protocol: k labelled frames per class, n seeds, mean ± std."""
    from ethoprism import classify
    from ethoprism.evaluation.classification import few_shot
    from ethoprism.heads import make_head
    from ethoprism.outputs.report import write_html

    data = classify.load_labelled(store, labels, label_format, backbone, _exclusive_flag(exclusive))
    if test_videos:
        unknown = sorted(set(test_videos) - set(data.videos))
        if unknown:
            raise EthoprismError(f"--test-video names videos without labels: {unknown}")
        test = [data.videos.index(v) for v in test_videos]
        train_idx = [i for i in range(len(data.videos)) if i not in test]
    else:
        train_idx, test = classify.default_split(len(data.videos))
    out.mkdir(parents=True, exist_ok=True)
    with StepProgress() as progress:
        result = {kind: few_shot(make_head(kind, exclusive=data.exclusive), data, train_idx, test, tuple(shots), seeds,
                                 progress=lambda done, total, kind=kind: progress(f"{kind} head: few-shot runs",
                                                                                  done, total))
                  for kind in heads}
    table = classify.fewshot_table(result)
    (out / "fewshot.json").write_text(json.dumps(result, indent=2))
    table.to_csv(out / "fewshot.csv", index=False)
    write_html(out / "report.html", "few-shot behaviour classification", [("few-shot", [table])])
    Console().print(table.to_string(index=False))


def _print_summary(report: dict) -> None:
    how = "on the label file's test videos" if report.get("split") == "file" else "cross-validated by video"
    table = Table(title=f"{how} (chance: the AP of uninformed scores = prevalence)")
    for column in ("head", "mAP", "chance mAP", "macro accuracy", "macro F1"):
        table.add_column(column)
    for kind, result in report["heads"].items():
        m = result["metrics"]
        table.add_row(kind, f"{m['map']:.3f}", f"{m['chance_map']:.3f}", f"{m['macro_accuracy']:.3f}",
                      f"{m['macro_f1']:.3f}")
    Console().print(table)


class StepProgress:
    """A rich progress bar per step (e.g. one per head's folds), for workflows' progress callbacks."""

    def __init__(self):
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeRemainingColumn(), console=console, transient=False)
        self.tasks: dict[str, int] = {}

    def __enter__(self):
        self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        return self.bar.__exit__(*exc)

    def __call__(self, step: str, done: int, total: int) -> None:
        if step not in self.tasks:
            self.tasks[step] = self.bar.add_task(step, total=total)
        self.bar.update(self.tasks[step], completed=done, total=total)


@app.command()
@reports_errors
def demo(
    out: Path = typer.Option(Path("demo_out"), "--out", help="Output folder."),
    videos: list[str] = typer.Option([], "--videos", help="Your videos (files or globs) instead of the synthetic set."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="Labels for --videos."),
    backbone: str = typer.Option("effnet-lite0", "--backbone"),
    weights: Optional[str] = typer.Option(None, "--weights"),
    heads: list[str] = typer.Option(["linear", "mlp", "attentive", "temporal"], "--head"),
    n_videos: int = typer.Option(6, "--n-videos", help="Synthetic videos to generate."),
    n_frames: int = typer.Option(450, "--n-frames", help="Frames per synthetic video."),
    size: Optional[int] = typer.Option(None, "--size", help="Model input size (default: 128 synthetic, else the backbone's)."),
    seeds: int = typer.Option(3, "--seeds", help="Few-shot seeds."),
    seed: int = typer.Option(0, "--seed", help="Synthetic dataset seed."),
):
    """End to end, offline, on CPU: data -> embeddings -> heads -> few-shot -> report.html."""
    from ethoprism import classify
    from ethoprism.backbones import load_backbone
    from ethoprism.clips import ClipSpec
    from ethoprism.extract import extract_video
    from ethoprism.store import EmbeddingStore
    from ethoprism.synthetic import SyntheticConfig, generate

    out.mkdir(parents=True, exist_ok=True)
    notes = []
    if videos:
        if labels is None:
            raise EthoprismError("--videos needs --labels")
        paths = expand_videos(videos)
    else:
        config = SyntheticConfig(n_videos=n_videos, n_frames=n_frames, seed=seed)
        console.print(f"generating {n_videos} synthetic videos of {n_frames} frames in {out / 'data'}")
        generated = generate(out / "data", config)
        paths, labels = [v.path for v in generated], out / "data" / "labels.csv"
        size = size or config.size
        notes.append("Synthetic data: behaviours walk, groom, rear, jump (fast, 3-5 frames) and shake (rare); "
                     "background = rest. Ground truth is exact.")
    model = load_backbone(backbone, weights)
    default = model.default_clip_spec()
    spec = ClipSpec(frames=default.frames, size=size or default.size, overlap=default.overlap)
    store = EmbeddingStore(out / "store")
    with frames_progress() as bar:
        for path in paths:
            task = bar.add_task(f"embedding {Path(path).name}", total=None, rate=0.0)

            def update(done, total, task=task):
                elapsed = bar.tasks[task].elapsed or 0
                bar.update(task, completed=done, total=total, rate=done / elapsed if elapsed else 0.0)

            extract_video(path, model, store, spec, progress=update)
    data = classify.load_labelled(out / "store", labels, backbone=backbone, exclusive=None if videos else True)
    train_idx, test_idx = classify.default_split(len(data.videos))
    console.print(f"training and cross-validating heads: {', '.join(heads)}")
    with StepProgress() as progress:
        report = classify.evaluate(data, heads, out / "report", postprocess={"smooth": 1, "min_bout": 1},
                                   fewshot={"heads": ["linear"], "train_videos": train_idx, "test_videos": test_idx,
                                            "shots": (10, 50, 100), "seeds": seeds},
                                   title="ethoprism demo" + (" (synthetic data)" if not videos else ""), notes=notes,
                                   progress=progress)
    _print_summary(report)
    console.print(f"report: {out / 'report' / 'report.html'}")


@app.command("index")
@reports_errors
def index_command(
    store: Path = typer.Argument(..., help="Embedding store folder."),
    backbone: Optional[str] = typer.Option(None, "--backbone"),
    index_type: str = typer.Option("auto", "--index-type", help="auto, flat (exact), ivf, hnsw."),
    normalize: str = typer.Option("video", "--normalize", help="video (subtract each video's mean) or none."),
    rebuild: bool = typer.Option(False, "--rebuild", help="Rebuild from scratch."),
):
    """Build or extend the nearest-neighbour index of a store (new videos are appended)."""
    from ethoprism.retrieval import update_index

    if normalize not in ("video", "none"):
        raise EthoprismError(f"--normalize must be 'video' or 'none', not '{normalize}'")
    index, added = update_index(store, backbone, index_type, normalize, rebuild)
    console.print(f"index {index.folder}: {index.meta['kind']}, {index.ntotal} frames of {len(index.videos)} videos "
                  f"({added} added)")


@app.command()
@reports_errors
def search(
    store: Path = typer.Argument(..., help="Embedding store folder (indexed)."),
    example: list[str] = typer.Option([], "--example", help="VIDEO:START-END in frames, or VIDEO:4.5-6s. Repeatable."),
    clip: Optional[Path] = typer.Option(None, "--clip", help="A short clip file as the query."),
    text: Optional[str] = typer.Option(None, "--text", help="Text query (videoprism-lvt stores)."),
    k: int = typer.Option(10, "--k", help="Segments to return."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for results.csv/.json and the contact sheet."),
    clips: bool = typer.Option(False, "--clips", help="Also write an mp4 of each hit."),
    weights: Optional[str] = typer.Option(None, "--weights", help="Backbone weights for --clip / --text / lighting."),
    tokenizer: Optional[str] = typer.Option(None, "--tokenizer", help=TOKENIZER_HELP),
    backbone: Optional[str] = typer.Option(None, "--backbone"),
    exclude: int = typer.Option(30, "--exclude", help="Frames around the example to leave out of the results."),
    augment_lighting: bool = typer.Option(False, "--augment-lighting",
                                          help="Re-embed the examples under lighting changes and fuse them "
                                               "(robust to lighting; needs the video files and the backbone)."),
):
    """Find the segments most like an example (or a text) in every indexed video."""
    from ethoprism.retrieval import workflow

    results = workflow.search(store, example, clip, text, k, backbone, weights, tokenizer, exclude, augment_lighting)
    Console().print(results.drop(columns=["video_path"]).to_string(index=False))
    if out:
        console.print(f"results in {workflow.write_search_results(results, out, clips)}")


@app.command("zero-shot")
@reports_errors
def zero_shot_command(
    store: Path = typer.Argument(..., help="Store extracted with a videoprism-lvt backbone."),
    behaviors: list[str] = typer.Option(..., "--behavior", help="Behaviour name (repeatable)."),
    out: Path = typer.Option(..., "--out", help="Folder for per-frame tables and bouts."),
    prompt: str = typer.Option("a video of a mouse {}.", "--prompt", help="Prompt template; {} is the behaviour."),
    weights: Optional[str] = typer.Option(None, "--weights"),
    tokenizer: Optional[str] = typer.Option(None, "--tokenizer", help=TOKENIZER_HELP),
    backbone: Optional[str] = typer.Option(None, "--backbone"),
):
    """Zero-shot behaviour classification from behaviour names (VideoPrism video-text models)."""
    from ethoprism.retrieval import workflow

    workflow.zero_shot_predictions(store, behaviors, out, prompt, backbone, weights, tokenizer)
    console.print(f"zero-shot predictions in {out}")


@app.command("evaluate-retrieval")
@reports_errors
def evaluate_retrieval(
    store: Path = typer.Argument(..., help="Embedding store folder."),
    labels: list[str] = typer.Option(..., "--labels", help=LABELS_HELP),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    normalize: Optional[str] = typer.Option(None, "--normalize",
                                            help="Expect an index built with video or none (default: the index as "
                                                 "built; one is built with 'video' if there is none)."),
    max_queries: int = typer.Option(20, "--max-queries", help="Queries per behaviour."),
    label_format: str = typer.Option("auto", "--format"),
    backbone: Optional[str] = typer.Option(None, "--backbone"),
):
    """Mean Hit@1/5/10 of retrieval by example, each labelled bout a query, against random."""
    from ethoprism.retrieval import workflow

    summary = workflow.evaluate_retrieval(store, labels, out, label_format, backbone, normalize, max_queries)
    table = Table(title=f"retrieval by example ({summary['n_queries']} queries, normalize={summary['normalize']})")
    for column in ("K", "mean Hit@K", "random"):
        table.add_column(column)
    for k in (1, 5, 10):
        table.add_row(str(k), f"{summary[f'hit@{k}']:.3f}", f"{summary[f'random_hit@{k}']:.3f}")
    Console().print(table)


localize_app = typer.Typer(no_args_is_help=True, help="Animal boxes from frozen spatial tokens.")
app.add_typer(localize_app, name="localize")


@localize_app.command("train")
@reports_errors
def localize_train(
    store: Path = typer.Argument(..., help="Store extracted with --token-step."),
    boxes: Path = typer.Option(..., "--boxes", help="COCO JSON, SLEAP .slp or DeepLabCut file (boxes from pose)."),
    out: Path = typer.Option(..., "--out", help="Box head to write (.json + .safetensors)."),
    frames: Optional[str] = typer.Option(None, "--frames", help="Train on these frames only, e.g. 0-1049 or 0-299,600-1499."),
    video: Optional[str] = typer.Option(None, "--video", help="Video name for pose files that name another path."),
    epochs: int = typer.Option(40, "--epochs"),
):
    """Train the box head on stored token maps."""
    from ethoprism.localization import workflow

    path = workflow.train(store, boxes, out, workflow.parse_frames(frames), video, epochs=epochs)
    console.print(f"box head written: {path}")


@localize_app.command("predict")
@reports_errors
def localize_predict(
    store: Path = typer.Argument(...),
    head: Path = typer.Option(..., "--head"),
    out: Path = typer.Option(..., "--out", help="Output folder: boxes.csv and predictions.json (COCO results)."),
    frames: Optional[str] = typer.Option(None, "--frames", help="Predict on these frames only, e.g. 1050-1499."),
    smooth: int = typer.Option(1, "--smooth", help="Moving average of each track's boxes (detections)."),
):
    """Predict boxes (with identities linked across frames) for every stored video."""
    from ethoprism.localization import workflow
    from ethoprism.io.coco import write_coco

    table = workflow.predict(store, head, workflow.parse_frames(frames), smooth=smooth)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "boxes.csv", index=False)
    write_coco(table, out / "predictions.json", workflow.video_sizes(store), scores=True)
    console.print(f"{len(table)} boxes on {table.frame.nunique() if len(table) else 0} frames -> {out}")


@localize_app.command("evaluate")
@reports_errors
def localize_evaluate(
    store: Path = typer.Argument(...),
    boxes: Path = typer.Option(..., "--boxes", help="Ground truth (COCO JSON or pose file)."),
    predictions: Path = typer.Option(..., "--predictions", help="boxes.csv or predictions.json from localize predict."),
    frames: Optional[str] = typer.Option(None, "--frames", help="Evaluate on these frames only."),
    video: Optional[str] = typer.Option(None, "--video"),
    out: Optional[Path] = typer.Option(None, "--out", help="Write metrics JSON here."),
):
    """mAP (IoU 0.5:0.95), AP@50 and AP@75 with pycocotools, on every frame with a token map in
    --frames (default: the predicted frame range); frames without detections count as misses."""
    from ethoprism.localization import workflow

    metrics = workflow.evaluate(store, boxes, predictions, workflow.parse_frames(frames), video)
    Console().print(f"mAP {metrics['map']:.3f}  AP@50 {metrics['ap50']:.3f}  AP@75 {metrics['ap75']:.3f}  "
                    f"({metrics['n_frames']} frames)")
    if out:
        out.write_text(json.dumps(metrics, indent=2))


@app.command()
@reports_errors
def render(
    video: Path = typer.Argument(..., help="The video to draw on."),
    out: Path = typer.Option(..., "--out", help="mp4 to write."),
    boxes: Optional[Path] = typer.Option(None, "--boxes", help="boxes.csv / predictions.json (localize predict)."),
    predictions: Optional[Path] = typer.Option(None, "--predictions", help="Per-frame table (predict): <video>.frames.csv"),
    max_frames: Optional[int] = typer.Option(None, "--max-frames"),
):
    """Write a browser-playable mp4 with boxes, identities, behaviour labels and an ethogram strip."""
    import pandas as pd

    from ethoprism.outputs.render import read_boxes_table, render as draw

    box_table = None
    if boxes is not None:
        if not boxes.exists():
            raise EthoprismError("box file does not exist", boxes)
        box_table = read_boxes_table(boxes)
        box_table = box_table[box_table.video == video.name] if "video" in box_table else box_table
    frame_table = None
    if predictions is not None:
        if not predictions.exists():
            raise EthoprismError("prediction table does not exist", predictions)
        frame_table = pd.read_parquet(predictions) if predictions.suffix == ".parquet" else pd.read_csv(predictions)
    path = draw(video, out, box_table, frame_table, max_frames=max_frames)
    console.print(f"written {path}")


@app.command()
def backbones():
    """List the available backbones."""
    from ethoprism.backbones import BACKBONES

    for name in BACKBONES:
        print(name)


def main():  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
