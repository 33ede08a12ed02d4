"""Woken on commit: the relay and the delivery loop act when their application commits, not
when a poll comes round (both polls are set to an hour here: only the wake-up can work)."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
import threading

from nats.js import JetStreamContext

from services.notifications.application import NotificationsApplication
from services.notifications.delivery import run_delivery
from services.runtime import System
from shared.bus import count_messages
from shared.natsserver import EmbeddedNats
from shared.settings import Settings
from shared.wakeup import notify, signal, wait_for
from tests.harness import eventually
from tests.integration.test_notifications_channels import registered_child
from tests.integration.test_notifications_support import (
    deliver,
    fast_settings,
    invitees,
    register,
    review_scheduled,
    smtp_sink,
)
from tests.integration.test_relay import fill_store
from tests.integration.test_relay_pipeline import SUBJECTS, open_stream, relay_of

HOUR = 3600.0


async def test_a_commit_in_another_thread_wakes_every_waiter_of_that_service_only() -> None:
    stop = asyncio.Event()
    with (
        signal("wake-a").subscribed() as a,
        signal("wake-a").subscribed() as a2,
        signal("wake-b").subscribed() as b,
    ):
        assert signal("wake-a").waiting == 2
        thread = threading.Thread(target=notify, args=("wake-a",))
        thread.start()
        assert await wait_for(a, stop, HOUR)
        assert await wait_for(a2, stop, HOUR)
        thread.join()
        assert not b.is_set()
        stop.set()
        assert not await wait_for(b, stop, HOUR)  # a stop ends the wait, unwoken
    assert signal("wake-a").waiting == 0
    notify("wake-a")  # nobody waits: nothing happens


async def test_the_relay_publishes_a_commit_without_waiting_for_its_poll(
    store_settings: Settings, nats_server: EmbeddedNats
) -> None:
    system = System.build(store_settings, ["referrals"])
    nc, js = await open_stream(store_settings, nats_server)
    relay = relay_of(system, js, poll_seconds=HOUR)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await eventually(lambda: signal("referrals").waiting >= 1)  # idle, waiting
        for expected in (1, 2, 5):
            await asyncio.to_thread(fill_store, system, expected - relay.position)
            await eventually(lambda n=expected: _count_is(js, n), timeout=30)  # type: ignore[misc]
    finally:
        stop.set()
        await task
    await nc.close()
    system.close()


async def _count_is(js: JetStreamContext, n: int) -> bool:
    return await count_messages(js, SUBJECTS) == n


async def test_a_queued_notice_is_sent_without_waiting_for_the_delivery_poll(
    settings: Settings,
) -> None:
    system = System.build(settings, ["referrals", "notifications"])
    app = system.apps["notifications"]
    assert isinstance(app, NotificationsApplication)
    stop = asyncio.Event()
    with smtp_sink() as smtp:
        app.notify_settings = fast_settings(
            smtp_port=smtp.port, smtp_starttls=False, poll_seconds=HOUR
        )
        teacher = register(app, "Pat Teacher")
        task = asyncio.create_task(run_delivery(system, stop))
        try:
            await eventually(lambda: signal("notifications").waiting >= 1)
            await asyncio.sleep(0.2)  # the first round has run and found nothing due
            assert smtp.raw == []
            child = registered_child(system)
            await asyncio.to_thread(
                deliver, app, review_scheduled(app.cipher, child, invitees(("education", teacher)))
            )
            await eventually(lambda: len(smtp.raw) == 1, timeout=30)
            notice = app.notices(None)[0]
            await eventually(lambda: app.get_notice(notice.notice_id).status == "sent")
        finally:
            stop.set()
            await task
    system.close()


WRITER = textwrap.dedent("""
    import sys
    from datetime import date
    from services.runtime import System
    from shared.domain import Area, Meta
    from shared.settings import development_settings
    from pathlib import Path

    system = System.build(development_settings(Path(sys.argv[1])), ["referrals"])
    system.apps["referrals"].register_child(
        given_name="Synthetic", family_name="Elsewhere", date_of_birth=date(2010, 1, 1),
        area=Area.BRISTOL, nhs_number=None, upn=None, meta=Meta("cm-1", "case_manager", "c", "c"))
    system.close()
""")


async def test_on_postgresql_a_commit_in_another_process_wakes_the_relay(
    pg_settings: Settings, nats_server: EmbeddedNats
) -> None:
    system = System.build(pg_settings, ["referrals"])
    nc, js = await open_stream(pg_settings, nats_server)
    relay = relay_of(system, js, poll_seconds=HOUR)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    env = {
        **os.environ,
        "ECM_DEV_MODE": "true",
        "ECM_POSTGRES_URL": str(pg_settings.postgres_url),
        "ECM_PG_SCHEMA_PREFIX": pg_settings.pg_schema_prefix,
    }
    try:
        await eventually(lambda: signal("referrals").waiting >= 1)
        await asyncio.sleep(0.5)  # listening, idle
        for expected in (1, 2):
            writer = await asyncio.create_subprocess_exec(
                sys.executable, "-c", WRITER, str(pg_settings.data_path), env=env
            )
            assert await writer.wait() == 0
            await eventually(lambda n=expected: _count_is(js, n), timeout=30)  # type: ignore[misc]
    finally:
        stop.set()
        await task
    await nc.close()
    system.close()
