"""Pure rules of the plan of interventions: what a plan line takes from its recommendation,
which status allows which step, and that no step is dated before the work started. Kept apart
from `FormulationCase`, which decides with them and records the events."""

from __future__ import annotations

from datetime import date

from services.formulation.records import Intervention, InterventionStatus
from services.formulation.values import Recommendation, checked_stage, invalid
from shared.domain import Conflict
from shared.vocabulary import Agency


def planned_stage_and_agency(
    recommended: Recommendation | None, stage: int | None, owning_agency: Agency | None
) -> tuple[int, Agency]:
    """The stage and owning agency of planned work: those of its recommendation (a stage or
    agency given as well must agree with it), else both are required."""
    if recommended is not None:
        if stage is not None and stage != recommended.stage:
            raise invalid("stage", f"differs from the recommendation's stage {recommended.stage}")
        if owning_agency is not None and owning_agency != recommended.agency:
            raise invalid(
                "owning_agency", f"differs from the recommendation's agency {recommended.agency}"
            )
        stage, owning_agency = recommended.stage, recommended.agency
    if stage is None:
        raise invalid("stage", "is required for an intervention not from a recommendation")
    if owning_agency is None:
        raise invalid("owning_agency", "is required for an intervention not from a recommendation")
    return checked_stage(stage), Agency(owning_agency)


def check_status(intervention: Intervention, action: str, *allowed: InterventionStatus) -> None:
    """Conflict unless the intervention is in one of the `allowed` statuses."""
    if intervention.status not in allowed:
        raise Conflict(
            f"status: cannot {action} an intervention that is {intervention.status}",
            field="status",
        )


def check_not_before_start(intervention: Intervention, day: date, field: str) -> None:
    """Invalid when `day` is before the intervention started."""
    if intervention.started_on is not None and day < intervention.started_on:
        raise invalid(
            field, f"must not be before the start on {intervention.started_on.isoformat()}"
        )
