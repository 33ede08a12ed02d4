"""Synthetic work across the services, for backlog, fault and property tests of consumption."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import cast
from uuid import UUID

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from sqlalchemy import select

from services.formulation.application import FormulationApplication
from services.notifications.application import NotificationsApplication
from services.notifications.domain import Channel
from services.notifications.index import notice_index
from services.rebuild import Difference, check, check_notices
from services.referrals.application import ReferralsApplication
from services.referrals.domain import Consent
from services.reviews.application import ReviewsApplication
from services.runtime import System
from shared.contracts import STREAM
from shared.domain import Area, Meta, NotFound
from shared.meetings import Invitee
from shared.relay import PositionStore
from shared.vocabulary import Agency
from tests.harness import eventually

CM = Meta("cm-1", "case_manager", "workload", "workload")
PSY = Meta("psy-1", "psychologist", "workload", "workload")
AREAS = list(Area)


@dataclass
class Tally:
    """What the workload did, to count the notices it must cause."""

    commands: int = 0
    meetings: dict[UUID, UUID] = field(default_factory=dict)  # meeting -> child
    scheduled: int = 0
    rescheduled: int = 0
    cancelled: int = 0


def contacts(system: System, count: int = 2) -> list[UUID]:
    """Synthetic partner contacts (health, education) in the directory."""
    app = cast(NotificationsApplication, system.apps["notifications"])
    agencies = [Agency.HEALTH, Agency.EDUCATION, Agency.SOCIAL_CARE]
    return [
        app.register_partner(
            agency=agencies[i % 3],
            name=f"Synthetic Partner {i}",
            email=f"partner{i}@example.org",
            webhook_url=None,
            preferred_channel=Channel.EMAIL,
            webhook_secret=None,
            meta=CM,
        )
        for i in range(count)
    ]


def refer(system: System, rng: random.Random, tally: Tally, *, accept: bool = True) -> UUID:
    """Register a synthetic child, refer, record consent, and screen (accept or decline)."""
    app = cast(ReferralsApplication, system.apps["referrals"])
    child = app.register_child(
        given_name=f"Synth{rng.randrange(10**6)}",
        family_name="Testchild",
        date_of_birth=date(2010, 1, 1) + timedelta(days=rng.randrange(900)),
        area=rng.choice(AREAS),
        nhs_number=None,
        upn=None,
        meta=CM,
    )
    referral = app.refer(
        child_id=child,
        case_manager_id="cm-1",
        reason="synthetic",
        trauma_history="synthetic",
        expected_involvement_months=9,
        meta=CM,
    )
    app.record_consent(referral, Consent.GIVEN, "carer", CM)
    if accept:
        app.accept(referral, PSY)
    else:
        app.decline(referral, PSY.with_reason("not meeting criteria (synthetic)"))
    tally.commands += 4
    return child


def meetings(
    system: System, child: UUID, invited: list[UUID], rng: random.Random, tally: Tally
) -> None:
    """A meeting scheduled, rescheduled and cancelled; another scheduled and rescheduled."""
    app = cast(FormulationApplication, system.apps["formulation"])
    invitees = [Invitee(Agency.HEALTH, invited[0]), Invitee(Agency.EDUCATION, invited[1])]
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=7 + rng.randrange(30))
    moved = PSY.with_reason("a partner cannot attend (synthetic)")
    for cancel in (True, False):
        meeting, _ = app.schedule_meeting(
            child,
            starts_at=start,
            venue="YJS office",
            online_link=None,
            invitees=invitees,
            meta=PSY,
        )
        app.reschedule_meeting(child, meeting, start + timedelta(days=1), moved)
        tally.meetings[meeting] = child
        tally.scheduled += 1
        tally.rescheduled += 1
        tally.commands += 2
        if cancel:
            app.cancel_meeting(child, meeting, PSY.with_reason("no longer needed (synthetic)"))
            tally.cancelled += 1
            tally.commands += 1


async def settled(system: System, js: JetStreamContext, timeout: float = 120.0) -> None:  # noqa: ASYNC109
    """Wait until every relay has published everything and every consumer applied it all."""
    positions = PositionStore(system.ops)

    async def quiet() -> bool:
        for name, app in system.apps.items():
            if positions.get(name) < app.max_notification_id():
                return False
        for consumer in system.consumers():  # acknowledged only after its commit
            try:
                info = await js.consumer_info(STREAM, consumer.name)
            except NotFoundError:
                return False
            if info.num_pending or info.num_ack_pending:
                return False
        return True

    await eventually(quiet, timeout=timeout, interval=0.2)
    await eventually(quiet, timeout=timeout, interval=0.2)  # cascades settled as well


def differences(system: System) -> list[Difference]:
    """Every difference between live read models (and the notice queue) and a rebuild."""
    found: list[Difference] = []
    for consumer in system.consumers():
        if consumer.rebuildable:
            found += check(system, consumer)
    found += check_notices(system)
    return found


def queued(app: NotificationsApplication) -> Counter[str]:
    """How many notices of each kind are queued."""
    app.index.catch_up()
    with app.reads.connect() as conn:
        return Counter(row.kind for row in conn.execute(select(notice_index.c.kind)))


def has_case(app: FormulationApplication | ReviewsApplication, child: UUID) -> bool:
    """True when the service has opened the child's case."""
    try:
        app.get_case(child)
    except NotFound:
        return False
    return True


def parked(system: System) -> list[str]:
    """Every parked message, as consumer: error."""
    return [f"{c.name}: {row['error']}" for c in system.consumers() for row in c.sink.parked()]
