"""Settings and system for command-line use."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated
from uuid import uuid4

import typer

from shared.auth import AuthenticationFailed, Authenticator
from shared.domain import DomainError, Meta, Role
from shared.policy import Principal, check
from shared.settings import Settings, SettingsError, development_settings

Token = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="ECM_TOKEN",
        show_envvar=True,
        help="Bearer token of the person running the command (or set ECM_TOKEN).",
    ),
]
DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Data folder (default: ECM_DATA_DIR, else ./var).")
]
DEV_OPERATOR = Principal(user_id="dev-operator", role=Role.ADMIN)

# Exit codes of every `ecm` command (README, Exit codes): 0 done; 1 the operation failed (a
# replayed message still fails, a mismatch, nats-server would not start); 2 bad usage or
# settings; 3 not authenticated or forbidden; 4 the data folder is in use by another process.
EXIT_FAILED, EXIT_USAGE, EXIT_AUTH, EXIT_IN_USE = 1, 2, 3, 4


def settings_or_exit(data_dir: Path | None) -> Settings:
    """Settings for a command, or a clear message and exit code 2."""
    try:
        return load_settings(data_dir)
    except (SettingsError, ValueError) as e:
        typer.echo(f"settings: {e}", err=True)
        raise typer.Exit(2) from None


def authorise(
    settings: Settings, token: str | None, action: str, *, dev_operator: bool = False
) -> Principal:
    """The caller named by the token, if the policy lets them do `action`; exits otherwise.

    With `dev_operator`, dev mode without a token acts as a local operator (role admin), still
    checked by the policy; outside dev mode a token is always needed.
    """
    if not token and dev_operator and settings.dev_mode:
        principal = DEV_OPERATOR
    elif not token:
        typer.echo("not authenticated: pass --token or set ECM_TOKEN", err=True)
        raise typer.Exit(3)
    else:
        try:
            principal = Authenticator(settings).authenticate(f"Bearer {token}")
        except AuthenticationFailed:
            typer.echo("not authenticated: the token was refused", err=True)
            raise typer.Exit(3) from None
    try:
        check(principal, action)
    except DomainError:
        typer.echo("forbidden", err=True)
        raise typer.Exit(3) from None
    return principal


def cli_meta(principal: Principal, reason: str | None) -> Meta:
    """Event metadata for a command started here: actor from the token, a new conversation."""
    conversation = f"cli-{uuid4()}"
    return Meta(principal.user_id, str(principal.role), conversation, conversation, reason)


def load_settings(data_dir: Path | None = None) -> Settings:
    """Settings for a command; a running `ecm up` in the same data folder supplies its NATS URL."""
    settings = _load(data_dir)
    run_file = settings.data_path / "run.json"
    if settings.nats_url is None and run_file.exists():
        running = json.loads(run_file.read_text())
        settings = settings.model_copy(update={"nats_url": running["nats_url"]})
    return settings


def _load(data_dir: Path | None) -> Settings:
    """Settings from the environment; dev mode only when ECM_DEV_MODE says so.

    In dev mode the secrets `ecm up` generated in the data folder are used; outside it the
    environment alone, and placeholder secrets are refused.
    """
    folder = data_dir or Path(os.environ.get("ECM_DATA_DIR", "var"))
    explicit = os.environ.get("ECM_DEV_MODE", "")
    if explicit.lower() in ("1", "true", "yes"):
        return development_settings(folder)
    return Settings(data_dir=folder)
