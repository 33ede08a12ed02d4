"""Crypto-shredding end to end: a child's distinctive values never sit anywhere in plaintext,
and after `ecm erase` they are unreadable through every API while the history still replays.

The raw bytes of every file under the data folder (SQLite stores, WAL files, read models),
every row of the test's PostgreSQL schemas, and the JetStream store directory are scanned.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import typer
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from services.governance.cli import register as register_cli
from services.runtime import System, create_api
from shared.auth import mint_token
from shared.bus import connect
from shared.contracts import STREAM
from shared.crypto import FieldCipher, KeyVault, child_keys, is_sealed, load_master_key
from shared.domain import Area, Role
from shared.natsserver import EmbeddedNats
from shared.relay import PositionStore
from shared.settings import Settings
from shared.sql import make_engine
from tests.harness import eventually, in_thread, running_node
from tests.live import settled_audit

API = "/api/v1"
ACTOR = "cm-positive-control-7731"
CHILD = {
    "given_name": "Zephyrine-Quillfeather",
    "family_name": "Oakenshaw-Vantablack",
    "date_of_birth": "2009-03-14",
    "area": "bristol",
    "nhs_number": "401 023 2137",
    "upn": "C938411710004",
}
REASON = "Brackenwhistle-Reason-Marker: escalating synthetic risk"
TRAUMA = "Glimmerfen-Trauma-Marker: synthetic loss of a grandparent"
GIVEN_BY = "Auntie-Marrowdew-Consent"
CORRECTED = "Oakenshaw-Corrected-Marker"
TIMELINE = "Hollowmere-Timeline-Marker: synthetic house move"
DISTINCTIVE = [
    "Zephyrine",
    "Quillfeather",
    "Oakenshaw",
    "Vantablack",
    "2009-03-14",
    "4010232137",
    "C938411710004",
    "Brackenwhistle",
    "Glimmerfen",
    "Marrowdew",
    "Hollowmere",
]


@pytest.fixture(params=["sqlite", "postgres"])
def store_settings(request: pytest.FixtureRequest) -> Settings:
    fixture = "settings" if request.param == "sqlite" else "pg_settings"
    settings: Settings = request.getfixturevalue(fixture)
    return settings


def headers(
    settings: Settings, role: Role, area: Area | None = None, user: str | None = None
) -> dict[str, str]:
    token = mint_token(settings, user or f"{role}-1", role, area)
    return {"Authorization": f"Bearer {token}"}


def file_bytes(folder: Path) -> dict[Path, bytes]:
    found: dict[Path, bytes] = {}
    for p in folder.rglob("*"):
        # A running nats-server renames its *.tmp files away between listing and reading.
        with contextlib.suppress(FileNotFoundError):
            if p.is_file():
                found[p] = p.read_bytes()
    return found


def pg_dump(settings: Settings) -> str:
    """Every row of every table in the test's schemas, as PostgreSQL prints it."""
    if not settings.postgres_url:
        return ""
    import psycopg

    like = settings.pg_schema_prefix.replace("_", r"\_") + "%"
    parts: list[str] = []
    with psycopg.connect(settings.postgres_url) as conn:
        tables = conn.execute(
            "SELECT schemaname, tablename FROM pg_tables WHERE schemaname LIKE %s", (like,)
        ).fetchall()
        assert tables
        for schema, table in tables:
            rows = conn.execute(f'SELECT t::text FROM "{schema}"."{table}" t').fetchall()
            parts.extend(str(row[0]) for row in rows)
    return "\n".join(parts)


def found_in(needle: str, settings: Settings, nats: EmbeddedNats) -> list[str]:
    """Where `needle` sits in plaintext: data-folder files, PostgreSQL rows, JetStream files."""
    raw = needle.encode()
    where = [str(p) for p, data in file_bytes(settings.data_path).items() if raw in data]
    where += [str(p) for p, data in file_bytes(nats.folder / "jetstream").items() if raw in data]
    dump = pg_dump(settings)
    if needle in dump or raw.hex() in dump:
        where.append("postgresql")
    return where


