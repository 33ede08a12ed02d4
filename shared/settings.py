"""One settings object for every process: environment variables with the prefix ECM_."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Literal, Self
from urllib.parse import unquote, urlsplit

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
PLACEHOLDERS = frozenset({"", "changeme", "change-me", "secret", "placeholder", "dev"})
SERVICES = ("referrals", "formulation", "reviews", "notifications")


class SettingsError(ValueError):
    """The settings are unsafe or incomplete for the chosen mode."""


class Settings(BaseSettings):
    """Configuration of ECM Record; read once at start, passed explicitly afterwards."""

    model_config = SettingsConfigDict(env_prefix="ECM_", extra="ignore", hide_input_in_errors=True)

    data_dir: Path = Field(default=Path("var"), description="One folder for all local state.")
    dev_mode: bool = Field(default=False, description="Allows generated secrets and dev tokens.")
    secret_key: str = Field(default="", description="HMAC secret for development tokens.")
    master_key: str = Field(default="", description="Base64 32-byte key wrapping child keys.")
    postgres_url: str | None = Field(default=None, description="PostgreSQL URL; SQLite if unset.")
    pg_schema_prefix: str = Field(default="", description="Prefix for every PostgreSQL schema.")
    nats_url: str | None = Field(default=None, description="External NATS; embedded if unset.")
    nats_user: str | None = None
    nats_password: str | None = None
    nats_identities_dir: Path | None = Field(
        default=None,
        description="One file per NATS user (ecm-<service>) holding its password: "
        "each service connects as itself.",
    )
    nats_sync_interval: str = Field(default="always", description="JetStream fsync policy.")
    stream_replicas: int = Field(default=1, ge=1, le=5)
    signing_keys_dir: Path | None = Field(
        default=None,
        description="Ed25519 keys: <service>.key to sign, <service>.pub to trust "
        "(default <data>/secrets/signing; dev mode generates them).",
    )
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=0, le=65535)
    auth_failures_per_minute: int = Field(
        default=30,
        ge=1,
        description="Failed "
        "authentications a client may make per minute "
        "before it is answered 429.",
    )
    idempotency_ttl_seconds: int = Field(
        default=86_400,
        ge=60,
        le=30 * 86_400,
        description="How long an Idempotency-Key replays its first response.",
    )
    max_body_bytes: int = Field(
        default=1_048_576,
        ge=1_024,
        le=64 * 1_048_576,
        description="Largest request body accepted (413 beyond it, "
        "refused before the body is read).",
    )
    nats_port: int = Field(default=4322, ge=0, le=65535, description="Embedded NATS port.")
    relay_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        description="The relay's fallback poll; it is woken when its application commits.",
    )
    relay_batch_size: int = Field(default=200, ge=1, le=10_000)
    consumer_batch_size: int = Field(default=200, ge=1, le=10_000)
    ready_max_consumer_lag: int = Field(
        default=10_000, ge=0, description="/health/ready fails while a consumer lags more."
    )
    consumer_max_deliver: int = Field(default=5, ge=1, description="Attempts before parking.")
    consumer_backoff_seconds: list[float] = Field(default=[0.5, 2.0, 10.0, 30.0])
    token_ttl_seconds: int = Field(default=8 * 3600, gt=0)
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    oidc_jwks_url: str | None = None
    oidc_jwks_file: Path | None = None
    oidc_role_claim: str = "ecm_role"
    oidc_area_claim: str = "ecm_area"
    oidc_leeway_seconds: int = Field(default=60, ge=0)
    review_weeks_default: int = Field(default=6, ge=1, le=52)
    log_format: Literal["auto", "json", "text"] = Field(
        default="auto", description="auto: readable text in dev mode, JSON lines otherwise."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    pg_pool_size: int = Field(
        default=5, ge=1, le=100, description="Read-side SQLAlchemy pool (one per database)."
    )
    pg_max_overflow: int = Field(default=5, ge=0, le=100)
    pg_pool_timeout: float = Field(
        default=10.0, gt=0, description="Seconds to wait for a pooled connection."
    )
    pg_store_pool_size: int = Field(
        default=2, ge=1, le=100, description="eventsourcing pool per service store."
    )
    pg_store_max_overflow: int = Field(default=2, ge=0, le=100)
    tick_seconds: float = Field(default=3600.0, gt=0)

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Self:
        for name in ("secret_key", "master_key", "nats_password"):
            value = getattr(self, name) or ""
            if value and value.strip().lower() in PLACEHOLDERS:
                raise SettingsError(f"{name}: a placeholder is refused in every mode")
        if self.dev_mode:
            if self.oidc_issuer is not None:
                raise SettingsError(
                    "dev_mode: refused with OIDC configured (development "
                    "tokens would bypass it); unset ECM_DEV_MODE"
                )
            if self.api_host not in LOOPBACK:
                raise SettingsError(
                    f"dev_mode: refused on the non-loopback address "
                    f"{self.api_host!r}; dev mode serves this machine only"
                )
            return self
        if self.secret_key.strip().lower() in PLACEHOLDERS and self.oidc_issuer is None:
            raise SettingsError(
                "secret_key: a real ECM_SECRET_KEY (or OIDC settings) is required outside dev mode"
            )
        if self.master_key.strip().lower() in PLACEHOLDERS:
            raise SettingsError("master_key: a real ECM_MASTER_KEY is required outside dev mode")
        return self

    @property
    def json_logs(self) -> bool:
        """Whether log lines are JSON (production) or readable text (development)."""
        return self.log_format == "json" or (self.log_format == "auto" and not self.dev_mode)

    @property
    def data_path(self) -> Path:
        """The data folder as an absolute path."""
        return self.data_dir.resolve()

    def pg_schema(self, name: str) -> str:
        """The PostgreSQL schema for the store called `name`."""
        return f"{self.pg_schema_prefix}ecm_{name}".replace("-", "_")

    @property
    def signing_keys_path(self) -> Path:
        """Where the services' signing keys are."""
        return self.signing_keys_dir or self.data_path / "secrets" / "signing"

    def sqlite_path(self, name: str) -> Path:
        """Where the SQLite file for `name` lives."""
        return self.data_path / "db" / f"{name}.sqlite"

    def sqlalchemy_url(self, schema: str) -> str:
        """A SQLAlchemy URL for the read-side store called `schema`."""
        if self.postgres_url:
            url = self.postgres_url
            if url.startswith("postgresql://") or url.startswith("postgres://"):
                url = "postgresql+psycopg://" + url.split("://", 1)[1]
            return url
        return f"sqlite:///{self.sqlite_path(schema)}"

    def eventsourcing_env(self, service: str) -> dict[str, str]:
        """The eventsourcing environment for one service's event store.

        Snapshots stay off whatever the environment says: a snapshot is the aggregate's state,
        which holds personal fields in clear; replaying a child's events is fast enough.
        """
        return {**self._store_env(service), "IS_SNAPSHOTTING_ENABLED": "n"}

    def _store_env(self, service: str) -> dict[str, str]:
        if not self.postgres_url:
            path = private_file(self.sqlite_path(f"{service}-events"))
            return {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(path),
                "SQLITE_LOCK_TIMEOUT": "10",
            }
        parts = urlsplit(self.postgres_url)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": parts.path.lstrip("/") or "postgres",
            "POSTGRES_HOST": parts.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            "POSTGRES_SCHEMA": self.pg_schema(service),
            "POSTGRES_POOL_SIZE": str(self.pg_store_pool_size),
            "POSTGRES_MAX_OVERFLOW": str(self.pg_store_max_overflow),
            "CREATE_TABLE": "y",
        }


