"""What the reviews service learns from the formulation service's events on the stream.

Each handled message becomes one command on the child's review case; the consumer's sink
commits it with the message's tracking record, so it is applied exactly once. A message for a
case that is not there fails, is retried with backoff (holding back the messages behind it)
and, after its last attempt, parked for an operator.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Protocol
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from services.reviews.application import ReviewsApplication
from services.reviews.values import InterventionStatus
from shared.consumer import ApplicationSink, Consumer
from shared.contracts import Envelope, caused_by
from shared.domain import Area

if TYPE_CHECKING:
    from services.plugin import Engines, Stores

    class Needs(Engines, Stores, Protocol):
        """What the service's consumers use."""


FORMULATION_CONSUMER = "reviews-formulation"
FORMULATION_SUBJECT = "ecm.formulation.>"


class Inbound(BaseModel):
    """The part of another service's event this service reads (the rest is ignored)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    child_id: UUID


class CaseOpenedIn(Inbound):
    """FormulationCaseOpened."""

    referral_id: UUID | None = None
    area: Area


class ReportIssuedIn(Inbound):
    """ReportIssued."""

    report_version: int
    stage: int
    issued_on: date


class StageAssessedIn(Inbound):
    """StageAssessed."""

    stage: int
    assessed_on: date
    source: str = "formulation"


class InterventionPlannedIn(Inbound):
    """InterventionPlanned."""

    intervention_id: UUID
    intervention_type: str
    stage: int
    owning_agency: str
    planned_start: date | None = None


class InterventionStartedIn(Inbound):
    """InterventionStarted."""

    intervention_id: UUID
    started_on: date


class InterventionCompletedIn(Inbound):
    """InterventionCompleted."""

    intervention_id: UUID
    completed_on: date


class InterventionStoppedIn(Inbound):
    """InterventionStopped."""

    intervention_id: UUID
    stopped_on: date


class FormulationListener:
    """Handles formulation events: case opened, report issued, stage, interventions."""

    def __init__(self, app: ReviewsApplication) -> None:
        self.app = app
        self.handlers: dict[str, Callable[[Envelope], None]] = {
            "FormulationCaseOpened": self.case_opened,
            "FormulationCaseAreaChanged": self.area_changed,
            "ReportIssued": self.report_issued,
            "StageAssessed": self.stage_assessed,
            "InterventionPlanned": self.intervention_planned,
            "InterventionStarted": self.intervention_started,
            "InterventionCompleted": self.intervention_completed,
            "InterventionStopped": self.intervention_stopped,
        }

    def __call__(self, envelope: Envelope) -> None:
        handler = self.handlers.get(envelope.event_type)
        if handler is not None:
            handler(envelope)

    def case_opened(self, envelope: Envelope) -> None:
        """Open the child's review case (idempotent)."""
        data = CaseOpenedIn.model_validate(envelope.data)
        self.app.open_case(
            data.child_id, data.area, data.referral_id, envelope.aggregate_id, caused_by(envelope)
        )

    def area_changed(self, envelope: Envelope) -> None:
        """Follow the child to another YJS area."""
        data = CaseOpenedIn.model_validate({**envelope.data, "referral_id": None})
        self.app.move_area(data.child_id, data.area, caused_by(envelope))

    def report_issued(self, envelope: Envelope) -> None:
        """Note the report: the child's stage, and the first review falls due."""
        data = ReportIssuedIn.model_validate(envelope.data)
        self.app.note_report_issued(
            data.child_id,
            envelope.aggregate_id,
            data.report_version,
            data.stage,
            data.issued_on,
            caused_by(envelope),
        )

    def stage_assessed(self, envelope: Envelope) -> None:
        """Note the child's TRM stage as assessed in formulation."""
        data = StageAssessedIn.model_validate(envelope.data)
        self.app.note_stage_assessed(
            data.child_id, data.stage, data.assessed_on, data.source, caused_by(envelope)
        )

    def intervention_planned(self, envelope: Envelope) -> None:
        """Note a planned intervention."""
        data = InterventionPlannedIn.model_validate(envelope.data)
        self.app.note_intervention_planned(
            data.child_id,
            data.intervention_id,
            data.intervention_type,
            data.stage,
            data.owning_agency,
            data.planned_start,
            caused_by(envelope),
        )

    def intervention_started(self, envelope: Envelope) -> None:
        """Note an intervention started."""
        data = InterventionStartedIn.model_validate(envelope.data)
        self._status(
            envelope,
            data.child_id,
            data.intervention_id,
            InterventionStatus.STARTED,
            data.started_on,
        )

    def intervention_completed(self, envelope: Envelope) -> None:
        """Note an intervention completed."""
        data = InterventionCompletedIn.model_validate(envelope.data)
        self._status(
            envelope,
            data.child_id,
            data.intervention_id,
            InterventionStatus.COMPLETED,
            data.completed_on,
        )

    def intervention_stopped(self, envelope: Envelope) -> None:
        """Note an intervention stopped."""
        data = InterventionStoppedIn.model_validate(envelope.data)
        self._status(
            envelope,
            data.child_id,
            data.intervention_id,
            InterventionStatus.STOPPED,
            data.stopped_on,
        )

    def _status(
        self,
        envelope: Envelope,
        child_id: UUID,
        intervention_id: UUID,
        status: InterventionStatus,
        on: date,
    ) -> None:
        self.app.note_intervention_status(
            child_id, intervention_id, status, on, caused_by(envelope)
        )


def consumers(resources: Needs) -> list[Consumer]:
    """Every consumer of the reviews service: formulation events, and the caseload model."""
    from services.reviews.caseload import CaseloadProjection

    app = resources.app(ReviewsApplication)
    engine = resources.engine("reviews-read")
    return [
        ApplicationSink(
            FORMULATION_CONSUMER, FORMULATION_SUBJECT, app, FormulationListener(app), engine
        ).consumer(),
        CaseloadProjection(engine).consumer(),
    ]
