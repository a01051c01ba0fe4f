"""The ``ethoprism`` command line (typer + rich): argument parsing and printing only, one module
per command group; the work is done by :mod:`ethoprism.workflows`."""

from __future__ import annotations

import typer

from ethoprism.cli import app as app_cli
from ethoprism.cli import classify, extract, localize, retrieve
from ethoprism.cli.common import EXIT_BAD_INPUT, console

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Animal behaviour analysis from raw video with frozen video foundation models.",
)
for group in (extract, classify, retrieve, localize, app_cli):
    group.register(app)


def main():  # pragma: no cover - console entry point
    app()


__all__ = ["app", "main", "console", "EXIT_BAD_INPUT"]
