"""The subject access report shows this child's data only, rendered safely, written safely."""

from __future__ import annotations

import stat
from pathlib import Path
from uuid import UUID, uuid4

import typer
from fastapi.testclient import TestClient

from services.governance.sar import render_html
from services.runtime import System
from shared.auth import mint_token
from shared.domain import Role
from shared.settings import Settings
from tests.conftest import Tokens
from tests.e2e.test_reviews_api import formulation
from tests.e2e.test_security_governance import (  # noqa: F401 (the cli and live fixtures)
    cli,
    live,
    run,
    settle,
)

API = "/api/v1"
THEMES = "Synthetic: the other child's sibling Zephyrion-Unshared was discussed"


def register(client: TestClient, auth: Tokens, given: str) -> str:
    made = client.post(
        f"{API}/children",
        headers=auth("case_manager"),
        json={
            "given_name": given,
            "family_name": "Synthetic",
            "date_of_birth": "2012-05-17",
            "area": "bristol",
        },
    )
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def test_a_supervision_session_shows_that_the_child_was_discussed_but_nothing_of_others(
    client: TestClient,
    auth: Tokens,
    system: System,
    live: System,  # noqa: F811
) -> None:
    mine, theirs = register(client, auth, "Mine"), register(client, auth, "Theirs")
    for child in (mine, theirs):  # both have review cases, as supervision requires
        formulation(
            system, "FormulationCaseOpened", UUID(child), referral_id=str(uuid4()), area="bristol"
        )
    logged = client.post(
        f"{API}/supervision-sessions",
        headers=auth("senior_practitioner"),
        json={
            "practitioner_id": "cm-1",
            "supervisor_id": "sp-1",
            "held_on": "2026-01-05",
            "kind": "clinical_supervision",
            "children": [mine, theirs],
            "themes": THEMES,
        },
    )
    assert logged.status_code == 201, logged.text
    settle(live, mine)
    for fmt in ("json", "html"):
        report = client.get(
            f"{API}/audit/children/{mine}/sar",
            headers=auth("auditor"),
            params={"format": fmt, "reason": "SAR-1"},
        )
        assert report.status_code == 200, report.text
        assert "Zephyrion-Unshared" not in report.text
        assert theirs not in report.text
        assert "2026-01-05" in report.text
    document = client.get(f"{API}/audit/children/{mine}/sar", headers=auth("auditor")).json()
    (session,) = [e for e in document["events"] if e["aggregate_type"] == "SupervisionSession"]
    assert session["data"]["children"] == [mine]
    assert session["data"]["kind"] == "clinical_supervision"


def test_the_html_report_is_autoescaped_markup_with_no_script() -> None:
    page = render_html(
        {
            "title": "Subject access report",
            "child_id": "c-1",
            "produced_at": "2030-01-02",
            "produced_by": {"id": "dpo-1", "role": "auditor"},
            "reason": None,
            "erased": False,
            "erased_on": None,
            "services_searched": ["referrals"],
            "current_record": [],
            "events": [
                {
                    "occurred_at": "2029-01-01",
                    "service": "referrals",
                    "event_type": "</td><script>x()</script>",
                    "actor": {"id": '"><img src=x onerror=alert(1)>', "role": "cm"},
                    "reason": "line one\nline two",
                    "data": {"list": ["<b>", {"k": "&"}]},
                }
            ],
            "notices": [],
        }
    )
    assert "<script>" not in page and "<img" not in page and "<b>" not in page
    assert "&lt;script&gt;x()&lt;/script&gt;" in page
    assert "&lt;b&gt;" in page and "&amp;" in page


def test_ecm_sar_refuses_to_write_over_an_existing_file_and_records_nothing(
    client: TestClient,
    auth: Tokens,
    settings: Settings,
    cli: typer.Typer,  # noqa: F811
    tmp_path: Path,
    live: System,  # noqa: F811
) -> None:
    child = register(client, auth, "Ophelia")
    settle(live, child)
    auditor = mint_token(settings, "dpo-1", Role.AUDITOR, None)
    existing = tmp_path / "report.html"
    existing.write_text("someone else's file")
    refused = run(cli, settings, "sar", child, "--out", str(existing), token=auditor)
    assert refused.exit_code == 1 and "already exists" in refused.output
    assert existing.read_text() == "someone else's file"
    assert not (tmp_path / "report.json").exists()
    settle(live, child)
    trail = client.get(f"{API}/audit/children/{child}", headers=auth("auditor")).json()
    assert not [e for e in trail["events"] if e["event_type"] == "SubjectAccessProvided"]
    written = run(cli, settings, "sar", child, "--out", str(tmp_path / "new"), token=auditor)
    assert written.exit_code == 0, written.output
    for name in ("new.html", "new.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
