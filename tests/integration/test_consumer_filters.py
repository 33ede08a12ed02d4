"""A consumer that handles a few subjects subscribes to exactly those (JetStream
filter_subjects), and its rebuild reads the same subjects from the stores."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from sqlalchemy import Column, Connection, Engine, Integer, MetaData, String, Table, insert, select

from services import rebuild as rebuilding
from services.referrals.domain import Consent
from services.runtime import System
from shared.bus import connect
from shared.consumer import Consumer, SqlProjection
from shared.contracts import Envelope
from shared.domain import Area, Meta
from shared.natsserver import EmbeddedNats
from shared.settings import Settings
from tests.harness import eventually, in_thread, running_node

META = Meta("cm-1", "case_manager", "corr", "corr")
seen_metadata = MetaData()
seen = Table(
    "filtered_seen",
    seen_metadata,
    Column("notification_id", Integer, primary_key=True, autoincrement=False),
    Column("event_type", String(100), nullable=False),
)
WANTED = ("ecm.referrals.ReferralMade", "ecm.referrals.ConsentRecorded")


class Filtered(SqlProjection):
    """Every referral made and consent recorded, and nothing else."""

    name = "filtered"
    subject = "ecm.referrals.>"
    subjects = WANTED
    tables = (seen,)

    def apply(self, conn: Connection, envelope: Envelope) -> None:
        conn.execute(
            insert(seen).values(
                notification_id=envelope.notification_id, event_type=envelope.event_type
            )
        )


def seen_types(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [r.event_type for r in conn.execute(select(seen).order_by(seen.c.notification_id))]


async def _make_two_referrals(system: System) -> None:
    app: Any = system.apps["referrals"]
    for i in range(2):
        child_id = await in_thread(
            app.register_child,
            given_name=f"Synthetic{i}",
            family_name="Filter",
            date_of_birth=date(2011, 1, 1),
            area=Area.BANES,
            nhs_number=None,
            upn=None,
            meta=META,
        )
        referral_id = await in_thread(
            app.refer,
            child_id=child_id,
            case_manager_id="cm-1",
            reason="synthetic reason",
            trauma_history="synthetic history",
            expected_involvement_months=6,
            meta=META,
        )
        await in_thread(app.record_consent, UUID(str(referral_id)), Consent.GIVEN, "parent", META)


async def test_a_consumer_fetches_only_the_subjects_it_handles_and_rebuilds_the_same(
    settings: Settings, nats_server: EmbeddedNats
) -> None:
    system = System.build(settings, ["referrals"])
    engine = system.engine("filtered-read")
    consumer = Consumer(Filtered(engine))
    assert consumer.filters == WANTED
    original = system.consumers
    system.consumers = lambda: [*original(), consumer]  # type: ignore[method-assign]
    async with running_node(settings, nats_server, system=system):
        await _make_two_referrals(system)
        wanted = ["ReferralMade", "ConsentRecorded"] * 2
        await eventually(lambda: seen_types(engine) == wanted)
        nc = await connect(system.settings, nats_server.url)
        js = nc.jetstream()
        info = await js.consumer_info("ECM", "filtered")
        assert sorted(info.config.filter_subjects or []) == sorted(WANTED)
        stream = await js.stream_info("ECM")
        # Only its own subjects were delivered: the others were never fetched.
        assert info.delivered is not None and info.delivered.consumer_seq == len(wanted)
        assert (stream.state.last_seq or 0) > len(wanted)
        await nc.close()
    assert rebuilding.check(system, consumer) == []
    assert rebuilding.rebuild(system, consumer) == len(wanted)
    assert seen_types(engine) == wanted
    system.close()
