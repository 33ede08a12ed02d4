"""`ecm evaluate` and `ecm evaluation-project`: exports for the research team, from the CLI."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from services.cli_support import (
    EXIT_USAGE,
    DataDir,
    Token,
    authorise,
    settings_or_exit,
)
from shared.domain import Area, DomainError

projects_cli = typer.Typer(
    help="Evaluation projects (each with its own pseudonym secret).", no_args_is_help=True
)


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        typer.echo(f"{option}: not a date (YYYY-MM-DD): {value!r}", err=True)
        raise typer.Exit(EXIT_USAGE) from None


def evaluate(
    project: Annotated[str, typer.Option(help="The evaluation project")],
    start: Annotated[str, typer.Option("--from", help="First referral day of the cohort")],
    end: Annotated[str, typer.Option("--to", help="Last referral day of the cohort")],
    out: Annotated[Path, typer.Option(help="Folder to write the export to")],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The record as it stood at the end of this day")
    ] = None,
    area: Annotated[Area | None, typer.Option(help="One YJS area only")] = None,
    threshold: Annotated[
        int, typer.Option(min=1, max=100, help="Small-number suppression threshold")
    ] = 5,
    data_dir: DataDir = None,
    token: Token = None,
) -> None:
    """Write a pseudonymised export (CSV, Parquet, data dictionary, HTML report) to a folder."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from services.evaluation import outputs
    from services.evaluation import service as evaluation
    from services.runtime import System

    settings = settings_or_exit(data_dir)
    authorise(settings, token, "evaluation.export")
    first, last = _day(start, "--from"), _day(end, "--to")
    assert first is not None and last is not None
    system = System.build(settings)
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
        ) as progress:
            reading = progress.add_task("reading the record", total=None)
            result = evaluation.export(
                system,
                project,
                first,
                last,
                _day(as_of, "--as-of"),
                str(area) if area else None,
                threshold,
                step=lambda n: progress.advance(reading, n),
            )
            progress.update(reading, total=1, completed=1)
            writing = progress.add_task("writing the export", total=len(result.tables) + 1)
            written = outputs.write(result, out, step=lambda _name: progress.advance(writing))
    except DomainError as e:
        typer.echo(e.message, err=True)
        raise typer.Exit(EXIT_USAGE) from None
    finally:
        system.close()
    typer.echo(f"{len(result.tables['children'].rows)} children; {len(written)} files in {out}")


@projects_cli.command("create")
def create_project(
    project: Annotated[str, typer.Argument(help="A short id: a-z, 0-9 and '-'")],
    title: Annotated[str, typer.Option(help="What the project is")],
    data_dir: DataDir = None,
    token: Token = None,
) -> None:
    """Start an evaluation project with a fresh secret (never rotated: start a new project)."""
    from services.evaluation import service as evaluation
    from services.runtime import System

    settings = settings_or_exit(data_dir)
    principal = authorise(settings, token, "evaluation.project", dev_operator=True)
    system = System.build(settings, ["evaluation"])
    try:
        made = evaluation.projects(system).create(project, title, principal.user_id)
    except DomainError as e:
        typer.echo(e.message, err=True)
        raise typer.Exit(EXIT_USAGE) from None
    finally:
        system.close()
    typer.echo(f"project {made.project_id} created")


@projects_cli.command("list")
def list_projects(data_dir: DataDir = None, token: Token = None) -> None:
    """The evaluation projects (never their secrets)."""
    from services.evaluation import service as evaluation
    from services.runtime import System

    settings = settings_or_exit(data_dir)
    authorise(settings, token, "evaluation.project", dev_operator=True)
    system = System.build(settings, ["evaluation"])
    try:
        for row in evaluation.projects(system).list():
            typer.echo(f"{row['project_id']}\t{row['title']}\t{row['created_at']:%Y-%m-%d}")
    finally:
        system.close()


def register(app: typer.Typer) -> None:
    """Add the evaluation commands to `ecm` (once)."""
    if any(command.name == "evaluate" for command in app.registered_commands):
        return
    app.command("evaluate")(evaluate)
    app.add_typer(projects_cli, name="evaluation-project")
