"""The TRM sequencing rule: the whole matrix, as a pure function and as the case's guard."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

import pytest

from services.formulation.domain import FormulationCase
from services.formulation.sequencing import (
    COGNITIVE_READINESS,
    RELATIONAL_READINESS,
    OutOfSequenceIntervention,
    allowed_stages,
    is_in_sequence,
    threshold_not_reached,
)
from shared.domain import Area, Meta
from shared.vocabulary import Agency

META = Meta("psy-1", "psychologist", "corr-1", "cause-1")
RATIONALE = "Synthetic: the school offers CBT now and the child asked for it"

# Rows: the child's current stage (None = never assessed, treated as stage 1).
# Columns: the intervention's stage 1..6. "Y" = in sequence, "-" = out of sequence.
MATRIX: dict[int | None, str] = {
    None: "Y-----",
    1: "Y-----",
    2: "YYY---",
    3: "YYY---",
    4: "YYYYYY",
    5: "YYYYYY",
    6: "YYYYYY",
}
CELLS = [
    (child, work, row[work - 1] == "Y") for child, row in MATRIX.items() for work in range(1, 7)
]


def case_at(stage: int | None) -> FormulationCase:
    case = FormulationCase(child_id=uuid4(), referral_id=uuid4(), area=Area.BRISTOL, meta=META)
    if stage is not None:
        case.assess_stage(stage, date(2024, 3, 1), "Synthetic assessment", META)
    case.collect_events()
    return case


@pytest.mark.parametrize(("child_stage", "work_stage", "allowed"), CELLS)
def test_the_rule_allows_work_only_once_the_child_has_reached_its_threshold(
    child_stage: int | None, work_stage: int, allowed: bool
) -> None:
    assert is_in_sequence(child_stage, work_stage) is allowed


@pytest.mark.parametrize(("child_stage", "work_stage", "allowed"), CELLS)
def test_the_threshold_not_reached_is_relational_for_stages_2_to_3_and_cognitive_for_4_to_6(
    child_stage: int | None, work_stage: int, allowed: bool
) -> None:
    expected = (
        None if allowed else (RELATIONAL_READINESS if work_stage in (2, 3) else COGNITIVE_READINESS)
    )
    assert threshold_not_reached(child_stage, work_stage) == expected


@pytest.mark.parametrize(("child_stage", "work_stage", "allowed"), CELLS)
def test_planning_without_an_override_follows_the_matrix(
    child_stage: int | None, work_stage: int, allowed: bool
) -> None:
    case = case_at(child_stage)
    plan = (uuid4(), "Synthetic work", work_stage, Agency.YJS, date(2024, 4, 1), None, None, META)
    if allowed:
        assert case.plan_intervention(*plan) is False
        events = [type(e).__name__ for e in case.collect_events()]
        assert events == ["InterventionPlanned"]
        assert next(iter(case.interventions.values())).out_of_sequence is False
    else:
        with pytest.raises(OutOfSequenceIntervention) as refused:
            case.plan_intervention(*plan)
        threshold = RELATIONAL_READINESS if work_stage in (2, 3) else COGNITIVE_READINESS
        assert refused.value.status == 409
        assert refused.value.message.startswith(
            f"stage: intervention at TRM stage {work_stage} needs the {threshold.name} "
            f"threshold (stage {threshold.stage}); the child is at stage {child_stage or 1}"
        )
        assert case.collect_events() == []
        assert case.interventions == {}


@pytest.mark.parametrize(("child_stage", "work_stage", "allowed"), CELLS)
def test_planning_with_an_override_records_it_only_when_the_work_is_out_of_sequence(
    child_stage: int | None, work_stage: int, allowed: bool
) -> None:
    case = case_at(child_stage)
    intervention_id = uuid4()
    overridden = case.plan_intervention(
        intervention_id,
        "Synthetic work",
        work_stage,
        Agency.EDUCATION,
        date(2024, 4, 1),
        None,
        RATIONALE,
        META,
    )
    events = case.collect_events()
    planned = case.interventions[intervention_id]
    assert overridden is (not allowed)
    assert planned.out_of_sequence is (not allowed)
    if allowed:
        assert [type(e).__name__ for e in events] == ["InterventionPlanned"]
        assert planned.override_rationale is None
    else:
        assert [type(e).__name__ for e in events] == ["InterventionPlanned", "SequencingOverridden"]
        override = vars(events[1])
        assert override["child_stage"] == (child_stage or 1)
        assert override["intervention_stage"] == work_stage
        assert override["rationale"] == RATIONALE
        assert planned.override_rationale == RATIONALE


def test_a_child_never_assessed_is_treated_as_stage_1_and_the_refusal_says_so() -> None:
    with pytest.raises(OutOfSequenceIntervention) as refused:
        case_at(None).plan_intervention(
            uuid4(), "PACE", 2, Agency.YJS, date(2024, 4, 1), None, None, META
        )
    assert refused.value.message == (
        "stage: intervention at TRM stage 2 needs the readiness to build relationships with "
        "adults threshold (stage 2); the child is at stage 1 (no TRM stage assessed yet, so "
        "stage 1 is assumed)"
    )


def test_a_blank_override_rationale_does_not_override() -> None:
    with pytest.raises(OutOfSequenceIntervention):
        case_at(2).plan_intervention(
            uuid4(), "CBT", 4, Agency.YJS, date(2024, 4, 1), None, "   ", META
        )


def test_the_stages_allowed_grow_at_each_threshold() -> None:
    assert allowed_stages(None) == [1]
    assert allowed_stages(3) == [1, 2, 3]
    assert allowed_stages(4) == [1, 2, 3, 4, 5, 6]


def test_a_stage_outside_1_to_6_is_not_a_trm_stage() -> None:
    with pytest.raises(ValueError):
        is_in_sequence(2, 7)
