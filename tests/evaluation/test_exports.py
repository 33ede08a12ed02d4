"""Exports of a synthetic cohort made through the real use cases: nothing identifying leaves,
pseudonyms link within a project and never across, the API and the CLI give the same."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from services.cli import app as cli_app
from services.demo import seed
from services.evaluation import cli as evaluation_cli
from services.evaluation.projection import EvaluationProjection
from services.evaluation.service import projects, store_history
from services.referrals.domain import Child
from services.runtime import System
from shared.settings import Settings
from tests.conftest import Tokens

TODAY = date(2025, 12, 31)  # the synthetic histories end here, whenever the test runs
WINDOW = {"from": "2024-01-01", "to": "2025-12-31"}


def feed(system: System) -> None:
    """What the evaluation consumer would have applied from the stream."""
    EvaluationProjection(system.engine("evaluation-read")).commit(store_history(system))


@pytest.fixture
def seeded(system: System) -> System:
    seed(system, 30, seed_value=11, years=2, today=TODAY)
    feed(system)
    made = projects(system)
    made.create("quarterly", "Quarterly evaluation", "admin-1")
    made.create("other-study", "Another study", "admin-1")
    return system


def download(client: TestClient, auth: Tokens, project: str, **query: Any) -> dict[str, bytes]:
    response = client.get(
        f"/api/v1/evaluation/projects/{project}/export",
        params={**WINDOW, **query},
        headers=auth("evaluator"),
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def as_text(files: dict[str, bytes]) -> Iterator[tuple[str, str]]:
    """Every file as text; Parquet read back (its pages are compressed)."""
    for name, content in files.items():
        if name.endswith(".parquet"):
            table = pq.read_table(io.BytesIO(content))
            yield name, " ".join(map(str, table.to_pylist())) + " ".join(table.column_names)
        else:
            yield name, content.decode()


def identifiers(system: System) -> set[str]:
    """Everything that identifies a child of the cohort, in the forms it could appear in."""
    app: Any = system.apps["referrals"]
    found: set[str] = set()
    for delivery in store_history(system):
        envelope = delivery.envelope
        if envelope.event_type != "ChildRegistered":
            continue
        child: Child = app.get_child(envelope.child_id)
        found |= {
            child.given_name,
            child.family_name,
            str(envelope.child_id),
            UUID(str(envelope.child_id)).hex,
        }
        dob = child.date_of_birth
        found |= {dob.isoformat(), f"{dob:%d/%m/%Y}", f"{dob:%Y%m%d}"}
        if child.nhs_number:
            n = child.nhs_number
            found |= {n, f"{n[:3]} {n[3:6]} {n[6:]}"}
        if child.upn:
            found.add(child.upn)
    return found


def test_no_name_identifier_or_date_of_birth_of_the_cohort_leaves_in_an_export(
    client: TestClient, auth: Tokens, seeded: System
) -> None:
    files = download(client, auth, "quarterly", threshold=1)
    assert {
        "data/children.csv",
        "data/children.parquet",
        "tables/reoffending.csv",
        "dictionary.csv",
        "parameters.json",
        "report.html",
    } <= set(files)
    secrets = identifiers(seeded)
    assert len(secrets) > 30 * 6
    for name, text in as_text(files):
        for secret in secrets:
            assert not re.search(rf"(?<![\w-]){re.escape(secret)}(?![\w-])", text), (name, secret)


def test_two_exports_of_a_project_give_the_same_pseudonyms_and_two_projects_none_in_common(
    client: TestClient, auth: Tokens, seeded: System
) -> None:
    def pseudonyms(project: str, **query: Any) -> set[str]:
        files = download(client, auth, project, **query)
        rows = pq.read_table(io.BytesIO(files["data/children.parquet"])).to_pylist()
        return {str(r["pseudonym"]) for r in rows}

    first = pseudonyms("quarterly")
    assert len(first) > 10
    assert pseudonyms("quarterly") == first
    later_window = pseudonyms("quarterly", **{"from": "2025-01-01"})
    assert later_window and later_window <= first
    assert not pseudonyms("other-study") & first


def test_the_cli_writes_the_same_export_with_a_report_that_needs_no_network(
    seeded: System, settings: Settings, auth: Tokens, tmp_path: Path
) -> None:
    evaluation_cli.register(cli_app)
    out = tmp_path / "export"
    token = auth("evaluator")["Authorization"].removeprefix("Bearer ")
    result = CliRunner().invoke(
        cli_app,
        [
            "evaluate",
            "--project",
            "quarterly",
            "--from",
            WINDOW["from"],
            "--to",
            WINDOW["to"],
            "--out",
            str(out),
            "--data-dir",
            str(settings.data_path),
            "--token",
            token,
        ],
    )
    assert result.exit_code == 0, result.output
    children = pq.read_table(out / "data" / "children.parquet").to_pylist()
    assert children and all(len(str(r["pseudonym"])) == 20 for r in children)
    csv_header = (out / "data" / "children.csv").read_text().splitlines()[0].split(",")
    assert csv_header == list(children[0])
    report = (out / "report.html").read_text()
    assert report.count("<svg") >= 5 and "Data dictionary" in report
    assert not re.search(r"<script|<link|src=|@import|url\(https?:", report)
    refused = CliRunner().invoke(
        cli_app,
        [
            "evaluate",
            "--project",
            "quarterly",
            "--from",
            "2025-01-01",
            "--to",
            "2024-01-01",
            "--out",
            str(out),
            "--data-dir",
            str(settings.data_path),
            "--token",
            token,
        ],
    )
    assert refused.exit_code == 2 and "to: must not be before from" in refused.output


def test_bad_export_requests_are_refused_with_the_field_at_fault(
    client: TestClient, auth: Tokens, seeded: System
) -> None:
    url = "/api/v1/evaluation/projects/{}/export"
    cases = [
        ("quarterly", {"from": "2025-01-01", "to": "2024-01-01"}, 422, "to"),
        ("quarterly", {"from": "2024-01-01", "to": "2024-13-01"}, 422, "to"),
        ("quarterly", {**WINDOW, "as_of": "2999-01-01"}, 422, "as_of"),
        ("quarterly", {**WINDOW, "threshold": 0}, 422, "threshold"),
        ("quarterly", {**WINDOW, "area": "atlantis"}, 422, "area"),
        ("no-such-project", WINDOW, 404, "not found"),  # as every missing record answers
        ("Bad_Id", WINDOW, 422, "project"),
    ]
    for project, query, code, field in cases:
        response = client.get(url.format(project), params=query, headers=auth("evaluator"))
        assert response.status_code == code, (project, query, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in response.text
    for role in ("case_manager", "psychologist", "admin", "auditor"):
        response = client.get(url.format("quarterly"), params=WINDOW, headers=auth(role))
        assert response.status_code == 403


def test_an_admin_starts_projects_and_a_project_secret_is_never_rotated(
    client: TestClient, auth: Tokens, system: System
) -> None:
    made = client.post(
        "/api/v1/evaluation/projects",
        json={"project": "phase-two", "title": "Phase two"},
        headers=auth("admin"),
    )
    assert made.status_code == 201, made.text
    again = client.post(
        "/api/v1/evaluation/projects",
        json={"project": "phase-two", "title": "Phase two again"},
        headers=auth("admin"),
    )
    assert again.status_code == 409 and "new project" in again.text
    assert (
        client.post(
            "/api/v1/evaluation/projects",
            json={"project": "x", "title": "t"},
            headers=auth("admin"),
        ).status_code
        == 422
    )
    assert (
        client.post(
            "/api/v1/evaluation/projects",
            json={"project": "p-3", "title": "t"},
            headers=auth("evaluator"),
        ).status_code
        == 403
    )
    listed = client.get("/api/v1/evaluation/projects", headers=auth("admin")).json()
    assert [p["project"] for p in listed] == ["phase-two"]
    assert "secret" not in str(listed)
    key = projects(system).get("phase-two").key
    stored = system.engine("evaluation-projects").raw_connection()
    try:
        (sealed,) = (
            stored.cursor().execute("SELECT sealed_secret FROM evaluation_projects").fetchone()
        )
    finally:
        stored.close()
    assert key.hex() not in sealed and sealed.startswith("sealed:v1:")


def test_the_generator_makes_the_same_histories_from_the_same_seed(
    settings: Settings, tmp_path: Path
) -> None:
    from services.evaluation.dataset import build
    from services.evaluation.measures import Parameters, load_facts
    from shared.settings import development_settings

    def histories(folder: str, seed_value: int) -> list[tuple[Any, ...]]:
        system = System.build(development_settings(tmp_path / folder))
        try:
            made = seed(system, 12, seed_value=seed_value, years=2, today=TODAY)
            feed(system)
            project = projects(system).create("p1", "t", "a")
            params = Parameters("p1", date(2023, 1, 1), TODAY, TODAY, None, 1)
            export = build(load_facts(system.engine("evaluation-read")), params, project)
            rows = [
                tuple(v for k, v in r.items() if k != "pseudonym")
                for r in export.tables["children"].rows
            ]
            return [tuple(sorted(made.items())), *sorted(rows, key=repr)]
        finally:
            system.close()

    first = histories("a", 5)
    assert first == histories("b", 5)
    assert first != histories("c", 6)
    assert len(first) == 13


def test_a_project_secret_that_does_not_open_is_a_clear_conflict_not_a_500(
    client: TestClient, auth: Tokens, system: System
) -> None:
    projects(system).create("sealed-study", "Sealed", "admin-1")
    engine = system.engine("evaluation-projects")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE evaluation_projects SET sealed_secret = "
            "'sealed:v1:' || substr(sealed_secret, 12)"
        )
    response = client.get(
        "/api/v1/evaluation/projects/sealed-study/export", params=WINDOW, headers=auth("evaluator")
    )
    assert response.status_code == 409 and "does not open" in response.text