async def stream_messages(settings: Settings, nats: EmbeddedNats) -> list[dict[str, Any]]:
    nc = await connect(settings, nats.url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(STREAM)
        messages = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(STREAM, seq)
            assert msg.data is not None
            messages.append(json.loads(msg.data))
        return messages
    finally:
        await nc.close()


def sealed_values(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if is_sealed(value) else []
    if isinstance(value, dict):
        return [s for v in value.values() for s in sealed_values(v)]
    if isinstance(value, list):
        return [s for v in value for s in sealed_values(v)]
    return []


def caught_up(system: System) -> Callable[[], bool]:
    positions = PositionStore(system.ops)

    def check() -> bool:
        return all(
            positions.get(name) >= app.max_notification_id() for name, app in system.apps.items()
        )

    return check


def call(
    client: TestClient,
    method: str,
    url: str,
    settings: Settings,
    role: Role,
    area: Area | None = None,
    **kwargs: Any,
) -> Any:
    response = client.request(
        method, f"{API}{url}", headers=headers(settings, role, area, ACTOR), **kwargs
    )
    assert response.status_code < 300, f"{method} {url}: {response.status_code} {response.text}"
    return response.json()


async def test_erasure_leaves_no_readable_trace_of_the_child_anywhere(
    store_settings: Settings,
    nats_server: EmbeddedNats,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = store_settings
    async with running_node(settings, nats_server) as system:
        client = TestClient(create_api(system))

        def cm(method: str, url: str, **kw: Any) -> Any:
            return call(client, method, url, settings, Role.CASE_MANAGER, Area.BRISTOL, **kw)

        def psy(method: str, url: str, **kw: Any) -> Any:
            return call(client, method, url, settings, Role.PSYCHOLOGIST, **kw)

        child_id = (await in_thread(cm, "POST", "/children", json=CHILD))["id"]
        referral_id = (
            await in_thread(
                cm,
                "POST",
                "/referrals",
                json={
                    "child_id": child_id,
                    "reason": REASON,
                    "trauma_history": TRAUMA,
                    "expected_involvement_months": 9,
                },
            )
        )["id"]
        await in_thread(
            cm,
            "POST",
            f"/referrals/{referral_id}/consent",
            json={"consent": "given", "given_by": GIVEN_BY},
        )
        await in_thread(
            psy, "POST", f"/referrals/{referral_id}/screening", json={"decision": "accept"}
        )
        await in_thread(
            cm,
            "POST",
            f"/children/{child_id}/corrections",
            json={"field": "family_name", "value": CORRECTED, "reason": "spelling corrected"},
        )
        formulation = system.apps["formulation"]
        await eventually(lambda: formulation.max_notification_id() > 0)
        await in_thread(
            psy,
            "POST",
            f"/children/{child_id}/formulation/timeline",
            json={
                "when": {"precision": "year", "year": 2015},
                "category": "move",
                "description": TIMELINE,
            },
        )
        await eventually(caught_up(system))
        before = await stream_messages(system.settings, nats_server)
        assert len(before) >= 7

        # The record reads back in full: the values exist, only ever encrypted at rest.
        child = await in_thread(cm, "GET", f"/children/{child_id}")
        assert (child["given_name"], child["family_name"]) == (CHILD["given_name"], CORRECTED)
        for needle in DISTINCTIVE:
            assert found_in(needle, settings, nats_server) == [], needle
        # Positive control: the scan does see what is stored (the actor id is not personal).
        seen = found_in(ACTOR, settings, nats_server)
        assert any(str(nats_server.folder / "jetstream") in w for w in seen)
        if settings.postgres_url:
            assert "postgresql" in seen
        else:
            assert any(
                w.endswith("referrals-events.sqlite") or "referrals-events" in w for w in seen
            )
        keys = make_engine(settings, "keys")
        with keys.connect() as conn:
            wrapped = conn.execute(
                select(child_keys.c.wrapped_key).where(child_keys.c.child_id == child_id)
            ).scalar_one()
        keys.dispose()
        statuses_before = [
            (e.event_type, e.aggregate_version)
            for e in await in_thread(settled_audit, system, UUID(child_id))
        ]

        # `ecm erase` in its own process-like run: its own System from the data folder.
        app = typer.Typer()
        register_cli(app)
        app.callback()(lambda: None)
        env = {
            "ECM_POSTGRES_URL": settings.postgres_url or "",
            "ECM_PG_SCHEMA_PREFIX": settings.pg_schema_prefix,
        }
        for name, value in env.items():
            if value:
                monkeypatch.setenv(name, value)
        auditor = mint_token(settings, "dpo-1", Role.AUDITOR, None)
        result = await in_thread(
            CliRunner().invoke,
            app,
            [
                "erase",
                child_id,
                "--reason",
                "end of retention (synthetic)",
                "--yes",
                "--token",
                auditor,
                "--data-dir",
                str(settings.data_path),
            ],
        )
        assert result.exit_code == 0, result.output
        assert "key destroyed" in result.output

        # Unreadable through every API (the node's key cache lapses within seconds).
        def erased_view() -> Any:
            view = cm("GET", f"/children/{child_id}")
            return view if view["erased"] and view["given_name"] is None else None

        child = await eventually(erased_view, timeout=10)
        assert {
            k: child[k] for k in ("given_name", "family_name", "date_of_birth", "nhs_number", "upn")
        } == dict.fromkeys(("given_name", "family_name", "date_of_birth", "nhs_number", "upn"))
        assert child["area"] == "bristol" and child["referral_ids"] == [referral_id]
        referral = await in_thread(cm, "GET", f"/referrals/{referral_id}")
        assert (referral["reason"], referral["trauma_history"]) == (None, None)
        assert (referral["status"], referral["area"], referral["consent"]) == (
            "accepted",
            "bristol",
            "given",
        )
        responses = await in_thread(
            every_get_response,
            client,
            system,
            settings,
            {"child_id": child_id, "referral_id": referral_id},
        )
        assert len(responses) > 5
        for url, text in responses.items():
            leaked = [n for n in DISTINCTIVE if n in text]
            assert leaked == [], url
        sar = await in_thread(
            call, client, "GET", f"/audit/children/{child_id}/sar", settings, Role.AUDITOR
        )
        assert sar["erased"] is True
        assert not [n for n in DISTINCTIVE if n in json.dumps(sar)]

        # The non-personal history still replays: every event loads, nothing else changed.
        history = await in_thread(settled_audit, system, UUID(child_id), decrypt=True)
        assert [(e.event_type, e.aggregate_version) for e in history][
            : len(statuses_before)
        ] == statuses_before
        assert "ChildErased" in [e.event_type for e in history]
        accepted = next(e for e in history if e.event_type == "ReferralAccepted")
        assert accepted.data["area"] == "bristol" and accepted.actor_id == ACTOR
        registered = next(e for e in history if e.event_type == "ChildRegistered")
        assert registered.data["given_name"] is None and registered.occurred_at

        # The erasure is published; every sealed value on the bus now opens to nothing.
        await eventually(caught_up(system))
        after = await stream_messages(system.settings, nats_server)
        erased = [m for m in after if m["event_type"] == "ChildErased"]
        assert [m["data"]["child_id"] for m in erased] == [child_id]
        fresh = KeyVault(make_engine(settings, "keys"), load_master_key(settings.master_key))
        cipher = FieldCipher(fresh)
        ours = [v for m in after if m["child_id"] == child_id for v in sealed_values(m["data"])]
        assert len(ours) >= 8
        assert {cipher.open(child_id, "any", v, event="any") for v in ours} == {None}
        fresh.engine.dispose()

        # Still no plaintext anywhere, and no copy of the destroyed key in the data folder.
        for needle in DISTINCTIVE:
            assert found_in(needle, settings, nats_server) == [], needle
        if not settings.postgres_url:
            holding = [
                p for p, data in file_bytes(settings.data_path).items() if bytes(wrapped) in data
            ]
            assert holding == []


def every_get_response(
    client: TestClient, system: System, settings: Settings, ids: dict[str, str]
) -> dict[str, str]:
    """GET every route whose path parameters are the child's or referral's id, as the roles
    allowed to read it (a Bristol case manager for area-scoped reads)."""
    from shared.policy import POLICY
    from tests.e2e.test_authorisation import actions_of, api_routes

    responses: dict[str, str] = {}
    for path, route in api_routes(client.app):  # type: ignore[arg-type]
        names = [p.name for p in route.dependant.path_params]
        if (
            "GET" not in (route.methods or ())
            or not path.startswith(API)
            or any(n not in ids for n in names)
        ):
            continue
        (action,) = actions_of(route)
        url = path
        for name in names:
            url = url.replace("{" + name + "}", ids[name])
        for role in sorted(POLICY[action].roles):
            response = client.get(url, headers=headers(settings, role, Area.BRISTOL))
            responses[f"{role} {url}"] = response.text
    return responses
