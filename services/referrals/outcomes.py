"""Offending outcomes of a child: proven offences and breaches, recorded by case managers.

One aggregate per child (id `outcomes_id_for(child_id)`), kept in the referrals store so it
is published through the referrals relay and contracts. Records are never edited: a
correction or a retraction is an event of its own and the original stays in the history.
Event classes are declared explicitly, each with `class_version = 1`, so a later change to
their attributes comes with an upcaster; their bodies only assign.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid4, uuid5

from eventsourcing.domain import event

from services.referrals.application import ReferralsApplication
from shared.domain import (
    Area,
    Conflict,
    EcmAggregate,
    Invalid,
    Meta,
    NotPersonal,
    RecordNotFound,
    register_stored_topics,
)


class OffenceType(StrEnum):
    """The kind of offence (coarse Home Office groups), or a breach of an order."""

    VIOLENCE = "violence_against_the_person"
    ROBBERY = "robbery"
    THEFT = "theft"
    BURGLARY = "burglary"
    CRIMINAL_DAMAGE = "criminal_damage"
    DRUGS = "drugs"
    WEAPONS = "possession_of_weapons"
    PUBLIC_ORDER = "public_order"
    SEXUAL = "sexual"
    MOTORING = "motoring"
    OTHER = "other"
    BREACH = "breach_of_order"


class Disposal(StrEnum):
    """How the offence was proven (a conviction or a caution), or that it was not."""

    CONVICTION = "conviction"
    YOUTH_CAUTION = "youth_caution"
    YOUTH_CONDITIONAL_CAUTION = "youth_conditional_caution"
    BREACH_PROVEN = "breach_proven"
    NOT_PROVEN = "not_proven"


PROVEN = frozenset(
    {
        Disposal.CONVICTION,
        Disposal.YOUTH_CAUTION,
        Disposal.YOUTH_CONDITIONAL_CAUTION,
        Disposal.BREACH_PROVEN,
    }
)
CORRECTABLE = frozenset({"offence_type", "committed_on", "proven_on", "outcome"})


def outcomes_id_for(child_id: UUID) -> UUID:
    """The one outcomes record of a child (deterministic: creating it twice is idempotent)."""
    return uuid5(child_id, "outcomes")


def check_offence(
    offence_type: OffenceType,
    committed_on: date,
    proven_on: date | None,
    outcome: Disposal,
    today: date,
) -> None:
    """The rules one offence record must keep, naming the field at fault."""
    if committed_on > today:
        raise Invalid("committed_on: must not be in the future", field="committed_on")
    if outcome in PROVEN and proven_on is None:
        raise Invalid("proven_on: a proven outcome needs the date it was proven", field="proven_on")
    if outcome is Disposal.NOT_PROVEN and proven_on is not None:
        raise Invalid("proven_on: an offence not proven has no date proven", field="proven_on")
    if proven_on is not None and proven_on < committed_on:
        raise Invalid("proven_on: must not be before committed_on", field="proven_on")
    if proven_on is not None and proven_on > today:
        raise Invalid("proven_on: must not be in the future", field="proven_on")
    breach = offence_type is OffenceType.BREACH
    if (breach and outcome not in (Disposal.BREACH_PROVEN, Disposal.NOT_PROVEN)) or (
        not breach and outcome is Disposal.BREACH_PROVEN
    ):
        raise Invalid(
            "outcome: a breach of an order is proven as breach_proven, and only a breach is",
            field="outcome",
        )


class ChildOutcomes(EcmAggregate):
    """The proven offences and breaches of one child, before, during and after ECM."""

    class Started(EcmAggregate.Created):
        """The child's outcomes record was started."""

        class_version = 1
        child_id: UUID
        area: NotPersonal
        meta: Meta

    @staticmethod
    def create_id(child_id: UUID, **_: Any) -> UUID:
        """Deterministic: one record per child."""
        return outcomes_id_for(child_id)

    @event(Started)
    def __init__(self, child_id: UUID, area: str, meta: Meta) -> None:
        self.child_id = child_id
        self.area = area
        self.offences: dict[UUID, dict[str, Any]] = {}

    class OffenceRecorded(EcmAggregate.Event):
        """A proven offence or breach (or one not proven) was recorded."""

        class_version = 1
        child_id: UUID
        offence_id: UUID
        # Coded vocabulary under the child's pseudonymous id, like TRM stages: kept in clear so
        # that evaluation (and the history after an erasure) can count offending.
        offence_type: NotPersonal
        committed_on: date
        proven_on: date | None
        outcome: NotPersonal
        meta: Meta

    def record_offence(
        self,
        offence_id: UUID,
        offence_type: OffenceType,
        committed_on: date,
        proven_on: date | None,
        outcome: Disposal,
        meta: Meta,
        today: date,
    ) -> None:
        """Record one offence; the same offence id twice is a conflict."""
        if offence_id in self.offences:
            raise Conflict(
                f"offence_id: offence {offence_id} is already recorded", field="offence_id"
            )
        check_offence(offence_type, committed_on, proven_on, outcome, today)
        self._offence_recorded(
            child_id=self.child_id,
            offence_id=offence_id,
            offence_type=str(offence_type),
            committed_on=committed_on,
            proven_on=proven_on,
            outcome=str(outcome),
            meta=meta,
        )

    @event(OffenceRecorded)
    def _offence_recorded(
        self,
        child_id: UUID,
        offence_id: UUID,
        offence_type: str,
        committed_on: date,
        proven_on: date | None,
        outcome: str,
        meta: Meta,
    ) -> None:
        self.offences[offence_id] = {
            "offence_type": offence_type,
            "committed_on": committed_on,
            "proven_on": proven_on,
            "outcome": outcome,
            "retracted": False,
        }

    class OffenceCorrected(EcmAggregate.Event):
        """An offence record was corrected (every field as it now stands; reason in meta)."""

        class_version = 1
        child_id: UUID
        offence_id: UUID
        # Coded vocabulary under the child's pseudonymous id, like TRM stages: kept in clear so
        # that evaluation (and the history after an erasure) can count offending.
        offence_type: NotPersonal
        committed_on: date
        proven_on: date | None
        outcome: NotPersonal
        meta: Meta

    def correct_offence(
        self, offence_id: UUID, changes: dict[str, Any], meta: Meta, today: date
    ) -> None:
        """Correct fields of one offence record; the original stays in the history."""
        current = self._live(offence_id)
        unknown = sorted(set(changes) - CORRECTABLE)
        if unknown:
            raise Invalid(f"{unknown[0]}: cannot be corrected", field=unknown[0])
        if not changes:
            raise Invalid("changes: name at least one field to correct", field="changes")
        if not meta.reason:
            raise Invalid("reason: a correction needs a reason", field="reason")
        merged = {**current, **changes}
        offence_type = OffenceType(merged["offence_type"])
        outcome = Disposal(merged["outcome"])
        check_offence(offence_type, merged["committed_on"], merged["proven_on"], outcome, today)
        self._offence_corrected(
            child_id=self.child_id,
            offence_id=offence_id,
            offence_type=str(offence_type),
            committed_on=merged["committed_on"],
            proven_on=merged["proven_on"],
            outcome=str(outcome),
            meta=meta,
        )

    @event(OffenceCorrected)
    def _offence_corrected(
        self,
        child_id: UUID,
        offence_id: UUID,
        offence_type: str,
        committed_on: date,
        proven_on: date | None,
        outcome: str,
        meta: Meta,
    ) -> None:
        self.offences[offence_id] = {
            "offence_type": offence_type,
            "committed_on": committed_on,
            "proven_on": proven_on,
            "outcome": outcome,
            "retracted": False,
        }

    class OffenceRetracted(EcmAggregate.Event):
        """An offence record was entered in error and no longer counts (reason in meta)."""

        class_version = 1
        child_id: UUID
        offence_id: UUID
        meta: Meta

    def retract_offence(self, offence_id: UUID, meta: Meta) -> None:
        """Withdraw a record made in error; it stays in the history."""
        self._live(offence_id)
        if not meta.reason:
            raise Invalid("reason: a retraction needs a reason", field="reason")
        self._offence_retracted(child_id=self.child_id, offence_id=offence_id, meta=meta)

    @event(OffenceRetracted)
    def _offence_retracted(self, child_id: UUID, offence_id: UUID, meta: Meta) -> None:
        self.offences[offence_id]["retracted"] = True

    def _live(self, offence_id: UUID) -> dict[str, Any]:
        record = self.offences.get(offence_id)
        if record is None or record["retracted"]:
            raise RecordNotFound(f"offence_id: offence {offence_id} not found", field="offence_id")
        return {k: v for k, v in record.items() if k != "retracted"}


