"""The ``ethoprism`` command line (typer + rich): argument parsing and printing only, one module
per command group; the work is done by :mod:`ethoprism.workflows`."""

from __future__ import annotations

from typing import Optional

import typer

from ethoprism.cli import app as app_cli
from ethoprism.cli import classify, compare, discover, extract, localize, retrieve
from ethoprism.cli.common import EXIT_BAD_INPUT, console

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Animal behaviour analysis from raw video with frozen video foundation models.",
)


@app.callback()
def _threads(
    threads: Optional[int] = typer.Option(
        None,
        "--threads",
        help="Threads for the compute pools (torch, BLAS, OpenMP); default: the cores this process "
        "may use (CPU affinity and cgroup quota).",
    ),
):
    """Animal behaviour analysis from raw video with frozen video foundation models."""
    from ethoprism.cli import common
    from ethoprism.errors import EthoprismError
    from ethoprism.threads import configure

    if threads is not None and threads < 1:
        common.print_error(str(EthoprismError(f"--threads must be at least 1, not {threads}")))
        raise typer.Exit(EXIT_BAD_INPUT)
    common.THREADS_USED = configure(threads)


for group in (extract, classify, compare, retrieve, localize, discover, app_cli):
    group.register(app)


def main():  # pragma: no cover - console entry point
    app()


__all__ = ["app", "main", "console", "EXIT_BAD_INPUT"]
