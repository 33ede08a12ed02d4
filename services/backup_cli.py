"""`ecm backup` and `ecm restore`: a cold backup of the embedded data folder and its restore."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from services.cli_support import (
    EXIT_FAILED,
    EXIT_IN_USE,
    EXIT_USAGE,
    DataDir,
    Token,
    authorise,
    settings_or_exit,
)


def backup(
    out: Annotated[Path, typer.Argument(help="A new (or empty) folder for the backup")],
    data_dir: DataDir = None,
    token: Token = None,
) -> None:
    """Back up a stopped embedded data folder: stores (keys last), stream, dev secrets."""
    from services.backup import BackupError
    from services.backup import backup as take_backup
    from shared.instance import FolderInUse

    settings = settings_or_exit(data_dir)
    authorise(settings, token, "ops.backup", dev_operator=True)
    if settings.postgres_url:
        typer.echo(
            "PostgreSQL stores are backed up with pg_dump: see README, Backup and restore", err=True
        )
        raise typer.Exit(EXIT_USAGE)
    try:
        manifest = take_backup(settings.data_path, out.resolve())
    except FolderInUse as e:
        typer.echo(f"{e} (a backup needs the system stopped)", err=True)
        raise typer.Exit(EXIT_IN_USE) from None
    except BackupError as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(EXIT_FAILED) from None
    typer.echo(f"backed up {len(manifest['stores'])} stores to {out}")
    if manifest["master_key_included"]:
        typer.echo(
            "this backup holds the master key (dev mode): keep it as safe as the key", err=True
        )
    else:
        typer.echo(
            "the master key is not in the backup: without ECM_MASTER_KEY no child's "
            "record can be read",
            err=True,
        )


def restore(
    source: Annotated[Path, typer.Argument(help="A folder written by `ecm backup`")],
    data_dir: DataDir = None,
) -> None:
    """Restore a backup into an empty data folder (keys first), then start `ecm up` on it."""
    from services.backup import BackupError
    from services.backup import restore as restore_backup
    from shared.instance import FolderInUse

    folder = (data_dir or Path(os.environ.get("ECM_DATA_DIR", "var"))).resolve()
    try:
        manifest = restore_backup(source.resolve(), folder)
    except FolderInUse as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(EXIT_IN_USE) from None
    except BackupError as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(EXIT_FAILED) from None
    typer.echo(
        f"restored {len(manifest['stores'])} stores from {source} "
        f"(taken {manifest['taken_at']}) into {folder}"
    )


def register(app: typer.Typer) -> None:
    """Add `backup` and `restore` to the `ecm` command line."""
    app.command("backup")(backup)
    app.command("restore")(restore)
