"""Consumption under faults on a real nats-server: the consumers' process SIGKILLed mid-batch,
the nats-server paused, the relays restarted. Nothing is applied twice or lost: every read
model equals a rebuild from the stores, and each partner hears of each change once."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import cast
from uuid import UUID

from services.formulation.application import FormulationApplication
from services.notifications.application import NotificationsApplication
from services.runtime import System
from shared.bus import connect
from shared.natsserver import EmbeddedNats
from shared.settings import Settings
from tests.harness import eventually, in_thread, running_node
from tests.workload import (
    Tally,
    contacts,
    differences,
    has_case,
    meetings,
    parked,
    queued,
    refer,
    settled,
)

ROOT = Path(__file__).resolve().parents[2]


def node_process(settings: Settings, nats: EmbeddedNats) -> subprocess.Popen[bytes]:
    """Relays, consumers and background jobs in a process of their own."""
    env = {
        **os.environ,
        "ECM_DATA_DIR": str(settings.data_dir),
        "ECM_DEV_MODE": "true",
        "ECM_NATS_URL": nats.url,
        "ECM_NATS_USER": nats.user or "",
        "ECM_NATS_PASSWORD": nats.password or "",
        "ECM_RELAY_POLL_SECONDS": "0.05",
        "ECM_CONSUMER_BATCH_SIZE": "20",
        "ECM_CONSUMER_BACKOFF_SECONDS": "[0.1, 0.2, 0.4]",
    }
    if settings.postgres_url:
        env |= {
            "ECM_POSTGRES_URL": settings.postgres_url,
            "ECM_PG_SCHEMA_PREFIX": settings.pg_schema_prefix,
        }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.node"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _progress(app: NotificationsApplication, before: int) -> int:
    count = sum(queued(app).values())
    return count if count > before else 0


def opened(formulation: FormulationApplication, children: list[UUID]) -> bool:
    return all(has_case(formulation, child) for child in children)


async def test_sigkills_pauses_and_relay_restarts_lose_nothing_and_apply_nothing_twice(
    store_settings: Settings, nats_server: EmbeddedNats
) -> None:
    settings = store_settings
    rng = random.Random(17)
    tally = Tally()
    system = System.build(settings)
    formulation = cast(FormulationApplication, system.apps["formulation"])
    async with running_node(settings, nats_server, system=system):
        invited = await in_thread(contacts, system)
        children = [await in_thread(refer, system, rng, tally) for _ in range(30)]
        await eventually(lambda: opened(formulation, children), timeout=60)

    # A backlog, published by relays that are restarted half way.
    for half in (children[:15], children[15:]):
        async with running_node(settings, nats_server, system=system, run_consumers=False):
            for child in half:
                await in_thread(meetings, system, child, invited, rng, tally)
            late = [await in_thread(refer, system, rng, tally) for _ in range(5)]

    # The consumers' process is killed mid-work, three times, as soon as it has queued more
    # notices; NATS is paused once while it works.
    notifications = cast(NotificationsApplication, system.apps["notifications"])
    expected = (tally.scheduled + tally.rescheduled + tally.cancelled) * 2
    seen = 0
    for round_ in range(3):
        process = node_process(system.settings, nats_server)
        if round_ == 1 and nats_server.process is not None:
            await asyncio.sleep(1.0)
            nats_server.process.send_signal(signal.SIGSTOP)
            await asyncio.sleep(2.0)
            nats_server.process.send_signal(signal.SIGCONT)
        seen = await eventually(partial(_progress, notifications, seen), timeout=60, interval=0.02)
        process.kill()
        process.wait(10)
    assert 0 < seen < expected  # the last kill landed with work left to do

    async with running_node(settings, nats_server, system=system):
        nc = await connect(system.settings, nats_server.url)
        await settled(system, nc.jetstream())
        await nc.close()
        kinds = queued(cast(NotificationsApplication, system.apps["notifications"]))
        assert kinds["formulation_meeting_scheduled"] == tally.scheduled * 2
        assert kinds["formulation_meeting_rescheduled"] == tally.rescheduled * 2
        assert kinds["formulation_meeting_cancelled"] == tally.cancelled * 2
        assert opened(formulation, late)
        assert parked(system) == []
        assert await in_thread(differences, system) == []
    system.close()
