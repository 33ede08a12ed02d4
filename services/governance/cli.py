"""`ecm erase`, `ecm sar`, `ecm verify` and `ecm keys rotate`: governance commands, each
checked by the policy."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from uuid import UUID

import typer

from services.cli_support import DataDir, Token, authorise, cli_meta, settings_or_exit
from shared.domain import DomainError

if TYPE_CHECKING:  # the runtime and the governance modules load when a command runs
    from shared.settings import Settings


def load_settings(data_dir: Path | None) -> Settings:
    """The settings for CLI use."""
    return settings_or_exit(data_dir)


def _fail(error: DomainError) -> typer.Exit:
    typer.echo(f"refused: {error.message}", err=True)
    return typer.Exit(1)


def erase(
    child: Annotated[UUID, typer.Argument(help="The child's pseudonymous id")],
    reason: Annotated[str, typer.Option("--reason", help="Why (e.g. the retention rule)")],
    token: Token = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation")] = False,
    data_dir: DataDir = None,
) -> None:
    """Erase a child's personal data at the end of retention (auditor only; irreversible)."""
    from services.governance.erasure import erase_child
    from services.runtime import System

    settings = load_settings(data_dir)
    principal = authorise(settings, token, "audit.erase")
    if not yes:
        typer.confirm(
            f"Destroy the key of child {child}? Their personal data becomes "
            "unreadable everywhere, for good",
            abort=True,
        )
    system = System.build(settings)
    try:
        done = erase_child(system, child, cli_meta(principal, reason), date.today())
    except DomainError as e:
        raise _fail(e) from None
    finally:
        system.close()
    state = "key destroyed" if done.key_destroyed else "key was already gone"
    typer.echo(f"erased child {child} ({state}); erasure recorded as {done.erasure_id}")


def sar(
    child: Annotated[UUID, typer.Argument(help="The child's pseudonymous id")],
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="FILE: writes FILE.html and FILE.json (or FILE.html and a sibling .json)"
        ),
    ],
    token: Token = None,
    reason: Annotated[str | None, typer.Option("--reason", help="The request's reference")] = None,
    data_dir: DataDir = None,
) -> None:
    """Write everything held about a child as HTML and JSON (auditor only)."""
    from services.governance.sar import free_output_paths, provide_subject_access, write_files
    from services.runtime import System

    settings = load_settings(data_dir)
    principal = authorise(settings, token, "audit.sar")
    try:
        free_output_paths(out)  # before the disclosure is recorded
    except FileExistsError as e:
        typer.echo(f"refused: {e}", err=True)
        raise typer.Exit(1) from None
    system = System.build(settings)
    try:
        document = provide_subject_access(
            system, child, cli_meta(principal, reason), datetime.now(UTC)
        )
    except DomainError as e:
        raise _fail(e) from None
    finally:
        system.close()
    html_path, json_path = write_files(document, out)
    typer.echo(
        f"{len(document['events'])} events about child {child} written to "
        f"{html_path} and {json_path}"
    )


def verify(
    token: Token = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
    data_dir: DataDir = None,
) -> None:
    """Verify every store against its hash chain and the latest signed anchor; name the first
    problem (a changed, missing, reordered or inserted event, a gap, a truncated or wiped
    store)."""
    from services.governance.integrity import verify as verify_chains
    from services.runtime import System

    settings = load_settings(data_dir)
    authorise(settings, token, "audit.verify")
    system = System.build(settings)
    try:
        report = verify_chains(system)
    finally:
        system.close()
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        for s in report.services:
            state = "ok" if s.mismatch is None else "MISMATCH"
            typer.echo(
                f"{s.service:15} {state:8} {s.checked} sealed events verified, "
                f"{s.unsealed} newly sealed"
            )
        typer.echo(
            f"checked against the anchor of {report.anchored_at}"
            if report.anchored_at
            else "no anchor yet: the first seal writes one"
        )
    if report.anchor_problem is not None:
        typer.echo(f"anchor file: {report.anchor_problem}", err=True)
        raise typer.Exit(1)
    first = report.first_mismatch
    if first is not None:
        typer.echo(
            f"first mismatch: {first.service} notification {first.notification_id} "
            f"({first.topic or 'unknown event'}, aggregate {first.originator_id} "
            f"v{first.originator_version}): {first.problem}",
            err=True,
        )
        raise typer.Exit(1)


def rotate(
    token: Token = None,
    new_key_file: Annotated[
        Path | None,
        typer.Option(
            "--new-key-file",
            help="Where to write the new master key when the one in use comes "
            "from the environment (default: replace the data folder's secrets/master_key)",
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation")] = False,
    data_dir: DataDir = None,
) -> None:
    """Re-wrap every live child key under a new master key and destroy the old one (admin;
    run with the system stopped)."""
    from services.governance.keys import rotate_master_key
    from shared.crypto import KeyVault, MasterKeyError, load_master_key
    from shared.sql import make_engine

    settings = load_settings(data_dir)
    authorise(settings, token, "keys.rotate")
    if not yes:
        typer.confirm(
            "Re-wrap every child key under a new master key? Stop every ECM process "
            "first; backups made before now will no longer open personal data",
            abort=True,
        )
    engine = make_engine(settings, "keys")
    try:
        vault = KeyVault(engine, load_master_key(settings.master_key))
        done = rotate_master_key(settings, vault, new_key_file=new_key_file)
    except MasterKeyError as e:
        typer.echo(f"refused: {e}", err=True)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    typer.echo(f"{done.rewrapped} child key(s) re-wrapped under a new master key")
    if done.replaced_in_place:
        typer.echo(f"the old master key is destroyed; the new one is in {done.key_file}")
    else:
        typer.echo(
            f"the new master key is in {done.key_file}: set ECM_MASTER_KEY to it for "
            "every process, then destroy the old key and this file"
        )


def register(app: typer.Typer) -> None:
    """Add `erase`, `sar`, `verify` and `keys rotate` to the `ecm` command line."""
    app.command("erase")(erase)
    app.command("sar")(sar)
    app.command("verify")(verify)
    keys = typer.Typer(help="The master key that wraps every child's key.", no_args_is_help=True)
    keys.command("rotate")(rotate)
    app.add_typer(keys, name="keys")
