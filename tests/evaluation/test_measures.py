"""Every measure of the export against values worked out by hand on a small fixed cohort."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from services.evaluation.dataset import Export, build
from services.evaluation.measures import Parameters, add_months, age_band, load_facts
from services.evaluation.projects import Project
from services.evaluation.service import project_as_of
from tests.evaluation.cohort import BORN, A, cohort

PROJECT = Project("trial", "Trial", datetime(2026, 1, 1, tzinfo=UTC), "admin", b"k" * 32)
AS_OF = date(2026, 1, 31)


def export_of(
    tmp_path: Path, as_of: date = AS_OF, threshold: int = 1, area: str | None = None
) -> Export:
    engine = create_engine(f"sqlite:///{tmp_path}/eval-{as_of}-{area}.sqlite")
    project_as_of(cohort().deliveries(), as_of, engine)
    params = Parameters("trial", date(2024, 1, 1), date(2024, 12, 31), as_of, area, threshold)
    return build(load_facts(engine), params, PROJECT, BORN.get)


@pytest.fixture
def export(tmp_path: Path) -> Export:
    return export_of(tmp_path)


def child(export: Export, child_id: Any = A) -> dict[str, Any]:
    pseudonym = PROJECT.pseudonym(str(child_id))
    (row,) = [r for r in export.tables["children"].rows if r["pseudonym"] == pseudonym]
    return row


def rows(export: Export, table: str, key: str) -> dict[str, dict[str, Any]]:
    return {str(r[key]): r for r in export.tables[table].rows}


def test_the_cohort_is_the_children_first_referred_in_the_window(export: Export) -> None:
    assert len(export.tables["children"].rows) == 5  # D was referred before the window
    assert child(export)["age_band_at_referral"] == "12_13"
    assert child(export)["referred_quarter"] == "2024-Q1"


def test_days_from_referral_to_each_step(export: Export) -> None:
    a = child(export)
    assert (
        a["days_referral_to_screening"],
        a["days_referral_to_consent"],
        a["days_referral_to_formulation_meeting"],
        a["days_referral_to_report"],
        a["days_referral_to_first_review"],
    ) == (7, 5, 30, 40, 79)
    timings = rows(export, "timings", "measure")
    assert timings["days_referral_to_screening"]["n"] == 4
    assert timings["days_referral_to_screening"]["median"] == 7
    assert timings["days_referral_to_screening"]["mean"] == 7.5
    assert timings["days_referral_to_formulation_meeting"]["median"] == 30


def test_referrals_and_screening_outcomes_by_area_and_month(export: Export) -> None:
    table = export.tables["referrals_by_area_month"].rows
    by_cell = {(r["area"], r["month"]): r for r in table}
    assert by_cell[("bristol", "2024-01")]["accepted"] == 1
    assert by_cell[("bristol", "2024-02")]["declined"] == 1
    assert by_cell[("banes", "2024-03")]["consultation"] == 1
    assert by_cell[("north_somerset", "2024-04")]["accepted"] == 1
    assert by_cell[("bristol", "2024-12")]["awaiting_screening"] == 1
    total = by_cell[("total", "")]
    assert (
        total["accepted"],
        total["consultation"],
        total["declined"],
        total["withdrawn"],
        total["awaiting_screening"],
        total["total"],
    ) == (2, 1, 1, 0, 1, 5)


def test_attrition_places_each_child_at_the_furthest_point_reached(export: Export) -> None:
    attrition = {k: r["children"] for k, r in rows(export, "attrition", "pathway_status").items()}
    assert attrition == {
        "awaiting_screening": 1,
        "declined": 1,
        "withdrawn": 0,
        "consultation": 1,
        "accepted_no_consent": 0,
        "consent_refused_or_withdrawn": 1,
        "consent_given_awaiting_meeting": 0,
        "formulation_meeting_held": 0,
        "report_issued": 0,
        "reviewed": 1,
        "total": 5,
    }


def test_review_cadence_missed_and_overdue_reviews(export: Export) -> None:
    a = child(export)
    assert (
        a["reviews_held"],
        a["review_intervals_assessed"],
        a["review_intervals_within_cadence"],
        a["reviews_missed"],
        a["reviews_overdue"],
    ) == (3, 2, 1, 1, 1)
    reviews = export.tables["reviews"].rows
    assert [
        (
            r["held_day"],
            r["interval_days"],
            r["planned_weeks"],
            r["within_cadence"],
            r["held_late"],
            r["overdue_flagged"],
        )
        for r in reviews
    ] == [
        (79, None, None, None, False, False),
        (131, 52, 6, False, True, True),
        (170, 39, 6, True, False, False),
    ]
    assert rows(export, "review_cadence", "area")["bristol"]["within_cadence"] == 1
    timeliness = rows(export, "review_timeliness", "area")["bristol"]
    assert (timeliness["held_on_time"], timeliness["held_late"], timeliness["missed"]) == (2, 1, 1)


def test_attendance_by_agency_with_education_apart(export: Export) -> None:
    formulation = rows(export, "attendance_formulation", "agency")
    assert formulation["education"]["attended"] == 1
    assert formulation["health"]["apologies"] == 1
    assert (formulation["police"]["attended"], formulation["yjs"]["attended"]) == (1, 1)
    assert formulation["total"]["total"] == 4
    review = rows(export, "attendance_review", "agency")
    assert (review["education"]["attended"], review["education"]["did_not_attend"]) == (1, 1)
    assert review["health"]["attended"] == 1 and review["total"]["total"] == 3


def test_stage_at_formulation_and_each_review_with_days_movements_and_flows(export: Export) -> None:
    assert [
        (s["source"], s["day"], s["stage"], s["movement"]) for s in export.tables["stages"].rows
    ] == [
        ("formulation", 40, 2, None),
        ("review", 79, 3, "up"),
        ("review", 131, 2, "down"),
        ("review", 170, 4, "up"),
    ]
    a = child(export)
    assert (a["stage_at_formulation"], a["stage_at_latest_review"], a["stage_movement"]) == (
        2,
        4,
        "up",
    )
    flows = rows(export, "stage_flows", "stage_at_formulation")
    assert flows["2"]["review_stage_4"] == 1 and flows["total"]["total"] == 1
    moves = rows(export, "stage_movements", "review_number")
    assert (moves["1"]["up"], moves["2"]["down"], moves["3"]["up"]) == (1, 1, 1)


def test_sequencing_fidelity_overrides_and_intervention_completion(export: Export) -> None:
    a = child(export)
    assert (
        a["interventions_planned"],
        a["interventions_in_sequence"],
        a["interventions_overridden"],
        a["interventions_completed"],
        a["interventions_stopped"],
    ) == (2, 1, 1, 1, 1)
    sequencing = rows(export, "sequencing", "intervention_stage")
    assert (sequencing["2"]["in_sequence"], sequencing["4"]["overridden"]) == (1, 1)
    interventions = rows(export, "interventions", "intervention_stage")
    assert (interventions["2"]["completed"], interventions["4"]["stopped"]) == (1, 1)


def test_the_override_flag_comes_from_the_planning_event_not_the_override_message(
    tmp_path: Path,
) -> None:
    stream = cohort()
    stream.messages = [m for m in stream.messages if m.event_type != "SequencingOverridden"]
    engine = create_engine(f"sqlite:///{tmp_path}/no-override.sqlite")
    project_as_of(stream.deliveries(), AS_OF, engine)
    params = Parameters("trial", date(2024, 1, 1), date(2024, 12, 31), AS_OF, None, 1)
    export = build(load_facts(engine), params, PROJECT)
    assert child(export)["interventions_overridden"] == 1


def test_transitions_supported(export: Export) -> None:
    assert child(export)["transitions_school_move"] == 1
    assert rows(export, "transitions", "kind")["school_move"]["transitions"] == 1


def test_proven_reoffending_binary_rate_and_frequency_as_the_moj_measures_it(
    export: Export,
) -> None:
    a = child(export)
    assert (
        a["comparison_proven_offences"],
        a["follow_up_proven_reoffences"],
        a["follow_up_breaches"],
    ) == (1, 1, 1)
    table = rows(export, "reoffending", "window")
    before = table["comparison_year_before_referral"]
    after = table["follow_up_year_from_referral"]
    assert (
        before["cohort"],
        before["reoffenders"],
        before["proven_reoffences"],
        before["binary_rate"],
        before["frequency_per_child"],
    ) == (5, 1, 1, 0.2, 0.2)
    # F's follow-up (waiting period to 2026-06-20) is not complete on 2026-01-31.
    assert (
        after["cohort"],
        after["reoffenders"],
        after["proven_reoffences"],
        after["binary_rate"],
        after["frequency_per_child"],
        after["frequency_per_reoffender"],
        after["children_with_breaches"],
    ) == (4, 2, 3, 0.5, 0.75, 1.5, 1)


def test_as_of_excludes_every_event_recorded_later(tmp_path: Path) -> None:
    early = export_of(tmp_path, as_of=date(2024, 3, 15))
    assert len(early.tables["children"].rows) == 3  # E and F not yet referred
    a = child(early)
    assert (
        a["reviews_held"],
        a["days_referral_to_first_review"],
        a["stage_at_latest_review"],
        a["interventions_completed"],
        a["interventions_stopped"],
        a["transitions_supported"],
    ) == (0, None, None, 0, 0, 0)
    assert a["days_referral_to_report"] == 40
    assert a["follow_up_complete"] is False and a["comparison_complete"] is False
    assert [s["day"] for s in early.tables["stages"].rows] == [40]


def test_an_area_export_holds_only_that_area(tmp_path: Path) -> None:
    banes = export_of(tmp_path, area="banes")
    assert [r["area"] for r in banes.tables["children"].rows] == ["banes"]


def test_small_helpers() -> None:
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2024, 3, 10), -12) == date(2023, 3, 10)
    assert age_band(date(2010, 6, 1), date(2024, 5, 31)) == "12_13"
    assert age_band(date(2010, 6, 1), date(2024, 6, 1)) == "14_15"
    assert age_band(None, date(2024, 6, 1)) is None


def test_an_export_before_the_first_event_is_empty_but_complete(tmp_path: Path) -> None:
    from services.evaluation.outputs import files

    engine = create_engine(f"sqlite:///{tmp_path}/empty.sqlite")
    params = Parameters("trial", date(2024, 1, 1), date(2024, 12, 31), AS_OF, None, 5)
    export = build(load_facts(engine), params, PROJECT)
    written = files(export)
    assert export.tables["children"].rows == []
    assert {
        "data/children.parquet",
        "tables/reoffending.csv",
        "report.html",
        "dictionary.csv",
    } <= set(written)
