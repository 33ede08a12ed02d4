"""The pipelining relay on a real nats-server: each window goes out as one atomic batch, and
whatever breaks mid-window (the relay SIGKILLed, nats-server restarted, a second relay
racing, a forged message id) the stream holds the store's events once each, in the store's
order, with no gap, and `stream_index` says where each one sits."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from typing import Any

import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from services.runtime import System
from shared.bus import connect, count_messages, ensure_stream
from shared.natsserver import EmbeddedNats
from shared.relay import PositionStore, Relay, RelayAlarm
from shared.settings import Settings
from tests.harness import eventually, with_nats
from tests.integration.test_relay import fill_store

SUBJECTS = "ecm.referrals.>"


async def open_stream(settings: Settings, nats: EmbeddedNats) -> tuple[Client, JetStreamContext]:
    nc = await connect(with_nats(settings, nats), nats.url)
    js = nc.jetstream()
    await ensure_stream(js, settings)
    return nc, js


def relay_of(system: System, js: JetStreamContext, **options: Any) -> Relay:
    plugin = next(p for p in system.plugins if p.name == "referrals")
    assert plugin.contracts is not None
    return Relay(
        system.apps["referrals"],
        plugin.contracts,
        js,
        PositionStore(system.ops),
        system.keys,
        **options,
    )


async def on_stream(js: JetStreamContext) -> list[tuple[str, int]]:
    """(Nats-Msg-Id, stream sequence) of every message on the referrals subjects, in order."""
    found: list[tuple[str, int]] = []
    seq = 0
    while True:
        try:
            msg = await js.get_msg("ECM", seq=seq + 1, subject=SUBJECTS, next=True)
        except Exception:  # NotFoundError: no message after `seq`
            return found
        seq = msg.seq or seq + 1
        found.append(((msg.headers or {}).get("Nats-Msg-Id", ""), seq))


async def assert_stream_is_the_store(js: JetStreamContext, system: System, total: int) -> None:
    """Every stored event once, in the store's order, and recorded where it sits."""
    messages = await on_stream(js)
    ids = [msg_id for msg_id, _ in messages]
    stored = system.apps["referrals"].notifications(1, total + 100)
    assert len(stored) == total
    assert not [k for k, v in Counter(ids).items() if v > 1]
    assert ids == [f"referrals:{n.id}" for n in stored]
    positions = PositionStore(system.ops)
    assert positions.get("referrals") == total
    assert positions.sequences("referrals", 1, total) == {
        int(msg_id.split(":")[1]): seq for msg_id, seq in messages
    }
    assert positions.alarm("referrals") is None


async def test_each_window_goes_out_as_one_atomic_batch_in_the_stores_order(
    settings: Settings, nats_server: EmbeddedNats
) -> None:
    system = System.build(settings, ["referrals"])
    await asyncio.to_thread(fill_store, system, 250)
    nc, js = await open_stream(settings, nats_server)
    await js.publish("ecm.other.noise", b"another service's message")  # interleaved seqs
    relay = relay_of(system, js, batch_size=100)
    await relay.resume()
    assert [await relay.publish_pending() for _ in range(4)] == [100, 100, 50, 0]
    assert relay.atomic  # no window fell back to one-by-one
    await assert_stream_is_the_store(js, system, 250)
    await nc.close()
    system.close()


async def test_a_stream_without_atomic_batches_still_gets_every_event_one_by_one(
    settings: Settings, nats_server: EmbeddedNats
) -> None:
    system = System.build(settings, ["referrals"])
    await asyncio.to_thread(fill_store, system, 30)
    nc, js = await open_stream(settings, nats_server)
    config = (await js.stream_info("ECM")).config
    config.allow_atomic = False
    await js.update_stream(config)
    relay = relay_of(system, js, batch_size=20)
    await relay.resume()
    assert await relay.publish_pending() == 20
    assert not relay.atomic
    assert await relay.publish_pending() == 10
    await assert_stream_is_the_store(js, system, 30)
    await nc.close()
    system.close()


KILLING_RELAY = textwrap.dedent("""
    import os, signal, sys
    from nats.aio.client import Client

    kill_at, sent = int(sys.argv[1]), 0
    original = Client.publish

    async def publish(self, subject, payload=b"", reply="", headers=None):
        # Instrumentation only: SIGKILL this process once the server has received `kill_at`
        # messages of atomic batches, i.e. in the middle of a window.
        global sent
        await original(self, subject, payload, reply, headers)
        if headers and "Nats-Batch-Id" in headers:
            sent += 1
            if sent == kill_at:
                await self.flush()
                os.kill(os.getpid(), signal.SIGKILL)

    Client.publish = publish
    sys.argv = ["ecm", "relay", "referrals"]
    from services.cli import main
    main()
""")


