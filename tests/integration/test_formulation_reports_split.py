"""The formulation reports split: the reports are an aggregate of their own.

Old events load into the new aggregate: a case stream as the code before the split stored it
(its `ReportIssued` among the case's events, under the case's topic) reads its reports from
those events, and an intervention is planned from their recommendations; the first report
since starts the child's reports with a snapshot of them, sealed, in the same transaction as
the case's `StageAssessed`, and leaves the case's old events as they were; what is published
keeps its contract and its binding. On SQLite and PostgreSQL. (Golden stores v1-v5 prove the
same for the stored events, on SQLite: tests/test_golden_store.py.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any
from uuid import UUID, uuid4

import pytest

from services.formulation.application import FormulationApplication
from services.formulation.contracts import REGISTRY
from services.formulation.domain import FormulationCase
from services.formulation.reports import FormulationReports, reports_id_for
from services.formulation.values import RecommendationDraft, case_id_for
from services.runtime import System
from shared.contracts import Envelope
from shared.crypto import is_sealed
from shared.domain import Area, Invalid, Meta
from shared.settings import Settings
from shared.vocabulary import Agency

PSY = Meta("psy-9", "psychologist", "corr-f", "corr-f")
ISSUED = date(2026, 3, 2)
NARRATIVE = "Synthetic: an old narrative"
KEY_ADULT = "Synthetic: a key adult every morning"


@pytest.fixture
def app(store_settings: Settings) -> Iterator[FormulationApplication]:
    system = System.build(store_settings, ["formulation"])
    formulation = system.apps["formulation"]
    assert isinstance(formulation, FormulationApplication)
    yield formulation
    system.close()


def old_case(app: FormulationApplication) -> tuple[UUID, UUID]:
    """A case stream as the code before the split stored it: opened, a report issued as an
    event of the case (the declaration kept in legacy.py), and its stage assessed. Returns
    the child and the report's recommendation."""
    child, recommendation = uuid4(), uuid4()
    case = FormulationCase(child_id=child, referral_id=uuid4(), area=Area.BRISTOL, meta=PSY)
    old: Any = case  # the old event has no body on the case now: triggered as stored then
    old.trigger_event(
        FormulationCase.ReportIssued,
        child_id=child,
        report_version=1,
        stage=2,
        stage_label="x",
        issued_on=ISSUED,
        narrative=NARRATIVE,
        recommendations=[
            {
                "recommendation_id": recommendation,
                "stage": 2,
                "agency": "education",
                "text": KEY_ADULT,
            }
        ],
        meta=PSY,
    )
    case.assess_report_stage(1, 2, ISSUED, None, PSY)
    app.save_all(case)
    return child, recommendation


def published_since(app: FormulationApplication, before: int) -> list[Envelope]:
    found = []
    for notification in app.notifications(before + 1, 100):
        event = app.mapper.to_sealed_domain_event(notification)  # type: ignore[attr-defined]
        envelope = REGISTRY.to_envelope(event, notification.id)
        if envelope is not None:
            found.append(envelope)
    return found


def test_a_case_stored_before_the_split_reads_its_reports_from_its_events(
    app: FormulationApplication,
) -> None:
    child, _ = old_case(app)
    assert reports_id_for(child) not in app.repository
    reports = app.get_reports(child)
    (report,) = reports.reports
    assert (report.version, report.stage, report.narrative) == (1, 2, NARRATIVE)
    assert report.recommendations[0].text == KEY_ADULT
    assert app.get_reports(child, date.today()).reports == reports.reports
    assert app.get_case(child).current_assessment is not None
    assert app.get_case(child).current_assessment.report_version == 1  # type: ignore[union-attr]


def test_an_intervention_is_planned_from_a_recommendation_of_a_report_from_before_the_split(
    app: FormulationApplication,
) -> None:
    child, recommendation = old_case(app)
    intervention, overridden, version = app.plan_intervention(
        child,
        intervention_type="Synthetic key adult",
        stage=None,
        owning_agency=None,
        planned_start=ISSUED,
        recommendation_id=recommendation,
        override_rationale=None,
        meta=PSY,
    )
    planned = app.get_case(child).interventions[intervention]
    assert (planned.stage, planned.owning_agency, overridden) == (2, Agency.EDUCATION, False)
    assert planned.recommendation_id == recommendation and version == 4
    assert reports_id_for(child) not in app.repository  # reading it started nothing
    with pytest.raises(Invalid, match="recommendation_id: no recommendation"):
        app.plan_intervention(
            child,
            intervention_type="Synthetic",
            stage=None,
            owning_agency=None,
            planned_start=ISSUED,
            recommendation_id=uuid4(),
            override_rationale=None,
            meta=PSY,
        )
    assert app.get_case(child).version == 4


def test_the_first_report_since_the_split_starts_the_reports_with_the_old_one_sealed(
    app: FormulationApplication,
) -> None:
    child, _ = old_case(app)
    before = app.max_notification_id()
    report_version, case_version = app.issue_report(
        child,
        narrative="Synthetic: a new narrative",
        stage=3,
        issued_on=date(2026, 5, 1),
        recommendations=[RecommendationDraft(3, Agency.CAMHS, "Synthetic: therapy")],
        stage_rationale="Synthetic: talking about losses",
        meta=PSY,
        expected_version=3,
    )
    assert (report_version, case_version) == (2, 4)
    reports = app.get_reports(child)
    assert isinstance(reports, FormulationReports) and reports.version == 2  # Started, Issued
    assert [r.version for r in reports.reports] == [1, 2]
    assert reports.reports[0].recommendations[0].text == KEY_ADULT
    started = app.recorder.select_events(reports_id_for(child))[0]
    state = json.loads(started.state)
    assert all(is_sealed(item["narrative"]) for item in state["imported"])
    assert all(is_sealed(item["text"]) for item in state["imported_recommendations"])
    assert NARRATIVE not in started.state.decode() and KEY_ADULT not in started.state.decode()
    case = app.get_case(child)
    assert case.current_stage == 3 and case.current_assessment is not None
    assert case.current_assessment.report_version == 2
    assert len(app.recorder.select_events(case_id_for(child))) == 4  # one StageAssessed more
    # Published as before: the same contract, the recommendations bound as before the split.
    issued, assessed = published_since(app, before)  # the Started snapshot is not published
    assert (issued.event_type, assessed.event_type) == ("ReportIssued", "StageAssessed")
    assert issued.child_id == child and issued.data["report_version"] == 2
    binding = REGISTRY.sealed_event("ReportIssued")
    assert binding == "FormulationCase.ReportIssued"
    text = issued.data["recommendations"][0]["text"]
    assert app.cipher.open(child, "recommendations.text", text, event=binding) == (
        "Synthetic: therapy"
    )


def test_a_refused_report_writes_nothing_to_either_stream(app: FormulationApplication) -> None:
    child, _ = old_case(app)
    with pytest.raises(Invalid, match=r"recommendations\.0\.text: must not be empty"):
        app.issue_report(
            child,
            narrative="Synthetic",
            stage=3,
            issued_on=date(2026, 5, 1),
            recommendations=[RecommendationDraft(3, Agency.CAMHS, " ")],
            stage_rationale=None,
            meta=PSY,
        )
    assert reports_id_for(child) not in app.repository
    assert app.get_case(child).version == 3
