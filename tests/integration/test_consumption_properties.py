"""Property: whatever the sequence of use cases across services and however often the node
restarts (consumers stopped for a while, relays restarted), once everything has settled every
read model equals a rebuild from the stores and the notice queue equals a fresh derivation."""

from __future__ import annotations

import asyncio
import random
import tempfile
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import cast
from uuid import UUID

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from services.formulation.application import FormulationApplication
from services.formulation.values import RecommendationDraft
from services.runtime import System
from shared.bus import connect
from shared.domain import DomainError
from shared.meetings import Invitee
from shared.natsserver import EmbeddedNats
from shared.settings import development_settings
from shared.vocabulary import Agency
from tests.harness import in_thread, running_node
from tests.workload import PSY, Tally, contacts, differences, parked, refer, settled

OPERATIONS = (
    "refer",
    "decline",
    "meeting",
    "reschedule",
    "cancel",
    "report",
    "assess",
    "restart",
    "consumers_off",
)


class World:
    """The synthetic children and meetings an example has made so far."""

    def __init__(self, system: System, seed: int) -> None:
        self.system = system
        self.rng = random.Random(seed)
        self.tally = Tally()
        self.children: list[UUID] = []
        self.meetings: list[tuple[UUID, UUID]] = []
        self.invited: list[UUID] = []

    @property
    def formulation(self) -> FormulationApplication:
        return cast(FormulationApplication, self.system.apps["formulation"])

    def with_case(self) -> list[UUID]:
        found = []
        for child in self.children:
            try:
                self.formulation.get_case(child)
            except DomainError:
                continue
            found.append(child)
        return found

    def apply(self, operation: str) -> None:
        """One use case, chosen among those the current state allows."""
        rng, app = self.rng, self.formulation
        if operation in ("refer", "decline"):
            self.children.append(refer(self.system, rng, self.tally, accept=operation == "refer"))
            return
        ready = self.with_case()
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=rng.randrange(3, 40))
        if operation == "meeting" and ready:
            child = rng.choice(ready)
            invitees = [
                Invitee(Agency.HEALTH, self.invited[0]),
                Invitee(Agency.EDUCATION, self.invited[1]),
            ]
            meeting, _ = app.schedule_meeting(
                child,
                starts_at=start,
                venue="YJS office",
                online_link=None,
                invitees=invitees,
                meta=PSY,
            )
            self.meetings.append((child, meeting))
        elif operation in ("reschedule", "cancel") and self.meetings:
            child, meeting = rng.choice(self.meetings)
            reason = PSY.with_reason("synthetic change of plan")
            try:
                if operation == "reschedule":
                    app.reschedule_meeting(child, meeting, start, reason)
                else:
                    app.cancel_meeting(child, meeting, reason)
                    self.meetings.remove((child, meeting))
            except DomainError:
                pass  # e.g. already cancelled: the domain refuses, nothing is written
        elif operation == "report" and ready:
            app.issue_report(
                rng.choice(ready),
                narrative="synthetic",
                stage=rng.randint(1, 3),
                issued_on=date.today() - timedelta(days=1),
                recommendations=[RecommendationDraft(1, Agency.YJS, "routine")],
                stage_rationale="synthetic",
                meta=PSY,
            )
        elif operation == "assess" and ready:
            app.assess_stage(
                rng.choice(ready),
                stage=rng.randint(1, 6),
                assessed_on=date.today() - timedelta(days=rng.randrange(30)),
                rationale="synthetic",
                meta=PSY,
            )


async def scenario(folder: Path, operations: list[str], seed: int) -> None:
    nats = EmbeddedNats(folder / "nats", user="ecm", password=uuid.uuid4().hex)
    nats.start()
    base = development_settings(folder / "var")
    system = System.build(base)
    world = World(system, seed)
    try:
        consumers = True
        pending = list(operations)
        while True:
            running = consumers
            async with running_node(base, nats, system=system, run_consumers=running):
                if not world.invited:
                    world.invited = await in_thread(contacts, system)
                consumers = True
                while pending:
                    operation = pending.pop(0)
                    if operation in ("restart", "consumers_off"):
                        consumers = operation == "restart"
                        break
                    await in_thread(world.apply, operation)
                    await asyncio.sleep(0.02)
                if not pending and running:
                    nc = await connect(system.settings, nats.url)
                    await settled(system, nc.jetstream(), timeout=60)
                    await nc.close()
                    assert parked(system) == []
                    assert await in_thread(differences, system) == []
                    return
    finally:
        system.close()
        nats.stop()


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)  # no shrinking: CI time
@given(st.lists(st.sampled_from(OPERATIONS), min_size=6, max_size=30), st.integers(0, 2**16))
def test_any_sequence_of_use_cases_and_restarts_settles_to_what_a_rebuild_gives(
    operations: list[str], seed: int
) -> None:
    with tempfile.TemporaryDirectory(prefix="ecm-prop-") as folder:
        asyncio.run(scenario(Path(folder), ["refer", "refer", *operations], seed))
