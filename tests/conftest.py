"""Fixtures: settings on a temporary data folder, a real nats-server, PostgreSQL by setting."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.runtime import System, create_api
from shared.auth import mint_token
from shared.domain import Area, Role
from shared.natsserver import EmbeddedNats
from shared.settings import Settings, development_settings

POSTGRES_URL = os.environ.get("ECM_TEST_POSTGRES_URL")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Dev-mode settings on a fresh data folder with SQLite stores."""
    return development_settings(tmp_path / "var")


@pytest.fixture
def pg_settings(tmp_path: Path) -> Iterator[Settings]:
    """Settings on PostgreSQL, each test in its own schemas (dropped afterwards)."""
    if not POSTGRES_URL:
        pytest.skip("ECM_TEST_POSTGRES_URL is not set: PostgreSQL suite skipped")
    import psycopg

    run = uuid.uuid4().hex[:8]
    settings = development_settings(
        tmp_path / "var", postgres_url=POSTGRES_URL, pg_schema_prefix=f"t{run}_"
    )
    yield settings
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (f"t{run}_%",)
        ).fetchall()
        for (name,) in rows:
            conn.execute(f'DROP SCHEMA "{name}" CASCADE')


@pytest.fixture
def system(settings: Settings) -> Iterator[System]:
    """Every service on SQLite in a temporary folder."""
    built = System.build(settings)
    yield built
    built.close()


@pytest.fixture
def client(system: System) -> Iterator[TestClient]:
    """An HTTP client for the whole API."""
    with TestClient(create_api(system)) as c:
        yield c


class Tokens:
    """Bearer headers for any role and area."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def __call__(
        self, role: Role | str, area: Area | str | None = Area.BRISTOL, user: str | None = None
    ) -> dict[str, str]:
        role = Role(role)
        if role != Role.CASE_MANAGER and area == Area.BRISTOL:
            area = None
        token = mint_token(self.settings, user or f"{role}-1", role, Area(area) if area else None)
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def auth(settings: Settings) -> Tokens:
    """`auth("case_manager", "bristol")` gives headers with a signed dev token."""
    return Tokens(settings)


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[EmbeddedNats]:
    """A real nats-server with JetStream from the wheel, on a free port, in a temp folder."""
    server = EmbeddedNats(tmp_path / "nats", user="ecm", password=uuid.uuid4().hex)
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def store_settings(request: pytest.FixtureRequest) -> Settings:
    """Dev-mode settings on SQLite files, then on PostgreSQL schemas (when it is configured)."""
    name = "settings" if request.param == "sqlite" else "pg_settings"
    value = request.getfixturevalue(name)
    assert isinstance(value, Settings)
    return value


@pytest.fixture(autouse=True)
def dev_mode_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands run in dev mode, as a developer runs them (ECM_DEV_MODE=true is explicit);
    tests of production behaviour set ECM_DEV_MODE=false themselves."""
    if "ECM_DEV_MODE" not in os.environ:
        monkeypatch.setenv("ECM_DEV_MODE", "true")
