"""Referrals domain rules, without any store."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

import pytest

from services.referrals.domain import Child, Consent, Referral, ReferralStatus
from shared.domain import Area, Conflict, Invalid, Meta

META = Meta("cm-1", "case_manager", "c", "c")
WHY = META.with_reason("synthetic reason")


def referral(months: int = 6) -> Referral:
    return Referral.make(
        child_id=uuid4(),
        area=Area.BANES,
        case_manager_id="cm-1",
        reason="r",
        trauma_history="t",
        expected_involvement_months=months,
        meta=META,
    )


def child() -> Child:
    return Child(
        given_name="A",
        family_name="B",
        date_of_birth=date(2010, 1, 1),
        area=Area.BRISTOL,
        nhs_number=None,
        upn=None,
        meta=META,
    )


def test_ecm_takes_only_children_with_six_months_or_more_of_yjs_involvement() -> None:
    with pytest.raises(Invalid, match="expected_involvement_months"):
        referral(months=5)
    assert referral(months=6).status == ReferralStatus.REFERRED


def test_consent_must_be_given_before_accepting_for_formulation() -> None:
    r = referral()
    r.record_consent(Consent.REFUSED, "parent", META)
    with pytest.raises(Conflict, match="consent"):
        r.accept(META)
    r.record_consent(Consent.GIVEN, "parent", META)
    r.accept(META)
    assert r.status == ReferralStatus.ACCEPTED


@pytest.mark.parametrize("action", ["decline", "withdraw", "close"])
def test_ending_a_referral_needs_a_reason(action: str) -> None:
    r = referral()
    if action == "close":
        r.offer_consultation(META)
    with pytest.raises(Invalid, match="reason"):
        getattr(r, action)(META)


def test_a_screened_referral_cannot_be_screened_again() -> None:
    r = referral()
    r.offer_consultation(META)
    with pytest.raises(Conflict, match="status"):
        r.decline(WHY)


def test_a_child_has_at_most_one_open_referral_and_may_be_referred_after_closure() -> None:
    c = child()
    first = uuid4()
    c.refer(first, META)
    with pytest.raises(Conflict, match="open referral"):
        c.refer(uuid4(), META)
    c.referral_closed(referral_id=first, meta=META)
    c.refer(uuid4(), META)
    assert len(c.referral_ids) == 2


def test_a_correction_records_the_original_and_needs_a_reason() -> None:
    c = child()
    with pytest.raises(Invalid, match="reason"):
        c.correct("given_name", "Z", META)
    c.correct("given_name", "Z", WHY)
    event = c.collect_events()[-1]
    assert (event.original, event.value) == ("A", "Z")  # type: ignore[attr-defined]
    assert c.given_name == "Z"


def test_a_dispute_is_flagged_until_the_field_is_corrected() -> None:
    c = child()
    c.flag_dispute("date_of_birth", WHY)
    with pytest.raises(Conflict):
        c.flag_dispute("date_of_birth", WHY)
    c.correct("date_of_birth", date(2010, 2, 1), WHY)
    assert c.disputed == {}
