"""``ethoprism extract | info | backbones``: videos into the embedding store."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from ethoprism.backbones import DEFAULT_BACKBONE
from ethoprism.cli.common import (
    EXIT_BAD_INPUT,
    StepProgress,
    announce_threads,
    at_least,
    console,
    expand_videos,
    print_error,
    reports_errors,
    stdout_console,
)
from ethoprism.errors import EthoprismError


def extract(
    videos: list[str] = typer.Argument(..., help="Video files or glob patterns."),
    store: Path = typer.Option(..., "--store", help="Embedding store folder."),
    backbone: Optional[str] = typer.Option(
        None,
        "--backbone",
        help="Backbone name (see `ethoprism backbones`); default: the one STORE holds, "
        f"else {DEFAULT_BACKBONE}.",
    ),
    weights: Optional[str] = typer.Option(
        None, "--weights", help="Local folder/file, hub id, official .npz."
    ),
    revision: Optional[str] = typer.Option(None, "--revision", help="Hub revision (branch, tag or commit)."),
    protocol: str = typer.Option("tiled", "--protocol", help="tiled (default) or centered."),
    frames: Optional[int] = typer.Option(None, "--frames", help="Frames per clip (default: the backbone's)."),
    frame_step: int = typer.Option(1, "--frame-step", help="Source frames between clip frames."),
    size: Optional[int] = typer.Option(
        None, "--size", help="Square input side in px (default: the backbone's)."
    ),
    square: str = typer.Option("crop", "--square", help="crop (centre square) or pad (black bars)."),
    overlap: Optional[int] = typer.Option(None, "--overlap", help="Clip positions shared by tiled clips."),
    token_step: Optional[int] = typer.Option(
        None, "--token-step", help="Also store spatial token maps every N frames."
    ),
    token_grid: Optional[int] = typer.Option(
        None,
        "--token-grid",
        help="Also store every frame's token map pooled to G x G (for --head attentive-tokens).",
    ),
    token_dim: Optional[int] = typer.Option(
        None,
        "--token-dim",
        help="Reduce the --token-grid grids to K dimensions by a PCA fitted once per store (e.g. 256).",
    ),
    tracks: list[Path] = typer.Option(
        [],
        "--tracks",
        help="Animal tracks (SLEAP .slp, DeepLabCut multi-animal .h5/.csv, boxes CSV video,frame,animal,"
        "x1,y1,x2,y2): each animal's embedding per frame, pooled in its box. Repeatable.",
    ),
    animal_mode: str = typer.Option(
        "pooled",
        "--animal-mode",
        help="With --tracks: pooled (each animal's box pooled from the frame's token map, the same pass) "
        "or crop (each animal cut from the full-resolution frame and encoded on its own: more detail, "
        "one more pass per animal).",
    ),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:1, ..."),
    dtype: str = typer.Option("auto", "--dtype", help="auto (bf16 on CUDA, fp32 on CPU), fp32 or bf16."),
    batch_size: str = typer.Option(
        "4", "--batch-size", help="Clips per forward pass, or auto (from free GPU memory; 4 on CPU)."
    ),
    compile_model: bool = typer.Option(
        False, "--compile", help="torch.compile the backbone (faster on long videos)."
    ),
    runtime: str = typer.Option(
        "auto",
        "--runtime",
        help="auto (ONNX Runtime for effnet-lite0* on the CPU, checked against PyTorch; else PyTorch), "
        "torch or onnx.",
    ),
    ray: Optional[str] = typer.Option(
        None,
        "--ray",
        help="Run on a Ray cluster: auto (the running one), local (start one here) or its address.",
    ),
    workers: Optional[int] = typer.Option(
        None, "--workers", help="Ray workers (default: one per CPU or GPU)."
    ),
    gpus_per_worker: float = typer.Option(0.0, "--gpus-per-worker", help="GPUs each Ray worker asks for."),
):
    """Embed every frame of each video with a frozen backbone and keep the result in STORE."""
    from ethoprism.backbones import load_backbone
    from ethoprism.extract import check_token_options
    from ethoprism.store import EmbeddingStore
    from ethoprism.workflows.extract import backbone_for, clip_spec, extract_videos

    target = EmbeddingStore(store)
    if backbone is None:
        backbone = backbone_for(target)
        if backbone != DEFAULT_BACKBONE:
            console.print(f"the store holds {backbone} embeddings: extracting with {backbone}")
    batch_size = _batch_size(batch_size)
    check_token_options(token_grid, token_dim)
    for option, minimum, value in (
        ("--token-grid", 1, token_grid),
        ("--frames", 1, frames),
        ("--frame-step", 1, frame_step),
        ("--size", 16, size),
        ("--overlap", 0, overlap),
        ("--workers", 1, workers),
    ):
        at_least(minimum, option, value)
    if not (gpus_per_worker >= 0 and math.isfinite(gpus_per_worker)):
        raise EthoprismError(f"--gpus-per-worker must be a number of at least 0, not {gpus_per_worker}")
    from ethoprism.backbones.onnx_runtime import RUNTIMES

    if runtime not in RUNTIMES:
        raise EthoprismError(f"--runtime must be one of {', '.join(RUNTIMES)}, not '{runtime}'")
    from ethoprism.tracks import check_animal_mode

    check_animal_mode(animal_mode)
    paths = expand_videos(videos)
    announce_threads()  # after the options are checked: a bad one is still the only line
    if ray is not None:
        from ethoprism.workflows.extract import extract_videos_ray

        options = {
            "protocol": protocol,
            "frames": frames,
            "frame_step": frame_step,
            "size": size,
            "square": square,
            "overlap": overlap,
        }
        with StepProgress(rate=True) as progress:
            results = extract_videos_ray(
                paths,
                target,
                backbone,
                weights,
                revision,
                dtype,
                options,
                batch_size,
                token_step,
                ray,
                workers,
                gpus_per_worker,
                progress=lambda done, total: progress("all videos", done, total),
                token_grid=token_grid,
                token_dim=token_dim,
                tracks=tracks,
                animal_mode=animal_mode,
            )
    else:
        model = load_backbone(
            backbone,
            weights,
            revision=revision,
            device=device,
            dtype=dtype,
            compile=compile_model,
            runtime=runtime,
        )
        console.print(f"runtime: {model.weights.extra.get('runtime')}", highlight=False)
        spec = clip_spec(model, protocol, frames, frame_step, size, square, overlap)
        if batch_size == "auto":
            batch_size = model.auto_batch_size(spec.frames, spec.size)
            console.print(f"batch size: {batch_size} clips")
        with StepProgress(rate=True) as progress:
            results = extract_videos(
                paths,
                model,
                target,
                spec,
                batch_size,
                token_step,
                progress=lambda video, done, total: progress(video.name, done, total),
                token_grid=token_grid,
                token_dim=token_dim,
                tracks=tracks,
                animal_mode=animal_mode,
            )
    for note in target.notes:
        console.print(f"note: {note}", highlight=False)
    for result in results:
        state = "failed" if result.error else ("cached" if result.cached else "stored")
        console.print(f"{result.video.name}: {state}")
    failures = [r.error for r in results if r.error]
    for failure in failures:
        print_error(failure)
    if failures:
        raise typer.Exit(EXIT_BAD_INPUT)


def _batch_size(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise EthoprismError(f"--batch-size must be a whole number or auto, not '{text}'") from None


def info(
    store: Path = typer.Argument(..., help="Embedding store folder."),
    as_json: bool = typer.Option(False, "--json", help="Print full provenance as JSON."),
):
    """List what a store holds, with provenance."""
    import numpy as np
    from rich.markup import escape

    from ethoprism.store import EmbeddingStore
    from ethoprism.store.bases import FOLDER, load_basis

    target = EmbeddingStore(store)
    if not store.is_dir():
        raise EthoprismError("store folder does not exist", store)
    entries, partials = target.entries(), target.partials()
    if as_json:
        records = [{"file": str(e.path), "complete": True, **e.provenance.to_dict()} for e in entries]
        records += [
            {
                "file": str(p.target),
                "complete": False,
                "chunks_done": p.progress()[0],
                "chunks": p.progress()[1],
                **p.provenance.to_dict(),
            }
            for p in partials
        ]
        print(json.dumps(records, indent=2))
        return
    out = stdout_console()
    out.print(
        f"[bold]{escape(str(store))}[/]: {len(entries)} {'entry' if len(entries) == 1 else 'entries'}"
        + (f", {len(partials)} partial" if partials else "")
    )
    for e in entries:
        p = e.provenance
        spec, video = p.clip_spec, p.video
        table = Table(show_header=False, box=None, padding=(0, 1))
        table.add_column(style="bold cyan")
        table.add_column(overflow="fold")
        table.add_row("video", video.path)
        table.add_row(
            "frames",
            f"{e.n_frames} at {e.fps:.4g} fps ({video.width}x{video.height}"
            f"{', variable frame rate' if video.variable_frame_rate else ''})",
        )
        table.add_row("video sha256", e.video_sha256)
        table.add_row("backbone", f"{e.backbone} ({p.dtype})")
        table.add_row(
            "weights",
            f"{p.weights.source}: {p.weights.model_id} revision={p.weights.revision or '-'} "
            f"sha256={p.weights.sha256 or '-'}",
        )
        table.add_row(
            "clip spec",
            f"{spec.protocol}, {spec.frames} frames x step {spec.frame_step}, "
            f"{spec.size} px {spec.square}, overlap {spec.overlap}",
        )
        table.add_row("token maps", f"every {p.token_step} frames" if p.token_step else "no")
        grid = f"{p.token_grid}x{p.token_grid}, every frame" if p.token_grid else "no"
        if p.token_dim:
            grid += f", reduced to {p.token_dim} dimensions (PCA basis {p.token_basis})"
        table.add_row("token grid", grid)
        if p.tracks:
            rows = e.animal_rows()
            present = np.bincount(rows[1], minlength=len(e.animals)) if rows is not None else []
            table.add_row(
                "animals",
                ", ".join(
                    f"{name} ({count / max(e.n_frames, 1):.0%} of frames)"
                    for name, count in zip(e.animals, present)
                )
                + f"; {p.tracks.get('mode', 'pooled')} embeddings from {p.tracks.get('file') or 'tracks'} "
                f"(sha256 {str(p.tracks.get('file_sha256'))[:12]})",
            )
        table.add_row("stored by", f"ethoprism {p.ethoprism_version} in {e.path}")
        out.print(table)
        out.print()
    for path in sorted((target.root / FOLDER).glob("*.npz")):
        basis = load_basis(path)
        out.print(
            f"[bold]token basis[/] {basis.digest}: {basis.dim} of {len(basis.mean)} dimensions keep "
            f"{basis.explained_variance_ratio.sum():.1%} of the grid tokens' variance (fitted on "
            f"{basis.n_tokens:,} tokens of {escape(basis.fitted_on)}) in {escape(str(path))}",
            soft_wrap=True,
        )
    for partial in partials:
        done, total = partial.progress()
        out.print(
            f"[bold yellow]partial[/]: {escape(Path(partial.provenance.video.path).name)} with "
            f"{partial.provenance.backbone}, {done}/{total} chunks committed "
            f"(run the same `ethoprism extract` to resume) in {escape(str(partial.folder))}"
        )


def backbones():
    """List the available backbones."""
    from ethoprism.backbones import BACKBONES

    for name in BACKBONES:
        print(f"{name}  (default)" if name == DEFAULT_BACKBONE else name)


def register(app: typer.Typer) -> None:
    app.command()(reports_errors(extract))
    app.command()(reports_errors(info))
    app.command()(backbones)
