"""Consumers on a real nats-server: redelivery changes nothing, failures retry then park."""

from __future__ import annotations

from datetime import date
from uuid import UUID, uuid4

import pytest
from sqlalchemy import Column, Connection, Engine, MetaData, String, Table, insert, select

from services.referrals.domain import Consent
from services.referrals.projections import ReferralListProjection, list_referrals
from services.runtime import System
from shared.bus import connect
from shared.consumer import Consumer, SqlProjection, replay_parked
from shared.contracts import Envelope
from shared.domain import Area, Meta
from shared.natsserver import EmbeddedNats
from shared.settings import Settings
from tests.harness import eventually, in_thread, publish_signed, running_node

META = Meta("cm-1", "case_manager", "corr", "corr")
flaky_metadata = MetaData()
flaky_children = Table(
    "flaky_children", flaky_metadata, Column("child_id", String(36), primary_key=True)
)


async def make_referral(system: System) -> str:
    app = system.apps["referrals"]
    child_id = await in_thread(
        app.register_child,  # type: ignore[attr-defined]
        given_name="Synthetic",
        family_name="Consumer",
        date_of_birth=date(2011, 1, 1),
        area=Area.BANES,
        nhs_number=None,
        upn=None,
        meta=META,
    )
    referral_id = await in_thread(
        app.refer,  # type: ignore[attr-defined]
        child_id=child_id,
        case_manager_id="cm-1",
        reason="synthetic reason",
        trauma_history="synthetic history",
        expected_involvement_months=6,
        meta=META,
    )
    return str(referral_id)


async def test_the_same_message_delivered_twice_changes_the_read_model_once(
    settings: Settings, nats_server: EmbeddedNats
) -> None:
    async with running_node(settings, nats_server, ["referrals"]) as system:
        referral_id = await make_referral(system)
        app = system.apps["referrals"]
        await in_thread(
            app.record_consent,  # type: ignore[attr-defined]
            UUID(referral_id),
            Consent.GIVEN,
            "parent",
            META,
        )
        await in_thread(
            app.record_consent,  # type: ignore[attr-defined]
            UUID(referral_id),
            Consent.WITHDRAWN,
            "parent",
            META,
        )
        engine = system.engine("referrals-read")
        sink = ReferralListProjection(engine)
        await eventually(lambda: sink.position() == 5)
        nc = await connect(system.settings, nats_server.url)
        js = nc.jetstream()
        given = await js.get_msg("ECM", seq=4)  # the consent given, since withdrawn
        envelope = Envelope.model_validate_json(given.data or b"")
        assert envelope.event_type == "ConsentRecorded" and envelope.data["consent"] == "given"
        # The same message again, under a new stream id (as after a dedup-window expiry).
        ack = await publish_signed(
            js, system.keys, envelope, msg_id=f"again-{uuid4()}", body=given.data or b""
        )

        async def acknowledged() -> bool:
            info = await js.consumer_info("ECM", "referrals-list")
            return info.ack_floor is not None and (info.ack_floor.stream_seq or 0) >= ack.seq

        await eventually(acknowledged)
        rows = list_referrals(engine, area="banes")
        assert [(r["referral_id"], r["consent"]) for r in rows] == [(referral_id, "withdrawn")]
        assert sink.parked() == []
        await nc.close()


class Flaky(SqlProjection):
    """A read model of registered children whose store fails until it is healthy again."""

    name = "flaky"
    subject = "ecm.referrals.ChildRegistered"
    tables = (flaky_children,)

    def __init__(self, engine: Engine, attempts: list[str], healthy: dict[str, bool]) -> None:
        super().__init__(engine)
        self.attempts = attempts
        self.healthy = healthy

    def apply(self, conn: Connection, envelope: Envelope) -> None:
        self.attempts.append(envelope.message_id)
        if not self.healthy["ok"]:
            raise RuntimeError("downstream store unavailable")
        conn.execute(insert(flaky_children).values(child_id=str(envelope.child_id)))


def flaky_rows(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [row.child_id for row in conn.execute(select(flaky_children))]


async def test_a_failing_message_is_retried_with_backoff_then_parked_and_can_be_replayed(
    settings: Settings, nats_server: EmbeddedNats
) -> None:
    attempts: list[str] = []
    healthy = {"ok": False}
    system = System.build(settings, ["referrals"])
    engine = system.engine("flaky-read")
    consumer = Consumer(Flaky(engine, attempts, healthy))
    original = system.consumers
    system.consumers = lambda: [*original(), consumer]  # type: ignore[method-assign]
    async with running_node(
        settings.model_copy(update={"consumer_max_deliver": 3}), nats_server, system=system
    ):
        child_id = await in_thread(
            system.apps["referrals"].register_child,  # type: ignore[attr-defined]
            given_name="Synthetic",
            family_name="Poison",
            date_of_birth=date(2012, 2, 2),
            area=Area.BRISTOL,
            nhs_number=None,
            upn=None,
            meta=META,
        )
        await eventually(lambda: len(consumer.sink.parked()) == 1, timeout=20)
        await eventually(lambda: consumer.sink.position() == 1)
    # Tried once in its batch, then alone with backoff for each of its 3 counted attempts.
    assert attempts == ["referrals:1"] * 4
    assert flaky_rows(engine) == []
    (row,) = consumer.sink.parked()
    assert row["attempts"] == 3 and "downstream store unavailable" in row["error"]
    healthy["ok"] = True
    assert replay_parked(consumer) == []
    assert consumer.sink.parked() == []
    assert attempts[-1] == "referrals:1"
    assert flaky_rows(engine) == [str(child_id)]
    system.close()


@pytest.mark.parametrize("attempt, expected", [(1, 0.5), (2, 2.0), (4, 30.0), (9, 30.0)])
def test_backoff_grows_with_each_attempt_and_stays_at_the_last_step(
    settings: Settings, attempt: int, expected: float
) -> None:
    from shared.consumer import backoff_for

    steps = settings.model_copy(update={"consumer_backoff_seconds": [0.5, 2.0, 10.0, 30.0]})
    assert backoff_for(steps, attempt) == expected
