"""``ethoprism app``: the local web app."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ethoprism.cli.common import SUBJECT_HELP, console, reports_errors
from ethoprism.errors import EthoprismError


def app_command(
    store: Path = typer.Argument(..., help="Embedding store folder."),
    labels: Optional[Path] = typer.Option(
        None, "--labels", help="Bouts CSV to edit (default: STORE/_app/labels.csv); autosaved."
    ),
    head: Optional[Path] = typer.Option(None, "--head", help="A trained head to show predictions from."),
    port: Optional[int] = typer.Option(None, "--port", help="Port (default: a free one)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind (default: this machine only)."),
    exclusive: Optional[bool] = typer.Option(
        None,
        "--exclusive/--multi-label",
        help="May bouts overlap? Default: as in the labels file (exclusive unless behaviours overlap there).",
    ),
    subject: Optional[str] = typer.Option(None, "--subject", help=SUBJECT_HELP),
    motifs: Optional[Path] = typer.Option(
        None,
        "--motifs",
        help="A folder `ethoprism discover` wrote: its motifs as a band, to jump through, to name.",
    ),
):
    """Watch, label, train, correct and label what matters next, in a browser (localhost)."""
    from ethoprism.app.project import Project
    from ethoprism.app.server import serve

    if host not in ("127.0.0.1", "localhost", "::1"):
        console.print(
            f"[bold yellow]warning:[/] serving on {host}: anyone who can reach it and has the token "
            "can read your videos and labels"
        )
    if port is not None and not 1 <= port <= 65535:
        raise EthoprismError(f"--port must be 1 to 65535, not {port}")
    project = Project(store, labels, head, exclusive, subject, motifs)
    for note in project.notes:
        console.print(note, highlight=False)
    serve(
        project,
        host,
        port,
        announce=lambda url: console.print(f"open {url}", highlight=False, soft_wrap=True),
    )


def register(app: typer.Typer) -> None:
    app.command("app")(reports_errors(app_command))
