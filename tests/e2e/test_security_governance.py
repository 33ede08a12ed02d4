"""Audit trail, subject access, erasure and integrity over HTTP and the `ecm` command line."""

from __future__ import annotations

import json
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from services.governance.cli import register
from services.runtime import System
from shared.auth import mint_token
from shared.domain import Area, Role
from shared.natsserver import EmbeddedNats
from shared.settings import Settings
from tests.conftest import Tokens
from tests.live import node_in_thread, settled_audit

API = "/api/v1"
CHILD = {
    "given_name": "Ophelia-Auditable",
    "family_name": "Synthetic",
    "area": "bristol",
    "date_of_birth": "2011-04-05",
    "nhs_number": "401 023 2137",
}
TRAUMA = "Cindervale-Trauma-Marker"


@pytest.fixture
def live(system: System, nats_server: EmbeddedNats) -> Iterator[System]:
    """The system's relays and consumers running: the audit index follows the stream."""
    with node_in_thread(system, nats_server) as running:
        yield running


def settle(system: System, child_id: str) -> None:
    """Wait until the audit index holds every published event of the stores."""
    settled_audit(system, UUID(child_id))


def seed(client: TestClient, auth: Tokens) -> tuple[str, str]:
    child = client.post(f"{API}/children", json=CHILD, headers=auth("case_manager"))
    assert child.status_code == 201, child.text
    child_id = child.json()["id"]
    referral = client.post(
        f"{API}/referrals",
        headers=auth("case_manager"),
        json={
            "child_id": child_id,
            "reason": "Synthetic reason text",
            "trauma_history": TRAUMA,
            "expected_involvement_months": 8,
        },
    )
    assert referral.status_code == 201, referral.text
    consent = client.post(
        f"{API}/referrals/{referral.json()['id']}/consent",
        headers=auth("case_manager"),
        json={"consent": "given", "given_by": "Parent-Synthetic"},
    )
    assert consent.status_code == 200, consent.text
    return child_id, referral.json()["id"]


def test_the_audit_trail_shows_who_what_when_and_why_without_personal_values(
    client: TestClient, auth: Tokens, live: System
) -> None:
    child_id, referral_id = seed(client, auth)
    fix = client.post(
        f"{API}/children/{child_id}/corrections",
        headers=auth("case_manager"),
        json={
            "field": "given_name",
            "value": "Ophelia-Corrected",
            "reason": "misspelt at registration",
        },
    )
    assert fix.status_code == 200, fix.text
    settle(live, child_id)
    trail = client.get(f"{API}/audit/children/{child_id}", headers=auth("auditor"))
    assert trail.status_code == 200, trail.text
    body = trail.json()
    kinds = [e["event_type"] for e in body["events"]]
    assert kinds == [
        "ChildRegistered",
        "ChildReferred",
        "ReferralMade",
        "ConsentRecorded",
        "ChildCorrected",
    ]
    made = body["events"][2]
    assert made["actor"] == {"id": "case_manager-1", "role": "case_manager"}
    assert made["aggregate_id"] == referral_id and made["occurred_at"]
    assert made["data"]["expected_involvement_months"] == 8
    assert set(made["personal_fields"]) >= {"reason", "trauma_history"}
    assert "trauma_history" not in made["data"]
    assert body["events"][-1]["reason"] == "misspelt at registration"
    assert body["events"][-1]["data"]["field"] == "given_name"
    for secret in ("Ophelia", "Cindervale", "Parent-Synthetic", "2011-04-05", "4010232137"):
        assert secret not in trail.text
    assert (
        client.get(f"{API}/audit/children/{child_id}", headers=auth("psychologist")).status_code
        == 403
    )
    unknown = client.get(
        f"{API}/audit/children/00000000-0000-4000-8000-000000000000", headers=auth("auditor")
    )
    assert unknown.status_code == 404


def test_subject_access_gives_everything_decrypted_and_records_the_disclosure(
    client: TestClient, auth: Tokens, live: System
) -> None:
    child_id, _ = seed(client, auth)
    settle(live, child_id)
    sar = client.get(
        f"{API}/audit/children/{child_id}/sar",
        headers=auth("auditor"),
        params={"reason": "SAR-2030-17"},
    )
    assert sar.status_code == 200, sar.text
    document = sar.json()
    assert document["erased"] is False
    registered = document["events"][0]
    assert registered["data"]["given_name"] == "Ophelia-Auditable"
    assert registered["data"]["nhs_number"] == "4010232137"
    assert any(e["data"].get("trauma_history") == TRAUMA for e in document["events"])
    child_record = next(r for r in document["current_record"] if r["aggregate_id"] == child_id)
    assert child_record["state"]["given_name"] == "Ophelia-Auditable"
    html = client.get(
        f"{API}/audit/children/{child_id}/sar", headers=auth("auditor"), params={"format": "html"}
    )
    assert html.headers["content-type"].startswith("text/html")
    assert "Ophelia-Auditable" in html.text and "Subject access report" in html.text
    settle(live, child_id)
    trail = client.get(f"{API}/audit/children/{child_id}", headers=auth("auditor")).json()
    disclosures = [e for e in trail["events"] if e["event_type"] == "SubjectAccessProvided"]
    assert len(disclosures) == 2
    assert disclosures[0]["actor"]["role"] == "auditor"
    assert disclosures[0]["reason"] == "SAR-2030-17"
    for role in ("case_manager", "psychologist", "admin", "evaluator", "partner"):
        refused = client.get(f"{API}/audit/children/{child_id}/sar", headers=auth(role))
        assert refused.status_code == 403 and refused.json()["detail"] == "forbidden"


