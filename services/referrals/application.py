"""Referrals use cases: register a child, refer, record consent, screen, withdraw, correct."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID, uuid4

from services.referrals.domain import Child, Consent, Referral, ReferralStatus
from shared.domain import Area, Meta
from shared.store import Authorise, EcmApplication, retry_on_race


class ReferralsApplication(EcmApplication):
    """The referrals service's event-sourced application."""

    service = "referrals"

    def register_child(
        self,
        *,
        given_name: str,
        family_name: str,
        date_of_birth: date,
        area: Area,
        nhs_number: str | None,
        upn: str | None,
        meta: Meta,
    ) -> UUID:
        """Register a child under a new pseudonymous id."""
        child = Child(
            given_name=given_name,
            family_name=family_name,
            date_of_birth=date_of_birth,
            area=area,
            nhs_number=nhs_number,
            upn=upn,
            meta=meta,
        )
        self.save_all(child)
        return child.id

    def get_child(self, child_id: UUID, authorise: Authorise[Child] | None = None) -> Child:
        """The child's current record; `authorise` decides where it is loaded."""
        return self.load(Child, child_id, "child", authorise)

    @retry_on_race
    def refer(
        self,
        *,
        child_id: UUID,
        case_manager_id: str,
        reason: str,
        trauma_history: str,
        expected_involvement_months: int,
        meta: Meta,
        expected_version: int | None = None,
        authorise: Authorise[Child] | None = None,
    ) -> UUID:
        """Refer a registered child to ECM; one open referral per child."""
        child = self.get_child(child_id, authorise)
        child.check_version(expected_version)
        child.check_can_be_referred()
        referral = Referral.make(
            child_id=child.id,
            area=child.area,
            case_manager_id=case_manager_id,
            reason=reason,
            trauma_history=trauma_history,
            expected_involvement_months=expected_involvement_months,
            meta=meta,
        )
        child.refer(referral.id, meta=meta)
        self.save_all(child, referral)
        return referral.id

    def get_referral(
        self, referral_id: UUID, authorise: Authorise[Referral] | None = None
    ) -> Referral:
        """The referral as it stands; `authorise` decides where it is loaded."""
        return self.load(Referral, referral_id, "referral", authorise)

    @retry_on_race
    def record_consent(
        self,
        referral_id: UUID,
        consent: Consent,
        given_by: str,
        meta: Meta,
        expected_version: int | None = None,
        authorise: Authorise[Referral] | None = None,
    ) -> int:
        """Record consent given, refused or withdrawn."""
        referral = self.get_referral(referral_id, authorise)
        referral.check_version(expected_version)
        referral.record_consent(consent, given_by, meta)
        self.save_all(referral)
        return referral.version

    @retry_on_race
    def accept(
        self,
        referral_id: UUID,
        meta: Meta,
        expected_version: int | None = None,
        authorise: Authorise[Referral] | None = None,
    ) -> int:
        """Accept the referral for formulation."""
        referral = self.get_referral(referral_id, authorise)
        referral.check_version(expected_version)
        referral.accept(meta)
        self.save_all(referral)
        return referral.version

    @retry_on_race
    def offer_consultation(
        self,
        referral_id: UUID,
        meta: Meta,
        expected_version: int | None = None,
        authorise: Authorise[Referral] | None = None,
    ) -> int:
        """Offer a consultation (non-formulated case)."""
        referral = self.get_referral(referral_id, authorise)
        referral.check_version(expected_version)
        referral.offer_consultation(meta)
        self.save_all(referral)
        return referral.version

    @retry_on_race
    def decline(
        self,
        referral_id: UUID,
        meta: Meta,
        expected_version: int | None = None,
        authorise: Authorise[Referral] | None = None,
    ) -> int:
        """Decline with a reason; the child may be referred again."""
        return self._end(referral_id, "decline", meta, expected_version, authorise)

    @retry_on_race
    def withdraw(
        self,
        referral_id: UUID,
        meta: Meta,
        expected_version: int | None = None,
        authorise: Authorise[Referral] | None = None,
    ) -> int:
        """Withdraw the referral; the child may be referred again."""
        return self._end(referral_id, "withdraw", meta, expected_version, authorise)

    @retry_on_race
    def close_referral(
        self,
        referral_id: UUID,
        meta: Meta,
        expected_version: int | None = None,
        authorise: Authorise[Referral] | None = None,
    ) -> int:
        """Close an accepted referral or consultation; the child may be referred again."""
        return self._end(referral_id, "close", meta, expected_version, authorise)

    def _end(
        self,
        referral_id: UUID,
        action: str,
        meta: Meta,
        expected: int | None,
        authorise: Authorise[Referral] | None,
    ) -> int:
        referral = self.get_referral(referral_id, authorise)
        referral.check_version(expected)
        getattr(referral, action)(meta)
        child = self.get_child(referral.child_id)
        child.referral_closed(referral_id=referral.id, meta=meta)
        self.save_all(referral, child)
        return referral.version

    def close_with_case(self, child_id: UUID, meta: Meta) -> bool:
        """The child's ECM case closed: close the accepted referral it was opened for, so the
        child may be referred again. False when there is none open (closed by hand already)."""
        child = self.get_child(child_id)
        if child.open_referral_id is None:
            return False
        referral = self.get_referral(child.open_referral_id)
        if referral.status != ReferralStatus.ACCEPTED:
            return False  # a newer referral awaits screening: not the case's to close
        referral.close(meta)
        child.referral_closed(referral_id=referral.id, meta=meta)
        self.save_all(referral, child)
        return True

    def reopen_with_case(self, child_id: UUID, meta: Meta) -> bool:
        """The child's ECM case reopened: its latest referral, closed, is open again. False
        when the child was referred again meanwhile, or the latest referral did not close."""
        child = self.get_child(child_id)
        if child.open_referral_id is not None or not child.referral_ids:
            return False
        referral = self.get_referral(child.referral_ids[-1])
        if referral.status != ReferralStatus.CLOSED or referral.consent != Consent.GIVEN:
            return False
        referral.reopen(meta)
        child.reopen_referral(referral.id, meta)
        self.save_all(referral, child)
        return True

    @retry_on_race
    def correct_child(
        self,
        child_id: UUID,
        field: str,
        value: Any,
        meta: Meta,
        expected_version: int | None = None,
        authorise: Authorise[Child] | None = None,
    ) -> int:
        """Correct a field of the child's record (a new event; the original stays)."""
        child = self.get_child(child_id, authorise)
        child.check_version(expected_version)
        child.correct(field, value, meta)
        referrals = []
        if field == "area":  # the child's referrals follow them, so area scope stays right
            for referral_id in child.referral_ids:
                referral = self.get_referral(referral_id)
                referral.move_area(child.area, meta)
                referrals.append(referral)
        self.save_all(child, *referrals)
        return child.version

    @retry_on_race
    def flag_dispute(
        self,
        child_id: UUID,
        field: str,
        meta: Meta,
        expected_version: int | None = None,
        authorise: Authorise[Child] | None = None,
    ) -> int:
        """Flag a field whose accuracy is disputed."""
        child = self.get_child(child_id, authorise)
        child.check_version(expected_version)
        child.flag_dispute(field, meta)
        self.save_all(child)
        return child.version

    @retry_on_race
    def correct_referral(
        self,
        referral_id: UUID,
        field: str,
        value: Any,
        meta: Meta,
        expected_version: int | None = None,
        authorise: Authorise[Referral] | None = None,
    ) -> int:
        """Correct a field of the referral."""
        referral = self.get_referral(referral_id, authorise)
        referral.check_version(expected_version)
        referral.correct(field, value, meta)
        self.save_all(referral)
        return referral.version


def new_correlation_id() -> str:
    """A fresh id for a conversation that starts here."""
    return str(uuid4())