def nats_servers(settings: Settings, url: str | None = None) -> list[str]:
    """The NATS servers to connect to: `url` or ECM_NATS_URL, comma-separated, else embedded."""
    given = url or settings.nats_url or f"nats://127.0.0.1:{settings.nats_port}"
    servers = [part.strip() for part in given.split(",") if part.strip()]
    if not servers:
        raise SettingsError(f"nats_url: no server in {given!r}")
    return servers


def private_dir(path: Path) -> Path:
    """`path` as a folder only its owner can enter (0700), made with its parents if missing."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_uid == os.getuid() and (path.stat().st_mode & 0o077):
        path.chmod(0o700)
    return path


def private_file(path: Path) -> Path:
    """`path` as a file only its owner can read (0600), in private folders, made if missing
    (SQLite then gives its -wal and -shm files the same mode)."""
    for folder in reversed(path.parents[:2]):
        private_dir(folder)
    path.touch(mode=0o600, exist_ok=True)
    if path.stat().st_uid == os.getuid() and path.stat().st_mode & 0o077:
        path.chmod(0o600)
    return path


def development_settings(data_dir: Path, **overrides: object) -> Settings:
    """Settings for dev mode: secrets are generated once and kept in the data folder."""
    data_dir = private_dir(data_dir.resolve())
    secrets_dir = private_dir(data_dir / "secrets")
    values: dict[str, object] = {"data_dir": data_dir, "dev_mode": True}
    generators: dict[str, Callable[[], str]] = {
        "secret_key": lambda: secrets.token_urlsafe(32),
        "master_key": _new_master_key,
        "nats_password": lambda: secrets.token_urlsafe(24),
    }
    for name, make in generators.items():  # a value from the environment wins
        if os.environ.get(f"ECM_{name.upper()}"):
            continue
        path = secrets_dir / name
        if not path.exists():
            path.write_text(make())
            path.chmod(0o600)
        values[name] = path.read_text().strip()
    if not os.environ.get("ECM_NATS_USER"):
        values["nats_user"] = "ecm"
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def _new_master_key() -> str:
    import base64

    return base64.b64encode(secrets.token_bytes(32)).decode()
