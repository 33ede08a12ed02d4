"""Referrals domain: a child registered with ECM and each referral of that child."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import event

from shared.domain import (
    Area,
    Conflict,
    EcmAggregate,
    Invalid,
    Meta,
    NotPersonal,
    Personal,
    register_stored_topics,
)

MIN_INVOLVEMENT_MONTHS = 6
MAX_INVOLVEMENT_MONTHS = 120
CORRECTABLE_CHILD_FIELDS = frozenset(
    {"given_name", "family_name", "date_of_birth", "area", "nhs_number", "upn"}
)
CORRECTABLE_REFERRAL_FIELDS = frozenset({"reason", "trauma_history", "expected_involvement_months"})


class ReferralStatus(StrEnum):
    """Where a referral stands after screening."""

    REFERRED = "referred"
    ACCEPTED = "accepted"
    CONSULTATION = "consultation"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
    CLOSED = "closed"


OPEN_STATUSES = frozenset(
    {ReferralStatus.REFERRED, ReferralStatus.ACCEPTED, ReferralStatus.CONSULTATION}
)


class Consent(StrEnum):
    """The consent to formulation as last recorded."""

    GIVEN = "given"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"


class Child(EcmAggregate):
    """A child known to ECM, under an internal pseudonymous id (the aggregate id)."""

    child_key_is_id: ClassVar[bool] = True

    class Registered(EcmAggregate.Created):
        given_name: Personal[str]
        family_name: Personal[str]
        date_of_birth: Personal[date]
        area: Area
        nhs_number: Personal[str | None]
        upn: Personal[str | None]
        meta: Meta

    @event(Registered)
    def __init__(
        self,
        given_name: str,
        family_name: str,
        date_of_birth: date,
        area: Area,
        nhs_number: str | None,
        upn: str | None,
        meta: Meta,
    ) -> None:
        self.given_name = given_name
        self.family_name = family_name
        self.date_of_birth = date_of_birth
        self.area = Area(area)
        self.nhs_number = nhs_number
        self.upn = upn
        self.open_referral_id: UUID | None = None
        self.referral_ids: list[UUID] = []
        self.disputed: dict[str, str] = {}

    def check_can_be_referred(self) -> None:
        """A child has at most one open referral."""
        if self.open_referral_id is not None:
            raise Conflict(
                f"child_id: child already has an open referral {self.open_referral_id}",
                field="child_id",
            )

    def refer(self, referral_id: UUID, meta: Meta) -> None:
        """Note that a new referral was made for this child."""
        self.check_can_be_referred()
        self._referred(referral_id=referral_id, meta=meta)

    class Referred(EcmAggregate.Event):
        referral_id: UUID
        meta: Meta

    @event(Referred)
    def _referred(self, referral_id: UUID, meta: Meta) -> None:
        self.open_referral_id = referral_id
        self.referral_ids.append(referral_id)

    class ReferralClosed(EcmAggregate.Event):
        referral_id: UUID
        meta: Meta

    @event(ReferralClosed)
    def referral_closed(self, referral_id: UUID, meta: Meta) -> None:
        """The open referral was declined, withdrawn or closed: a new one may follow."""
        if self.open_referral_id == referral_id:
            self.open_referral_id = None

    def reopen_referral(self, referral_id: UUID, meta: Meta) -> None:
        """A closed referral of this child is open again (the child's ECM case reopened)."""
        self.check_can_be_referred()
        if referral_id not in self.referral_ids:
            raise Conflict(
                f"referral_id: {referral_id} is not a referral of this child", field="referral_id"
            )
        self._referral_reopened(referral_id=referral_id, meta=meta)

    class ReferralReopened(EcmAggregate.Event):
        referral_id: UUID
        meta: Meta

    @event(ReferralReopened)
    def _referral_reopened(self, referral_id: UUID, meta: Meta) -> None:
        self.open_referral_id = referral_id

    def correct(self, field: str, value: Any, meta: Meta) -> None:
        """Correct one field; the original stays in the history."""
        if field not in CORRECTABLE_CHILD_FIELDS:
            raise Invalid(f"field: {field!r} cannot be corrected", field="field")
        if not meta.reason:
            raise Invalid("reason: a correction needs a reason", field="reason")
        if field == "area":  # not personal: its own event, readable after erasure
            self._area_corrected(area=Area(value), original_area=self.area, meta=meta)
            return
        self._corrected(field=field, value=value, original=getattr(self, field), meta=meta)

    class Corrected(EcmAggregate.Event):
        field: NotPersonal
        value: Personal[Any]
        original: Personal[Any]
        meta: Meta

    @event(Corrected)
    def _corrected(self, field: str, value: Any, original: Any, meta: Meta) -> None:
        setattr(self, field, value)
        self.disputed.pop(field, None)

    class AreaCorrected(EcmAggregate.Event):
        area: Area
        original_area: Area
        meta: Meta

    @event(AreaCorrected)
    def _area_corrected(self, area: Area, original_area: Area, meta: Meta) -> None:
        self.area = Area(area)
        self.disputed.pop("area", None)

    def flag_dispute(self, field: str, meta: Meta) -> None:
        """Flag a field whose accuracy the child or family disputes (UK GDPR art. 18)."""
        if field not in CORRECTABLE_CHILD_FIELDS:
            raise Invalid(f"field: {field!r} cannot be disputed", field="field")
        if not meta.reason:
            raise Invalid("reason: a dispute needs a reason", field="reason")
        if field in self.disputed:
            raise Conflict(f"field: {field} is already flagged as disputed", field="field")
        self._dispute_flagged(field=field, meta=meta)

    class DisputeFlagged(EcmAggregate.Event):
        field: NotPersonal
        meta: Meta

    @event(DisputeFlagged)
    def _dispute_flagged(self, field: str, meta: Meta) -> None:
        self.disputed[field] = meta.reason or ""


class Referral(EcmAggregate):
    """One referral of a child by a YJS case manager, and its screening."""

    class Made(EcmAggregate.Created):
        child_id: UUID
        area: Area
        case_manager_id: NotPersonal
        reason: Personal[str]
        trauma_history: Personal[str]
        expected_involvement_months: int
        meta: Meta

    @classmethod
    def make(
        cls,
        *,
        child_id: UUID,
        area: Area,
        case_manager_id: str,
        reason: str,
        trauma_history: str,
        expected_involvement_months: int,
        meta: Meta,
    ) -> Referral:
        """Make a referral of a child expected to be with the YJS long enough for ECM."""
        if expected_involvement_months < MIN_INVOLVEMENT_MONTHS:
            raise Invalid(
                "expected_involvement_months: ECM takes children with the YJS for at least "
                f"{MIN_INVOLVEMENT_MONTHS} months",
                field="expected_involvement_months",
            )
        return cls(
            child_id=child_id,
            area=Area(area),
            case_manager_id=case_manager_id,
            reason=reason,
            trauma_history=trauma_history,
            expected_involvement_months=expected_involvement_months,
            meta=meta,
        )

    @event(Made)
    def __init__(
        self,
        child_id: UUID,
        area: Area,
        case_manager_id: str,
        reason: str,
        trauma_history: str,
        expected_involvement_months: int,
        meta: Meta,
    ) -> None:
        self.child_id = child_id
        self.area = Area(area)
        self.case_manager_id = case_manager_id
        self.reason = reason
        self.trauma_history = trauma_history
        self.expected_involvement_months = expected_involvement_months
        self.status = ReferralStatus.REFERRED
        self.consent: Consent | None = None
        self.outcome_reason: str | None = None

    @property
    def is_open(self) -> bool:
        """Open referrals block another referral of the same child."""
        return self.status in OPEN_STATUSES

    def _check_status(self, action: str, *allowed: ReferralStatus) -> None:
        if self.status not in allowed:
            raise Conflict(
                f"status: cannot {action} a referral that is {self.status}", field="status"
            )

    def record_consent(self, consent: Consent, given_by: str, meta: Meta) -> None:
        """Record consent to formulation as given, refused or withdrawn, and by whom."""
        self._check_status("record consent on", ReferralStatus.REFERRED, ReferralStatus.ACCEPTED)
        self._consent_recorded(
            child_id=self.child_id, consent=Consent(consent), given_by=given_by, meta=meta
        )

    class ConsentRecorded(EcmAggregate.Event):
        child_id: UUID
        consent: Consent
        given_by: Personal[str]
        meta: Meta

    @event(ConsentRecorded)
    def _consent_recorded(
        self, child_id: UUID, consent: Consent, given_by: str, meta: Meta
    ) -> None:
        self.consent = Consent(consent)

    def accept(self, meta: Meta) -> None:
        """Accept for formulation; consent must have been given first."""
        self._check_status("accept", ReferralStatus.REFERRED)
        if self.consent != Consent.GIVEN:
            raise Conflict(
                "consent: consent must be given before accepting for formulation", field="consent"
            )
        self._accepted(child_id=self.child_id, area=self.area, meta=meta)

    class Accepted(EcmAggregate.Event):
        child_id: UUID
        area: Area
        meta: Meta

    @event(Accepted)
    def _accepted(self, child_id: UUID, area: Area, meta: Meta) -> None:
        self.status = ReferralStatus.ACCEPTED

    def offer_consultation(self, meta: Meta) -> None:
        """Offer a consultation instead of formulation (a non-formulated case)."""
        self._check_status("offer a consultation on", ReferralStatus.REFERRED)
        self._consultation_offered(child_id=self.child_id, area=self.area, meta=meta)

    class ConsultationOffered(EcmAggregate.Event):
        child_id: UUID
        area: Area
        meta: Meta

    @event(ConsultationOffered)
    def _consultation_offered(self, child_id: UUID, area: Area, meta: Meta) -> None:
        self.status = ReferralStatus.CONSULTATION

    def decline(self, meta: Meta) -> None:
        """Decline with a reason."""
        self._check_status("decline", ReferralStatus.REFERRED)
        if not meta.reason:
            raise Invalid("reason: declining a referral needs a reason", field="reason")
        self._declined(child_id=self.child_id, meta=meta)

    class Declined(EcmAggregate.Event):
        child_id: UUID
        meta: Meta

    @event(Declined)
    def _declined(self, child_id: UUID, meta: Meta) -> None:
        self.status = ReferralStatus.DECLINED
        self.outcome_reason = meta.reason

    def withdraw(self, meta: Meta) -> None:
        """Withdraw the referral (by the referrer, or because the child left the YJS)."""
        self._check_status(
            "withdraw",
            ReferralStatus.REFERRED,
            ReferralStatus.ACCEPTED,
            ReferralStatus.CONSULTATION,
        )
        if not meta.reason:
            raise Invalid("reason: withdrawing a referral needs a reason", field="reason")
        self._withdrawn(child_id=self.child_id, meta=meta)

    class Withdrawn(EcmAggregate.Event):
        child_id: UUID
        meta: Meta

    @event(Withdrawn)
    def _withdrawn(self, child_id: UUID, meta: Meta) -> None:
        self.status = ReferralStatus.WITHDRAWN
        self.outcome_reason = meta.reason

    def close(self, meta: Meta) -> None:
        """Close an accepted referral or consultation when ECM's work ends."""
        self._check_status("close", ReferralStatus.ACCEPTED, ReferralStatus.CONSULTATION)
        if not meta.reason:
            raise Invalid("reason: closing a referral needs a reason", field="reason")
        self._closed(child_id=self.child_id, meta=meta)

    class Closed(EcmAggregate.Event):
        child_id: UUID
        meta: Meta

    @event(Closed)
    def _closed(self, child_id: UUID, meta: Meta) -> None:
        self.status = ReferralStatus.CLOSED
        self.outcome_reason = meta.reason

    def reopen(self, meta: Meta) -> None:
        """Reopen a closed referral that was accepted for formulation (its case reopened)."""
        self._check_status("reopen", ReferralStatus.CLOSED)
        if self.consent != Consent.GIVEN:
            raise Conflict(
                "status: only a referral accepted for formulation can be reopened", field="status"
            )
        if not meta.reason:
            raise Invalid("reason: reopening a referral needs a reason", field="reason")
        self._reopened(child_id=self.child_id, area=self.area, meta=meta)

    class Reopened(EcmAggregate.Event):
        child_id: UUID
        area: Area
        meta: Meta

    @event(Reopened)
    def _reopened(self, child_id: UUID, area: Area, meta: Meta) -> None:
        self.status = ReferralStatus.ACCEPTED
        self.outcome_reason = None

    def move_area(self, area: Area, meta: Meta) -> None:
        """Follow the child to another YJS area (after a correction of the child's area)."""
        if Area(area) != self.area:
            self._area_changed(child_id=self.child_id, area=Area(area), meta=meta)

    class AreaChanged(EcmAggregate.Event):
        child_id: UUID
        area: Area
        meta: Meta

    @event(AreaChanged)
    def _area_changed(self, child_id: UUID, area: Area, meta: Meta) -> None:
        self.area = Area(area)

    def correct(self, field: str, value: Any, meta: Meta) -> None:
        """Correct one field of the referral; the original stays in the history."""
        if field not in CORRECTABLE_REFERRAL_FIELDS:
            raise Invalid(f"field: {field!r} cannot be corrected", field="field")
        if not meta.reason:
            raise Invalid("reason: a correction needs a reason", field="reason")
        if field == "expected_involvement_months" and (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not MIN_INVOLVEMENT_MONTHS <= value <= MAX_INVOLVEMENT_MONTHS
        ):
            raise Invalid(
                f"value: expected_involvement_months must be a whole number from "
                f"{MIN_INVOLVEMENT_MONTHS} to {MAX_INVOLVEMENT_MONTHS}",
                field="value",
            )
        if field != "expected_involvement_months" and (not isinstance(value, str) or not value):
            raise Invalid(f"value: {field} must be non-empty text", field="value")
        if field == "expected_involvement_months":  # not personal: readable after erasure
            self._involvement_corrected(
                child_id=self.child_id,
                months=value,
                original_months=self.expected_involvement_months,
                meta=meta,
            )
            return
        self._corrected(
            child_id=self.child_id,
            field=field,
            value=value,
            original=getattr(self, field),
            meta=meta,
        )

    class Corrected(EcmAggregate.Event):
        child_id: UUID
        field: NotPersonal
        value: Personal[Any]
        original: Personal[Any]
        meta: Meta

    @event(Corrected)
    def _corrected(self, child_id: UUID, field: str, value: Any, original: Any, meta: Meta) -> None:
        setattr(self, field, value)

    class InvolvementCorrected(EcmAggregate.Event):
        child_id: UUID
        months: int
        original_months: int
        meta: Meta

    @event(InvolvementCorrected)
    def _involvement_corrected(
        self, child_id: UUID, months: int, original_months: int, meta: Meta
    ) -> None:
        self.expected_involvement_months = months


# The topics these events are stored under: keep this module name if the classes move.
register_stored_topics("services.referrals.domain", Child, Referral)
