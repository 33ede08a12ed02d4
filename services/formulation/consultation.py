"""Consultations: the non-formulated case, advice to the case manager only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from uuid import UUID

from eventsourcing.domain import event

from services.formulation.values import checked_text, consultation_id_for, invalid
from shared.domain import (
    Area,
    Clear,
    Conflict,
    EcmAggregate,
    Meta,
    Personal,
    register_stored_topics,
)
from shared.vocabulary import Agency


class ConsultationStatus(StrEnum):
    """Where a consultation stands."""

    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class ConsultationSession:
    """One consultation held with the case manager: who attended and the advice given."""

    held_on: date
    attended_by: tuple[str, ...] | None
    agencies: tuple[Agency, ...]
    advice: str | None
    held_by: str


class Consultation(EcmAggregate):
    """A non-formulated case: advice to the case manager, from a referral offered consultation."""

    @staticmethod
    def create_id(referral_id: UUID) -> UUID:
        """The consultation id derives from the referral id (see `consultation_id_for`)."""
        return consultation_id_for(referral_id)

    class Opened(EcmAggregate.Created):
        child_id: UUID
        referral_id: UUID
        area: Area
        meta: Meta

    @event(Opened)
    def __init__(self, child_id: UUID, referral_id: UUID, area: Area, meta: Meta) -> None:
        self.child_id = child_id
        self.referral_id = referral_id
        self.area = Area(area)
        self.status = ConsultationStatus.OPEN
        self.sessions: list[ConsultationSession] = []
        self.close_reason: str | None = None

    def _check_open(self, action: str) -> None:
        if self.status != ConsultationStatus.OPEN:
            raise Conflict(
                f"status: cannot {action} a consultation that is {self.status}", field="status"
            )

    def hold(
        self, held_on: date, attended_by: list[str], agencies: list[Agency], advice: str, meta: Meta
    ) -> None:
        """Record a consultation held: date, who attended, the advice given."""
        self._check_open("hold")
        if not attended_by:
            raise invalid("attended_by", "name at least one person who attended")
        for index, who in enumerate(attended_by):
            checked_text(who, f"attended_by.{index}")
        checked_text(advice, "advice")
        self._held(
            child_id=self.child_id,
            held_on=held_on,
            attended_by=list(attended_by),
            agencies=sorted({str(Agency(a)) for a in agencies}),
            advice=advice,
            meta=meta,
        )

    class Held(EcmAggregate.Event):
        child_id: UUID
        held_on: date
        attended_by: Personal[list[str] | None]
        agencies: Clear[list[str]]
        advice: Personal[str | None]
        meta: Meta

    @event(Held)
    def _held(
        self,
        child_id: UUID,
        held_on: date,
        attended_by: list[str] | None,
        agencies: list[str],
        advice: str | None,
        meta: Meta,
    ) -> None:
        self.sessions.append(
            ConsultationSession(
                held_on,
                tuple(attended_by) if attended_by is not None else None,
                tuple(Agency(a) for a in agencies),
                advice,
                meta.actor_id,
            )
        )

    def close(self, meta: Meta) -> None:
        """Close the consultation; closing one never held needs a reason."""
        self._check_open("close")
        if not self.sessions and not meta.reason:
            raise invalid("reason", "closing a consultation that was never held needs a reason")
        self._closed(child_id=self.child_id, meta=meta)

    class Closed(EcmAggregate.Event):
        child_id: UUID
        meta: Meta

    @event(Closed)
    def _closed(self, child_id: UUID, meta: Meta) -> None:
        self.status = ConsultationStatus.CLOSED
        self.close_reason = meta.reason


# The topics these events are stored under: keep this module name if the classes move.
register_stored_topics("services.formulation.consultation", Consultation)
