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
        print(json.dumps([{"file": str(e.path), **e.provenance} for e in entries], indent=2))
        return
    out = Console()
    out.print(f"[bold]{store}[/]: {len(entries)} entries")
    for e in entries:
        w, spec, video = e.provenance["weights"], e.provenance["clip_spec"], e.provenance["video"]
        table = Table(show_header=False, box=None, padding=(0, 1))
        table.add_column(style="bold cyan")
        table.add_column(overflow="fold")
        table.add_row("video", f"{video['path']}")
        table.add_row("frames", f"{e.n_frames} at {e.fps:.4g} fps ({video['width']}x{video['height']}"
                      f"{', variable frame rate' if video.get('variable_frame_rate') else ''})")
        table.add_row("video sha256", e.video_sha256)
        table.add_row("backbone", f"{e.backbone} ({e.provenance['dtype']})")
        table.add_row("weights", f"{w['source']}: {w['model_id']} revision={w.get('revision') or '-'} "
                      f"sha256={w.get('sha256') or '-'}")
        table.add_row("clip spec", f"{spec['protocol']}, {spec['frames']} frames x step {spec['frame_step']}, "
                      f"{spec['size']} px {spec['square']}, overlap {spec['overlap']}")
        table.add_row("token maps", f"every {e.provenance['token_step']} frames" if e.provenance.get("token_step") else "no")
        table.add_row("stored by", f"ethoprism {e.provenance['ethoprism_version']} in {e.path}")
        out.print(table)
        out.print()


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
