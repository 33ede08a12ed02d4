"""A child's path across every service on a real nats-server: referral to review and back."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import cast
from uuid import UUID

import pytest

from services.formulation.application import FormulationApplication
from services.formulation.sequencing import OutOfSequenceIntervention
from services.formulation.values import RecommendationDraft
from services.referrals.application import ReferralsApplication
from services.referrals.domain import Consent
from services.reviews.application import ReviewsApplication
from shared.bus import connect, count_messages
from shared.contracts import Envelope
from shared.domain import Area, Meta, NotFound
from shared.meetings import AttendanceRecord, Invitee
from shared.natsserver import EmbeddedNats
from shared.settings import Settings
from shared.vocabulary import Agency, Attendance
from tests.harness import eventually, in_thread, running_node

CM = Meta("cm-1", "case_manager", "journey", "journey")
PSY = Meta("psy-1", "psychologist", "journey", "journey")
SP = Meta("sp-1", "senior_practitioner", "journey", "journey")


async def accepted_child(referrals: ReferralsApplication, area: Area) -> tuple[UUID, UUID]:
    """A synthetic child referred in `area`, with consent, accepted for formulation."""
    child = await in_thread(
        referrals.register_child,
        given_name="Journey",
        family_name="Synthetic",
        date_of_birth=date(2010, 6, 1),
        area=area,
        nhs_number=None,
        upn=None,
        meta=CM,
    )
    referral = await in_thread(
        referrals.refer,
        child_id=child,
        case_manager_id="cm-1",
        reason="synthetic",
        trauma_history="synthetic",
        expected_involvement_months=12,
        meta=CM,
    )
    await in_thread(referrals.record_consent, referral, Consent.GIVEN, "carer", CM)
    await in_thread(referrals.accept, referral, PSY)
    return child, referral


async def test_a_review_reassessment_on_the_stream_changes_what_formulation_allows(
    settings: Settings, nats_server: EmbeddedNats
) -> None:
    async with running_node(settings, nats_server) as system:
        referrals = cast(ReferralsApplication, system.apps["referrals"])
        formulation = cast(FormulationApplication, system.apps["formulation"])
        reviews = cast(ReviewsApplication, system.apps["reviews"])
        child, _ = await accepted_child(referrals, Area.NORTH_SOMERSET)

        await eventually(lambda: _has(formulation.get_case, child))  # opened from the stream
        issued_on = date.today() - timedelta(days=1)
        await in_thread(
            formulation.issue_report,
            child,
            narrative="synthetic narrative",
            stage=2,
            issued_on=issued_on,
            stage_rationale="settling with one adult",
            recommendations=[RecommendationDraft(2, Agency.YJS, "1:1 time")],
            meta=PSY,
        )
        with pytest.raises(OutOfSequenceIntervention, match="stage 2"):
            await in_thread(
                formulation.plan_intervention,
                child,
                intervention_type="CBT",
                stage=4,
                owning_agency=Agency.CAMHS,
                planned_start=issued_on,
                recommendation_id=None,
                override_rationale=None,
                meta=PSY,
            )

        await eventually(lambda: _review_due(reviews, child))  # due from ReportIssued
        review_id = reviews.get_record(child).current_review_id
        assert review_id is not None
        starts = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
        await in_thread(
            reviews.schedule_review,
            child,
            review_id,
            starts,
            "YJS office",
            None,
            [Invitee(Agency.EDUCATION), Invitee(Agency.HEALTH)],
            SP,
        )
        await in_thread(
            reviews.record_review_held,
            child,
            review_id,
            held_on=starts.date(),
            attendance=[
                AttendanceRecord(Agency.EDUCATION, None, Attendance.ATTENDED),
                AttendanceRecord(Agency.HEALTH, None, Attendance.APOLOGIES),
            ],
            stage=4,
            rationale="ready for cognitive work",
            progress=[],
            actions=[],
            next_review_on=starts.date() + timedelta(weeks=6),
            meta=PSY,
        )

        nc = await connect(system.settings, nats_server.url)
        js = nc.jetstream()

        async def published() -> bool:
            return await count_messages(js, "ecm.reviews.ReviewHeld") == 1

        await eventually(published)
        held = await js.get_last_msg("ECM", "ecm.reviews.ReviewHeld")
        envelope = Envelope.model_validate_json(held.data or b"")
        assert envelope.child_id == child and envelope.data["stage"] == 4
        assert {(a["agency"], a["attendance"]) for a in envelope.data["attendance"]} == {
            ("education", "attended"),
            ("health", "apologies"),
        }
        await nc.close()

        await eventually(lambda: formulation.get_case(child).current_stage == 4)
        intervention, overridden, _ = await in_thread(
            formulation.plan_intervention,
            child,
            intervention_type="CBT",
            stage=4,
            owning_agency=Agency.CAMHS,
            planned_start=date.today(),
            recommendation_id=None,
            override_rationale=None,
            meta=PSY,
        )
        assert isinstance(intervention, UUID) and overridden is False


def _has(get: object, child: UUID) -> bool:
    try:
        get(child)  # type: ignore[operator]
    except NotFound:
        return False
    return True


def _review_due(reviews: ReviewsApplication, child: UUID) -> bool:
    return _has(reviews.get_case, child) and reviews.get_record(child).current_review_id is not None


async def test_when_a_childs_area_is_corrected_every_service_follows(
    settings: Settings, nats_server: EmbeddedNats
) -> None:
    async with running_node(settings, nats_server) as system:
        referrals = cast(ReferralsApplication, system.apps["referrals"])
        formulation = cast(FormulationApplication, system.apps["formulation"])
        reviews = cast(ReviewsApplication, system.apps["reviews"])
        child, referral = await accepted_child(referrals, Area.BRISTOL)
        await eventually(lambda: _has(reviews.get_case, child))
        await in_thread(
            referrals.correct_child,
            child,
            "area",
            "banes",
            CM.with_reason("family moved; transferred to BANES YJS"),
        )
        assert referrals.get_referral(referral).area == Area.BANES
        await eventually(lambda: formulation.get_case(child).area == Area.BANES)
        await eventually(lambda: reviews.get_case(child).area == Area.BANES)