class Outcomes:
    """Use cases of offending outcomes, saved in the referrals store (and so published)."""

    def __init__(self, app: ReferralsApplication) -> None:
        self.app = app

    def get(self, child_id: UUID) -> ChildOutcomes | None:
        """The child's outcomes record, or None before the first offence."""
        try:
            return self.app.load(ChildOutcomes, outcomes_id_for(child_id), "outcomes")
        except RecordNotFound:
            return None

    def record_offence(
        self,
        child_id: UUID,
        *,
        offence_type: OffenceType,
        committed_on: date,
        proven_on: date | None,
        outcome: Disposal,
        meta: Meta,
        today: date | None = None,
        offence_id: UUID | None = None,
    ) -> UUID:
        """Record a proven offence or breach of a registered child; returns its id."""
        chosen = offence_id or uuid4()
        day = today or date.today()

        def attempt() -> UUID:
            child = self.app.get_child(child_id)
            record = self.get(child_id) or ChildOutcomes(
                child_id=child_id, area=str(Area(child.area)), meta=meta
            )
            record.record_offence(chosen, offence_type, committed_on, proven_on, outcome, meta, day)
            self.app.save_all(record)
            return chosen

        return self.app.retrying(attempt)

    def correct_offence(
        self,
        child_id: UUID,
        offence_id: UUID,
        changes: dict[str, Any],
        meta: Meta,
        today: date | None = None,
    ) -> int:
        """Correct an offence record; returns the record's new version."""
        day = today or date.today()

        def attempt() -> int:
            record = self._existing(child_id)
            record.correct_offence(offence_id, changes, meta, day)
            self.app.save_all(record)
            return record.version

        return self.app.retrying(attempt)

    def retract_offence(self, child_id: UUID, offence_id: UUID, meta: Meta) -> int:
        """Retract an offence record made in error; returns the record's new version."""

        def attempt() -> int:
            record = self._existing(child_id)
            record.retract_offence(offence_id, meta)
            self.app.save_all(record)
            return record.version

        return self.app.retrying(attempt)

    def _existing(self, child_id: UUID) -> ChildOutcomes:
        record = self.get(child_id)
        if record is None:
            raise RecordNotFound(f"child {child_id}: no outcomes recorded", field="child_id")
        return record


register_stored_topics("services.referrals.outcomes", ChildOutcomes)
