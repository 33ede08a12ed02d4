"""The interventions planned for a child, as the reviews learn them from the formulation
service: progress at a review is recorded against the active ones.

Stored before the split, they are events of the child's review case; `interventions_from`
reads those, and the first change after the split starts this record with a snapshot of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import event

from services.reviews.domain import REVIEWS_NAMESPACE
from services.reviews.values import (
    ACTIVE_INTERVENTION,
    Intervention,
    InterventionStatus,
    check_stage,
)
from shared.domain import (
    Area,
    Clear,
    EcmAggregate,
    Meta,
    MissingPrecondition,
    NotPersonal,
    register_stored_topics,
)


def interventions_id_for(child_id: UUID) -> UUID:
    """The id of the record of a child's interventions: derived from the child's id."""
    return uuid5(REVIEWS_NAMESPACE, f"review-interventions:{child_id}")


def intervention_as_dict(intervention: Intervention) -> dict[str, Any]:
    """An intervention as a snapshot item (`Started.imported`); nothing in it is personal."""
    return {**vars(intervention), "status": str(intervention.status)}


class ChildInterventions(EcmAggregate):
    """What the reviews know of a child's interventions: one record per child."""

    @staticmethod
    def create_id(child_id: UUID, **_: object) -> UUID:
        """One record per child."""
        return interventions_id_for(child_id)

    class Started(EcmAggregate.Created):
        child_id: UUID
        area: Area
        imported: Clear[list[dict[str, Any]]]
        meta: Meta

    @classmethod
    def start(
        cls, child_id: UUID, area: Area, interventions: Iterable[Intervention], meta: Meta
    ) -> ChildInterventions:
        """Start the record, with the interventions noted before the split."""
        return cls(
            child_id=child_id,
            area=Area(area),
            imported=[intervention_as_dict(i) for i in interventions],
            meta=meta,
        )

    @event(Started)
    def __init__(
        self, child_id: UUID, area: Area, imported: list[dict[str, Any]], meta: Meta
    ) -> None:
        self.child_id = child_id
        self.area = Area(area)
        self.interventions: dict[UUID, Intervention] = {}
        for item in imported:
            intervention = Intervention(**{**item, "status": InterventionStatus(item["status"])})
            self.interventions[intervention.intervention_id] = intervention

    def move_area(self, area: Area, meta: Meta) -> bool:
        """Follow the child to another YJS area; False when already there."""
        if Area(area) == self.area:
            return False
        self._area_changed(child_id=self.child_id, area=Area(area), meta=meta)
        return True

    class AreaChanged(EcmAggregate.Event):
        child_id: UUID
        area: Area
        meta: Meta

    @event(AreaChanged)
    def _area_changed(self, child_id: UUID, area: Area, meta: Meta) -> None:
        self.area = Area(area)

    @property
    def active(self) -> dict[UUID, Intervention]:
        """Interventions planned or started, not completed or stopped."""
        return {k: v for k, v in self.interventions.items() if v.status in ACTIVE_INTERVENTION}

    def note_planned(
        self,
        intervention_id: UUID,
        intervention_type: str,
        stage: int,
        owning_agency: str,
        planned_start: date | None,
        meta: Meta,
    ) -> bool:
        """Learn of an intervention planned for the child; False when already known."""
        if intervention_id in self.interventions:
            return False
        check_stage(stage)
        self._intervention_noted(
            child_id=self.child_id,
            intervention_id=intervention_id,
            intervention_type=intervention_type,
            stage=stage,
            owning_agency=owning_agency,
            planned_start=planned_start,
            meta=meta,
        )
        return True

    class InterventionNoted(EcmAggregate.Event):
        child_id: UUID
        intervention_id: UUID
        intervention_type: NotPersonal
        stage: int
        owning_agency: NotPersonal
        planned_start: date | None
        meta: Meta

    @event(InterventionNoted)
    def _intervention_noted(
        self,
        child_id: UUID,
        intervention_id: UUID,
        intervention_type: str,
        stage: int,
        owning_agency: str,
        planned_start: date | None,
        meta: Meta,
    ) -> None:
        self.interventions[intervention_id] = Intervention(
            intervention_id, intervention_type, stage, owning_agency, planned_start
        )

    def changes_status(self, intervention_id: UUID, status: InterventionStatus) -> bool:
        """True when `status` is news for an active intervention; MissingPrecondition when the
        intervention is not known yet (out of order: the consumer retries later)."""
        intervention = self.interventions.get(intervention_id)
        if intervention is None:
            raise MissingPrecondition(
                f"intervention_id: {intervention_id} is not known yet", field="intervention_id"
            )
        return intervention.status != status and intervention.status in ACTIVE_INTERVENTION

    def note_status(
        self, intervention_id: UUID, status: InterventionStatus, on: date, meta: Meta
    ) -> bool:
        """Learn that an intervention started, completed or stopped."""
        if not self.changes_status(intervention_id, status):
            return False
        self._intervention_status_noted(
            child_id=self.child_id,
            intervention_id=intervention_id,
            status=InterventionStatus(status),
            on=on,
            meta=meta,
        )
        return True

    class InterventionStatusNoted(EcmAggregate.Event):
        child_id: UUID
        intervention_id: UUID
        status: NotPersonal
        on: date
        meta: Meta

    @event(InterventionStatusNoted)
    def _intervention_status_noted(
        self, child_id: UUID, intervention_id: UUID, status: str, on: date, meta: Meta
    ) -> None:
        intervention = self.interventions[intervention_id]
        intervention.status = InterventionStatus(status)
        intervention.status_on = on


LEGACY = {
    "InterventionNoted": "_intervention_noted",
    "InterventionStatusNoted": "_intervention_status_noted",
}
"""The review case's events, from before the split, that belong to this record."""


def interventions_from(
    child_id: UUID, area: Area, case_events: Iterable[Any]
) -> ChildInterventions:
    """The interventions recorded in a review case's events (from before the split): a view,
    never saved (its own events are discarded); `ChildInterventions.start` saves it."""
    view = ChildInterventions(child_id=child_id, area=area, imported=[], meta=Meta("", "", "", ""))
    for case_event in case_events:
        name = type(case_event).__qualname__.rsplit(".", 1)[-1]
        if name in LEGACY:
            values = {
                k: v
                for k, v in vars(case_event).items()
                if k not in ("originator_id", "originator_version", "timestamp")
            }
            getattr(view, LEGACY[name])(**values)
    view.collect_events()
    return view


# The topics these events are stored under: keep this module name if the classes move.
register_stored_topics("services.reviews.interventions", ChildInterventions)
