"""The formulation service on a real nats-server: cases open from the stream exactly once, and
a review's re-assessment on the stream changes what the sequencing rule allows."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID, uuid4

import pytest
from nats.js import JetStreamContext

from services.formulation.application import FormulationApplication
from services.formulation.consumers import (
    REFERRALS_CONSUMER,
    REVIEWS_CONSUMER,
    on_referral_message,
)
from services.formulation.sequencing import OutOfSequenceIntervention
from services.formulation.values import case_id_for
from shared.bus import connect
from shared.contracts import STREAM, Envelope
from shared.domain import NotFound
from shared.natsserver import EmbeddedNats
from shared.settings import Settings
from shared.vocabulary import Agency
from tests.harness import eventually, in_thread, publish_signed, running_node
from tests.integration.test_formulation_application import (
    PSYCHOLOGIST,
    screened_referral,
    stage_reassessed,
)

pytestmark = pytest.mark.nats
SERVICES = ["referrals", "formulation"]


def case_exists(app: FormulationApplication, child_id: UUID) -> bool:
    try:
        app.get_case(child_id)
    except NotFound:
        return False
    return True


async def consumed_up_to(js: JetStreamContext, consumer: str, sequence: int) -> bool:
    """True once the durable consumer has acknowledged every message up to `sequence`."""
    info = await js.consumer_info(STREAM, consumer)
    return info.ack_floor.stream_seq >= sequence and not info.num_ack_pending


def plan_cognitive_work(app: FormulationApplication, child_id: UUID) -> Any:
    return app.plan_intervention(
        child_id,
        intervention_type="Synthetic CBT",
        stage=4,
        owning_agency=Agency.YJS,
        planned_start=date(2024, 10, 1),
        recommendation_id=None,
        override_rationale=None,
        meta=PSYCHOLOGIST,
    )


async def test_an_accepted_referral_opens_exactly_one_case_even_when_delivered_twice(
    settings: Settings, nats_server: EmbeddedNats
) -> None:
    async with running_node(settings, nats_server, SERVICES) as system:
        app = system.apps["formulation"]
        assert isinstance(app, FormulationApplication)
        child_id, referral_id = await in_thread(screened_referral, system)
        await eventually(lambda: case_exists(app, child_id))

        nc = await connect(system.settings, nats_server.url)
        try:
            js = nc.jetstream()
            original = await js.get_last_msg(STREAM, "ecm.referrals.ReferralAccepted")
            assert original.data is not None
            accepted = Envelope.model_validate_json(original.data)
            # The same message again, past JetStream's dedup (a new Nats-Msg-Id) ...
            await publish_signed(js, system.keys, accepted, msg_id="again-1")
            # ... and as if a different message carried the same acceptance.
            renamed = accepted.model_copy(
                update={"message_id": "referrals:999999", "notification_id": 999999}
            )
            last = (await publish_signed(js, system.keys, renamed, msg_id="again-2")).seq
            await eventually(lambda: consumed_up_to(js, REFERRALS_CONSUMER, last))
        finally:
            await nc.close()

        case = await in_thread(app.get_case, child_id)
        assert (case.version, case.referral_ids) == (1, [referral_id])
        assert len(app.recorder.select_events(case_id_for(child_id))) == 1
        assert await in_thread(on_referral_message, app, accepted) is False
        assert len(app.recorder.select_events(case_id_for(child_id))) == 1
        assert [row for c in system.consumers() for row in c.sink.parked()] == []


async def test_a_review_reassessment_on_the_stream_changes_what_sequencing_allows(
    settings: Settings, nats_server: EmbeddedNats
) -> None:
    async with running_node(settings, nats_server, SERVICES) as system:
        app = system.apps["formulation"]
        assert isinstance(app, FormulationApplication)
        child_id, _ = await in_thread(screened_referral, system)
        await eventually(lambda: case_exists(app, child_id))
        await in_thread(
            app.assess_stage,
            child_id,
            stage=2,
            assessed_on=date(2024, 6, 1),
            rationale="Synthetic: building trust",
            meta=PSYCHOLOGIST,
        )
        with pytest.raises(OutOfSequenceIntervention, match="the child is at stage 2"):
            await in_thread(plan_cognitive_work, app, child_id)

        nc = await connect(system.settings, nats_server.url)
        try:
            js = nc.jetstream()
            review_id = uuid4()
            up = stage_reassessed(app, child_id, 4, date(2024, 9, 1), review_id, "reviews:1")
            await publish_signed(js, system.keys, up, msg_id=up.message_id)
            await eventually(lambda: app.get_case(child_id).current_stage == 4)
            await in_thread(plan_cognitive_work, app, child_id)

            down = stage_reassessed(app, child_id, 3, date(2024, 11, 1), uuid4(), "reviews:2")
            last = (await publish_signed(js, system.keys, down, msg_id=down.message_id)).seq
            await eventually(lambda: consumed_up_to(js, REVIEWS_CONSUMER, last))
        finally:
            await nc.close()

        case = await in_thread(app.get_case, child_id)
        assert case.current_stage == 3
        assert [a.source for a in case.assessments] == ["formulation", "review", "review"]
        with pytest.raises(OutOfSequenceIntervention, match="the child is at stage 3"):
            await in_thread(plan_cognitive_work, app, child_id)
