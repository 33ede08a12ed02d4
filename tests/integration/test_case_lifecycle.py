"""One lifecycle across services: closing a child's ECM case (reviews) closes the referral it
was opened for (referrals), so the child can be referred again; reopening it reopens that
referral, unless the child was referred again meanwhile. On a real nats-server."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any
from uuid import UUID

import pytest

from services.children import index
from services.referrals import consumers as referral_consumers
from services.referrals.application import ReferralsApplication
from services.referrals.domain import Consent, ReferralStatus
from services.reviews.application import ReviewsApplication
from services.runtime import System
from shared.contracts import Actor, Envelope
from shared.domain import Area, Conflict, Meta
from shared.natsserver import EmbeddedNats
from shared.settings import Settings
from tests.harness import eventually, in_thread, running_node

CM = Meta("cm-1", "case_manager", "corr-l", "corr-l")
PSY = Meta("psy-1", "psychologist", "corr-l", "corr-l")
SP = Meta("sp-1", "senior_practitioner", "corr-l", "corr-l")


def with_lifecycle(system: System) -> System:
    """The system with the referrals service consuming its case lifecycle from the stream."""
    system.plugins = [
        dataclasses.replace(p, consumers=referral_consumers.consumers)
        if p.name == "referrals"
        else p
        for p in system.plugins
    ]
    return system


def accepted_child(referrals: ReferralsApplication) -> tuple[UUID, UUID]:
    child = referrals.register_child(
        given_name="Synthetic",
        family_name="Lifecycle",
        date_of_birth=date(2010, 5, 6),
        area=Area.BRISTOL,
        nhs_number=None,
        upn=None,
        meta=CM,
    )
    referral = referrals.refer(
        child_id=child,
        case_manager_id="cm-1",
        reason="Synthetic",
        trauma_history="Synthetic",
        expected_involvement_months=9,
        meta=CM,
    )
    referrals.record_consent(referral, Consent.GIVEN, "Synthetic parent", CM)
    referrals.accept(referral, PSY)
    return child, referral


def refer_again(referrals: ReferralsApplication, child: UUID) -> UUID:
    return referrals.refer(
        child_id=child,
        case_manager_id="cm-1",
        reason="Synthetic again",
        trauma_history="Synthetic",
        expected_involvement_months=9,
        meta=CM,
    )


async def test_closing_a_childs_case_closes_their_referral_and_reopening_reopens_it(
    store_settings: Settings, nats_server: EmbeddedNats
) -> None:
    system = with_lifecycle(
        System.build(store_settings, ["referrals", "formulation", "reviews", "children"])
    )
    try:
        async with running_node(store_settings, nats_server, system=system):
            referrals = system.apps["referrals"]
            reviews = system.apps["reviews"]
            assert isinstance(referrals, ReferralsApplication)
            assert isinstance(reviews, ReviewsApplication)
            child, referral = await in_thread(accepted_child, referrals)
            await eventually(lambda: reviews.has_case(child))
            with pytest.raises(Conflict, match="open referral"):
                await in_thread(refer_again, referrals, child)

            await in_thread(
                reviews.close_case,
                child,
                date(2026, 9, 1),
                None,
                SP.with_reason("Synthetic: order ended"),
            )

            def status() -> ReferralStatus:
                return referrals.get_referral(referral).status

            await eventually(lambda: status() == ReferralStatus.CLOSED)
            assert referrals.get_child(child).open_referral_id is None
            assert referrals.get_referral(referral).outcome_reason == "Synthetic: order ended"

            await in_thread(
                reviews.reopen_case,
                child,
                date(2026, 9, 10),
                SP.with_reason("Synthetic: new order"),
            )
            await eventually(lambda: status() == ReferralStatus.ACCEPTED)
            assert referrals.get_child(child).open_referral_id == referral

            def indexed() -> dict[str, Any]:  # the child index follows the lifecycle too
                row = index.child_row(system.engine(index.STORE), str(child))
                assert row is not None
                return row

            await eventually(
                lambda: (
                    indexed()["referral_status"] == "accepted" and indexed()["status"] != "closed"
                )
            )
            with pytest.raises(Conflict, match="open referral"):
                await in_thread(refer_again, referrals, child)

            await in_thread(
                reviews.close_case,
                child,
                date(2026, 10, 1),
                None,
                SP.with_reason("Synthetic: order ended again"),
            )
            await eventually(lambda: status() == ReferralStatus.CLOSED)
            again = await in_thread(refer_again, referrals, child)  # 409 before this change
            assert referrals.get_child(child).open_referral_id == again
    finally:
        system.close()


def message(event_type: str, child: UUID, n: int, reason: str | None = "Synthetic") -> Envelope:
    data: dict[str, Any] = {
        "child_id": str(child),
        "closed_on": "2026-09-01",
        "safety_net_until": None,
        "reopened_on": "2026-09-02",
    }
    return Envelope(
        message_id=f"reviews:{n}",
        service="reviews",
        event_type=event_type,
        event_version=1,
        notification_id=n,
        aggregate_id=child,
        aggregate_version=n,
        child_id=child,
        occurred_at="2026-09-01T10:00:00Z",
        actor=Actor(id="sp-1", role="senior_practitioner"),
        reason=reason,
        correlation_id="c",
        causation_id="c",
        data=data,
    )


@pytest.fixture
def referrals(settings: Settings) -> Any:
    system = System.build(settings, ["referrals"])
    app = system.apps["referrals"]
    yield app
    system.close()


def test_a_closed_case_leaves_a_newer_referral_awaiting_screening_alone(
    referrals: ReferralsApplication,
) -> None:
    child, referral = accepted_child(referrals)
    referrals.close_referral(referral, CM.with_reason("Synthetic: closed by hand"))
    newer = refer_again(referrals, child)
    assert not referral_consumers.on_review_message(referrals, message("CaseClosed", child, 1))
    assert referrals.get_referral(newer).status == ReferralStatus.REFERRED
    assert referrals.get_child(child).open_referral_id == newer


def test_reopening_a_case_after_the_child_was_referred_again_changes_nothing(
    referrals: ReferralsApplication,
) -> None:
    child, referral = accepted_child(referrals)
    assert referral_consumers.on_review_message(referrals, message("CaseClosed", child, 1, None))
    assert referrals.get_referral(referral).outcome_reason == (referral_consumers.CLOSED_WITH_CASE)
    newer = refer_again(referrals, child)
    assert not referral_consumers.on_review_message(referrals, message("CaseReopened", child, 2))
    assert referrals.get_referral(referral).status == ReferralStatus.CLOSED
    assert referrals.get_child(child).open_referral_id == newer


def test_other_reviews_events_are_ignored(referrals: ReferralsApplication) -> None:
    child, referral = accepted_child(referrals)
    assert not referral_consumers.on_review_message(referrals, message("ReviewDue", child, 1))
    assert referrals.get_referral(referral).status == ReferralStatus.ACCEPTED