def test_erasure_over_http_needs_an_auditor_and_a_reason_and_happens_once(
    client: TestClient, auth: Tokens, live: System
) -> None:
    child_id, referral_id = seed(client, auth)
    url = f"{API}/audit/children/{child_id}/erasure"
    missing = client.post(url, json={}, headers=auth("auditor"))
    assert missing.status_code == 422 and missing.json()["field"] == "reason"
    assert (
        client.post(
            url, json={"reason": "retention ended"}, headers=auth("case_manager")
        ).status_code
        == 403
    )
    assert (
        client.post(url, json={"reason": "retention ended"}, headers=auth("admin")).status_code
        == 403
    )
    done = client.post(url, json={"reason": "retention ended"}, headers=auth("auditor"))
    assert done.status_code == 200, done.text
    assert done.json()["key_destroyed"] is True
    again = client.post(url, json={"reason": "retention ended"}, headers=auth("auditor"))
    assert again.status_code == 409 and "already erased" in again.json()["detail"]
    unknown = client.post(
        f"{API}/audit/children/00000000-0000-4000-8000-000000000000/erasure",
        json={"reason": "retention ended"},
        headers=auth("auditor"),
    )
    assert unknown.status_code == 404
    child = client.get(f"{API}/children/{child_id}", headers=auth("case_manager")).json()
    assert child["erased"] is True and child["given_name"] is None
    assert child["nhs_number"] is None and child["area"] == "bristol"
    referral = client.get(f"{API}/referrals/{referral_id}", headers=auth("case_manager")).json()
    assert referral["trauma_history"] is None and referral["consent"] == "given"
    # Nothing personal can be written for an erased child.
    refused = client.post(
        f"{API}/children/{child_id}/corrections",
        headers=auth("case_manager"),
        json={"field": "given_name", "value": "New", "reason": "typo fix"},
    )
    assert refused.status_code == 409
    settle(live, child_id)
    trail = client.get(f"{API}/audit/children/{child_id}", headers=auth("auditor")).json()
    assert trail["erased"] is True
    erased = [e for e in trail["events"] if e["event_type"] == "ChildErased"]
    assert erased[0]["reason"] == "retention ended"
    assert erased[0]["data"]["key_destroyed"] is True


def test_the_integrity_endpoint_verifies_every_store(client: TestClient, auth: Tokens) -> None:
    seed(client, auth)
    first = client.get(f"{API}/audit/integrity", headers=auth("auditor"))
    assert first.status_code == 200 and first.json()["ok"] is True
    second = client.get(f"{API}/audit/integrity", headers=auth("admin")).json()
    referrals = next(s for s in second["services"] if s["service"] == "referrals")
    assert referrals["checked"] == 4 and second["first_mismatch"] is None
    assert client.get(f"{API}/audit/integrity", headers=auth("psychologist")).status_code == 403


@pytest.fixture
def cli(system: System) -> typer.Typer:
    app = typer.Typer()
    register(app)
    app.callback()(lambda: None)
    return app


def run(
    cli: typer.Typer,
    settings: Settings,
    *args: str,
    token: str | None = None,
    stdin: str | None = None,
) -> Any:
    env = {"ECM_TOKEN": token} if token else {}
    return CliRunner().invoke(
        cli, [*args, "--data-dir", str(settings.data_path)], env=env, input=stdin
    )