def relay_process(settings: Settings, nats: EmbeddedNats, kill_at: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ECM_DATA_DIR": str(settings.data_path),
        "ECM_DEV_MODE": "true",
        "ECM_NATS_URL": nats.url,
        "ECM_NATS_USER": nats.user or "",
        "ECM_NATS_PASSWORD": nats.password or "",
        "ECM_RELAY_BATCH_SIZE": "200",
    }
    return subprocess.Popen(
        [sys.executable, "-c", KILLING_RELAY, str(kill_at)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_a_relay_sigkilled_mid_window_leaves_nothing_of_that_window_and_no_gap(
    settings: Settings, nats_server: EmbeddedNats
) -> None:
    total = 1000
    system = System.build(settings, ["referrals"])
    await asyncio.to_thread(fill_store, system, total)
    nc, js = await open_stream(settings, nats_server)
    process = relay_process(settings, nats_server, kill_at=450)  # message 50 of window 3
    assert await asyncio.to_thread(process.wait, 120) == -signal.SIGKILL
    # Two windows committed; the third was cut at its 50th message and left nothing.
    assert await count_messages(js, SUBJECTS) == 400
    assert PositionStore(system.ops).get("referrals") in (0, 200, 400)
    process = relay_process(settings, nats_server, kill_at=10**9)
    try:
        await eventually(lambda: _count_at_least(js, total), timeout=90)
        await asyncio.sleep(0.5)  # anything extra would have arrived by now
        await eventually(lambda: PositionStore(system.ops).get("referrals") == total)
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(process.wait, 10)
    await assert_stream_is_the_store(js, system, total)
    await nc.close()
    system.close()


async def _count_at_least(js: JetStreamContext, n: int) -> bool:
    return await count_messages(js, SUBJECTS) >= n


async def test_a_nats_server_restarted_mid_window_leaves_no_gap_and_no_reorder(
    settings: Settings, nats_server: EmbeddedNats
) -> None:
    total = 800
    system = System.build(settings, ["referrals"])
    await asyncio.to_thread(fill_store, system, total)
    nc, js = await open_stream(settings, nats_server)
    relay_nc, relay_js = await open_stream(settings, nats_server)
    original = relay_nc.publish
    sent = 0

    async def publish(
        subject: str, payload: bytes = b"", reply: str = "", headers: dict[str, str] | None = None
    ) -> None:
        # Instrumentation only: restart the server after it received 300 batch messages.
        nonlocal sent
        await original(subject, payload, reply, headers)
        if headers and "Nats-Batch-Id" in headers:
            sent += 1
            if sent == 300:
                await relay_nc.flush()
                nats_server.kill()
                nats_server.start()

    relay_nc.publish = publish  # type: ignore[method-assign]
    relay = relay_of(system, relay_js, batch_size=200, poll_seconds=0.05, ack_timeout=2.0)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await eventually(lambda: PositionStore(system.ops).get("referrals") == total, timeout=90)
    finally:
        stop.set()
        await task
    assert sent > 300  # the restart happened mid-window, and publishing went on after it
    await assert_stream_is_the_store(js, system, total)
    await relay_nc.close()
    await nc.close()
    system.close()


async def test_two_relays_racing_without_the_leader_lock_never_interleave(
    settings: Settings, nats_server: EmbeddedNats
) -> None:
    total = 900
    system = System.build(settings, ["referrals"])
    await asyncio.to_thread(fill_store, system, 300)
    nc, js = await open_stream(settings, nats_server)
    first_nc, first_js = await open_stream(settings, nats_server)
    second_nc, second_js = await open_stream(settings, nats_server)
    relays = [
        relay_of(system, first_js, batch_size=50, poll_seconds=0.01),
        relay_of(system, second_js, batch_size=70, poll_seconds=0.01),
    ]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(r.run(stop)) for r in relays]  # leader=None: both publish
    try:
        await asyncio.to_thread(fill_store, system, total - 300)  # while they race
        await eventually(lambda: PositionStore(system.ops).get("referrals") == total, timeout=90)
        await eventually(lambda: all(r.position == total for r in relays), timeout=30)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    await assert_stream_is_the_store(js, system, total)
    for client in (first_nc, second_nc, nc):
        await client.close()
    system.close()


async def test_a_forged_message_id_inside_a_window_still_raises_the_alarm(
    settings: Settings, nats_server: EmbeddedNats
) -> None:
    system = System.build(settings, ["referrals"])
    await asyncio.to_thread(fill_store, system, 20)
    nc, js = await open_stream(settings, nats_server)
    # The attacker pre-publishes the id the relay will give its 5th event, elsewhere.
    await js.publish("ecm.formulation.forged", b"{}", headers={"Nats-Msg-Id": "referrals:5"})
    relay = relay_of(system, js, batch_size=20)
    await relay.resume()
    with pytest.raises(RelayAlarm, match="referrals:5 was refused as a duplicate"):
        await relay.publish_pending()
    assert [msg_id for msg_id, _ in await on_stream(js)] == [
        f"referrals:{n}" for n in range(1, 5)
    ]  # the events before it, nothing after
    positions = PositionStore(system.ops)
    assert positions.get("referrals") == 4
    assert sorted(positions.sequences("referrals", 1, 20)) == [1, 2, 3, 4]
    await nc.close()
    system.close()
