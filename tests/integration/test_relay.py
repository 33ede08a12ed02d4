"""The outbox relay on a real nats-server: killed mid-publish, every event is on the stream once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import date
from functools import partial
from pathlib import Path

from nats.js import JetStreamContext
from nats.js.api import StreamConfig

from services.runtime import System
from shared.bus import connect, count_messages, ensure_stream
from shared.domain import Area, Meta
from shared.natsserver import EmbeddedNats
from shared.relay import PositionStore
from shared.settings import Settings
from tests.harness import eventually, running_node, with_nats

META = Meta("cm-1", "case_manager", "corr", "corr")


def fill_store(system: System, children: int) -> None:
    app = system.apps["referrals"]
    for n in range(children):
        app.register_child(  # type: ignore[attr-defined]
            given_name=f"Synthetic{n}",
            family_name="Relaytest",
            date_of_birth=date(2010, 1, 1),
            area=Area.BRISTOL,
            nhs_number=None,
            upn=None,
            meta=META,
        )


async def stream_ids(js: JetStreamContext, expected: int) -> list[str]:
    """Every Nats-Msg-Id on ecm.referrals.> in stream order."""
    sub = await js.pull_subscribe("ecm.referrals.>", stream="ECM")
    ids: list[str] = []
    while len(ids) < expected:
        try:
            batch = await sub.fetch(500, timeout=1)
        except TimeoutError:
            break
        for msg in batch:
            ids.append((msg.headers or {})["Nats-Msg-Id"])
            await msg.ack()
    await sub.unsubscribe()
    return ids


def relay_process(settings: Settings, nats: EmbeddedNats) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ECM_DATA_DIR": str(settings.data_path),
        "ECM_DEV_MODE": "true",
        "ECM_NATS_URL": nats.url,
        "ECM_NATS_USER": nats.user or "",
        "ECM_NATS_PASSWORD": nats.password or "",
        "ECM_RELAY_BATCH_SIZE": "1",  # a position save per event: slow enough to kill mid-way
    }
    return subprocess.Popen(
        [sys.executable, "-c", "from services.cli import main; main()", "relay", "referrals"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_a_relay_killed_mid_publish_leaves_every_event_on_the_stream_exactly_once(
    settings: Settings, nats_server: EmbeddedNats
) -> None:
    total = 1500
    system = System.build(settings, ["referrals"])
    await asyncio.to_thread(fill_store, system, total)
    nc = await connect(with_nats(settings, nats_server), nats_server.url)
    js = nc.jetstream()
    await ensure_stream(js, settings)
    kills_mid_publish = 0
    for threshold in (100, 500, 900):
        process = relay_process(settings, nats_server)
        await eventually(partial(_count_at_least, js, threshold), timeout=60, interval=0.005)
        process.send_signal(signal.SIGKILL)
        process.wait()
        if await count_messages(js, "ecm.referrals.>") < total:
            kills_mid_publish += 1
    assert kills_mid_publish >= 1, "the relay finished before it could be killed mid-publish"
    process = relay_process(settings, nats_server)
    try:
        await eventually(lambda: _count_at_least(js, total), timeout=60)
        await asyncio.sleep(0.5)  # anything extra would have arrived by now
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)
    ids = await stream_ids(js, total + 10)
    log_ids = [f"referrals:{n.id}" for n in system.apps["referrals"].notifications(1, total + 10)]
    assert len(log_ids) == total
    assert ids == log_ids  # every committed event, once each, in the store's order
    assert not [k for k, v in Counter(ids).items() if v > 1]
    await nc.close()
    system.close()


async def _count_at_least(js: JetStreamContext, n: int) -> bool:
    return await count_messages(js, "ecm.referrals.>") >= n


async def test_a_relay_that_lost_its_position_past_the_dedup_window_publishes_nothing_twice(
    settings: Settings, nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    system = System.build(settings, ["referrals"])
    await asyncio.to_thread(fill_store, system, 20)
    async with running_node(settings, nats_server, system=system):
        nc = await connect(system.settings, nats_server.url)
        js = nc.jetstream()
        await eventually(lambda: _count_at_least(js, 20))
    # The position is lost (as if the relay died after publishing, before saving) and the
    # stream's dedup window has passed: the relay must resume from what the stream holds.
    positions = PositionStore(system.ops)
    with system.ops.begin() as conn:
        conn.exec_driver_sql("UPDATE relay_positions SET position = 0")
    assert positions.get("referrals") == 0
    info = await js.stream_info("ECM")
    config: StreamConfig = info.config
    config.duplicate_window = 0.1
    await js.update_stream(config)
    await asyncio.sleep(0.3)
    await asyncio.to_thread(fill_store, system, 5)
    async with running_node(settings, nats_server, system=system):
        await eventually(lambda: _count_at_least(js, 25))
        await asyncio.sleep(0.5)
    assert await count_messages(js, "ecm.referrals.>") == 25
    assert positions.get("referrals") == 25
    await nc.close()
    system.close()


async def test_only_one_relay_per_service_publishes_at_a_time(
    settings: Settings, nats_server: EmbeddedNats
) -> None:
    from shared.leader import LeaderLock

    system = System.build(settings, ["referrals"])
    first = LeaderLock("relay-referrals", system.ops, settings.data_path / "locks")
    second = LeaderLock("relay-referrals", system.ops, settings.data_path / "locks")
    assert first.acquire()
    assert not second.acquire()
    first.release()
    assert second.acquire()
    second.release()
    system.close()
