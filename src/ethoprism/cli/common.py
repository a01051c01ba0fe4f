"""What every command shares: the one-line error contract, progress bars, tables.

Every user-facing failure is an :class:`EthoprismError`; it is printed as one line
``error: <file>: <problem>`` and the command exits with code 2. Work finished before the error
(other videos, stored entries) is kept.
"""

from __future__ import annotations

import functools
import glob
import os
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ethoprism.errors import EthoprismError, os_reason

# soft wrap: one message is one line however narrow the terminal, and a piped log keeps it whole
console = Console(stderr=True, soft_wrap=True)
EXIT_BAD_INPUT = 2
HEAD_KINDS = "linear, mlp, attentive, temporal, attentive-tokens (needs extract --token-grid)"
LABELS_HELP = (
    "Label file(s), glob or folder (BORIS, DeepEthogram, FERAL, SimBA, bouts CSV; DeepEthogram and "
    "SimBA project folders as they lie). Repeatable."
)
SUBJECT_HELP = (
    "Of label files that name several animals (BORIS Subjects), the subject to keep; without it "
    "such files are refused, never merged into one animal."
)
TOKENIZER_HELP = "SentencePiece .model file of a video-text backbone (needed with the official .npz weights)."


PIPED_WIDTH = 1_000_000
THREADS_USED = ""  # the line ethoprism.threads.configure gave; heavy commands print it


def announce_threads() -> None:
    """Say in the run log how many threads the compute pools were given, and why."""
    if THREADS_USED:
        console.print(THREADS_USED, highlight=False)


def stdout_console() -> Console:
    """Where tables and listings go. In a terminal they fit its width; piped (a log, a scheduler,
    ``| grep``) nothing is wrapped: rich's 80-column default would split phrases and paths, and
    the width would depend on whatever COLUMNS leaked into the run."""
    terminal = Console()
    if terminal.is_terminal:
        return terminal
    return Console(width=PIPED_WIDTH, soft_wrap=True)


def entry_filter(
    backbone: str | None,
    weights: str | None,
    dtype: str | None,
    token_dim: int | None = None,
    animal_mode: str | None = None,
):
    """Which embeddings of a store a command uses (``--backbone``, ``--weights``, ``--dtype``,
    ``--token-dim``, ``--animal-mode``)."""
    from ethoprism.store import EntryFilter
    from ethoprism.tracks import check_animal_mode

    if animal_mode is not None:
        check_animal_mode(animal_mode)
    if weights is None and dtype is None and token_dim is None and animal_mode is None:
        return backbone
    return EntryFilter(backbone, weights, dtype, token_dim, animal_mode)


STORE_ANIMAL_MODE_HELP = (
    "Per animal: use the store's animal embeddings made this way (pooled or crop; extract "
    "--animal-mode). Default: pooled where a video has both."
)
STORE_WEIGHTS_HELP = "Use the store's embeddings made with these weights (model id, path or sha256 prefix)."
STORE_DTYPE_HELP = "Use the store's embeddings made in this dtype (fp32, bf16)."
STORE_TOKEN_DIM_HELP = (
    "Token heads: use the grids reduced to this many dimensions (extract --token-dim); "
    "default: whole grids where a video has both."
)


def print_error(message: str) -> None:
    # the message is the user's file names and values: never rich markup
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def reports_errors(command):
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except EthoprismError as exc:
            print_error(str(exc))
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except OSError as exc:
            # the disk or the file system said no (read-only, full, a file where a folder should be):
            # the user's to fix, with the path the system names
            where = exc.filename or "file system"
            print_error(f"{where}: {os_reason(exc)}")
            raise typer.Exit(EXIT_BAD_INPUT) from None

    return wrapper


def at_least(minimum: int, option: str, value):
    """``value`` unless it is below ``minimum`` (None passes: the option's default applies)."""
    if value is not None and value < minimum:
        raise EthoprismError(f"{option} must be at least {minimum}, not {value}")
    return value


def known_heads(kinds: list[str]) -> list[str]:
    """Refuse an unknown head name before any work is done."""
    from ethoprism.heads.io import HEADS

    for kind in kinds:
        if kind not in HEADS:
            raise EthoprismError(f"unknown head '{kind}'; choose one of: {', '.join(HEADS)}")
    return kinds


def output_folder(path: Path, option: str = "--out") -> Path:
    """A folder to write into: it may exist as a folder, never as a file."""
    if path.exists() and not path.is_dir():
        raise EthoprismError(f"{option} must be a folder, but a file is there", path)
    return path


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def never_replaces_inputs(option: str, outputs, inputs) -> None:
    """The one rule for every command's outputs: an output never replaces one of the command's
    inputs (a labels file, a head, a video, ground truth). ``outputs``: the files the command will
    write; ``inputs``: the files it reads (label sources are expanded as the readers expand them)."""
    files = []
    for item in inputs:
        if item is None:
            continue
        if isinstance(item, (list, tuple)):  # label sources: files, globs, folders
            from ethoprism.io.labels import label_files

            try:
                files.extend(label_files(list(item)))
            except EthoprismError:
                files.extend(Path(str(i)) for i in item)  # the reader says what is wrong with them
        else:
            files.append(Path(item))
    for output in outputs:
        output = Path(output)
        for source in files:
            if _same_file(output, source) or output.resolve() == source.resolve():
                raise EthoprismError(
                    f"{option} would overwrite an input of this command ({source}); choose another path",
                    output,
                )


def expand_videos(patterns: list[str]) -> list[Path]:
    videos: list[Path] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern, recursive=True)) if glob.has_magic(pattern) else [pattern]
        if not matches:
            raise EthoprismError("glob matched no files", pattern)
        videos.extend(Path(m) for m in matches)
    return videos


class StepProgress:
    """A rich progress bar per step (a video's frames, a head's folds): the ``progress(step, done,
    total)`` callback the workflows take."""

    def __init__(self, rate: bool = False):
        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
        if rate:
            columns.append(TextColumn("{task.fields[rate]:>7.1f} frames/s"))
        self.bar = Progress(*columns, TimeRemainingColumn(), console=console, transient=False)
        self.tasks: dict[str, int] = {}

    def __enter__(self):
        self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        return self.bar.__exit__(*exc)

    def __call__(self, step: str, done: int, total: int) -> None:
        if step not in self.tasks:
            self.tasks[step] = self.bar.add_task(step, total=total, rate=0.0)
        task = self.tasks[step]
        elapsed = self.bar.tasks[task].elapsed or 0
        self.bar.update(task, completed=done, total=total, rate=done / elapsed if elapsed else 0.0)

    def describe(self, step: str, description: str) -> None:
        if step not in self.tasks:
            self.tasks[step] = self.bar.add_task(step, total=None, rate=0.0)
        self.bar.update(self.tasks[step], description=description)