def test_ecm_sar_writes_an_html_document_and_a_json_file(
    client: TestClient,
    auth: Tokens,
    settings: Settings,
    cli: typer.Typer,
    tmp_path: Path,
    live: System,
) -> None:
    child_id, _ = seed(client, auth)
    settle(live, child_id)
    auditor = mint_token(settings, "dpo-1", Role.AUDITOR, None)
    out = tmp_path / "out" / "sar-request-17"
    result = run(cli, settings, "sar", child_id, "--out", str(out), token=auditor)
    assert result.exit_code == 0, result.output
    page = (tmp_path / "out" / "sar-request-17.html").read_text()
    data = json.loads((tmp_path / "out" / "sar-request-17.json").read_text())
    assert "Ophelia-Auditable" in page and TRAUMA in page
    assert data["child_id"] == child_id and data["produced_by"]["id"] == "dpo-1"
    assert [e["notification_id"] for e in data["events"] if e["service"] == "referrals"] == sorted(
        e["notification_id"] for e in data["events"] if e["service"] == "referrals"
    )
    assert stat.S_IMODE((tmp_path / "out" / "sar-request-17.json").stat().st_mode) == 0o600


def test_ecm_erase_and_sar_refuse_anyone_but_an_auditor(
    client: TestClient, auth: Tokens, settings: Settings, cli: typer.Typer, tmp_path: Path
) -> None:
    child_id, _ = seed(client, auth)
    manager = mint_token(settings, "cm-1", Role.CASE_MANAGER, Area.BRISTOL)
    for args in (
        ["erase", child_id, "--reason", "retention ended", "--yes"],
        ["sar", child_id, "--out", str(tmp_path / "x")],
    ):
        refused = run(cli, settings, *args, token=manager)
        assert refused.exit_code == 3 and "forbidden" in refused.output
        anonymous = run(cli, settings, *args)
        assert anonymous.exit_code == 3 and "not authenticated" in anonymous.output
        forged = run(cli, settings, *args, token="not-a-token")
        assert forged.exit_code == 3
    assert not (tmp_path / "x.html").exists()
    child = client.get(f"{API}/children/{child_id}", headers=auth("case_manager")).json()
    assert child["erased"] is False


def test_ecm_erase_asks_for_confirmation_unless_told_yes(
    client: TestClient, auth: Tokens, settings: Settings, cli: typer.Typer
) -> None:
    child_id, _ = seed(client, auth)
    auditor = mint_token(settings, "dpo-1", Role.AUDITOR, None)
    declined = run(
        cli, settings, "erase", child_id, "--reason", "retention ended", token=auditor, stdin="n\n"
    )
    assert declined.exit_code != 0
    assert (
        client.get(f"{API}/children/{child_id}", headers=auth("case_manager")).json()["erased"]
        is False
    )
    confirmed = run(
        cli, settings, "erase", child_id, "--reason", "retention ended", token=auditor, stdin="y\n"
    )
    assert confirmed.exit_code == 0, confirmed.output
    short = run(cli, settings, "erase", child_id, "--reason", "x", "--yes", token=auditor)
    assert short.exit_code == 1 and "refused" in short.output


def test_ecm_verify_names_the_first_event_that_was_changed(
    client: TestClient, auth: Tokens, settings: Settings, cli: typer.Typer
) -> None:
    seed(client, auth)
    auditor = mint_token(settings, "dpo-1", Role.AUDITOR, None)
    clean = run(cli, settings, "verify", token=auditor)
    assert clean.exit_code == 0, clean.output
    assert "referrals" in clean.output and "MISMATCH" not in clean.output
    with sqlite3.connect(settings.sqlite_path("referrals-events")) as conn:
        conn.execute(
            "UPDATE stored_events SET state = replace(state, 'bristol', 'banes__') WHERE rowid = 3"
        )
    broken = run(cli, settings, "verify", "--json", token=auditor)
    assert broken.exit_code == 1
    assert "first mismatch: referrals notification 3" in broken.output
    manager = mint_token(settings, "cm-1", Role.CASE_MANAGER, Area.BRISTOL)
    assert run(cli, settings, "verify", token=manager).exit_code == 3


def test_ecm_verify_names_a_store_cut_short_together_with_its_seals(
    client: TestClient, auth: Tokens, settings: Settings, cli: typer.Typer
) -> None:
    seed(client, auth)
    auditor = mint_token(settings, "dpo-1", Role.AUDITOR, None)
    clean = run(cli, settings, "verify", token=auditor)
    assert clean.exit_code == 0, clean.output
    assert "checked against the anchor of" in run(cli, settings, "verify", token=auditor).output
    with sqlite3.connect(settings.sqlite_path("referrals-events")) as conn:
        (last,) = conn.execute("SELECT max(rowid) FROM stored_events").fetchone()
        conn.execute("DELETE FROM stored_events WHERE rowid = ?", (last,))
    with sqlite3.connect(settings.sqlite_path("ops")) as conn:
        conn.execute(
            "DELETE FROM integrity_chain WHERE service = 'referrals' AND notification_id = ?",
            (last,),
        )
    broken = run(cli, settings, "verify", token=auditor)
    assert broken.exit_code == 1
    assert f"first mismatch: referrals notification {last}" in broken.output
    assert "truncated" in broken.output
