"""Only a service speaks for itself (real nats-server): forged, re-signed, altered or
misaddressed messages are parked as unauthentic and change nothing; forged message ids
cannot make a relay drop events or jump its position."""

from __future__ import annotations

import random
from typing import Any, cast
from uuid import uuid4

import pytest
from nats.js import JetStreamContext

from services.notifications.application import NotificationsApplication
from services.runtime import System
from shared.bus import connect, ensure_stream
from shared.consumer import replay_parked
from shared.contracts import Envelope
from shared.natsserver import EmbeddedNats
from shared.relay import PositionStore
from shared.settings import Settings
from tests.harness import eventually, in_thread, publish_signed, running_node, with_nats
from tests.integration.test_notifications_support import invitees, register, review_scheduled
from tests.workload import Tally, queued, refer


def notices(app: NotificationsApplication) -> int:
    return sum(queued(app).values())


def refused(system: System) -> list[str]:
    return [
        row["error"]
        for c in system.consumers()
        if c.name == "notifications-notices"
        for row in c.sink.parked()
    ]


async def forge(js: JetStreamContext, system: System, how: str, message: Envelope) -> None:
    body = message.model_dump_json().encode()
    headers: dict[str, str] = {"Nats-Msg-Id": f"forged-{uuid4()}"}
    subject = message.subject
    if how == "re-signed by another service":
        headers |= system.keys.headers("referrals", body)
    elif how == "altered after signing":
        headers |= system.keys.headers("reviews", body)
        body = body.replace(b"2026-09-15", b"2026-09-16")
    elif how == "on another subject":
        headers |= system.keys.headers("reviews", body)
        subject = "ecm.reviews.MadeUp"
    await js.publish(subject, body, stream="ECM", headers=headers)


@pytest.mark.parametrize(
    "how",
    ["unsigned", "re-signed by another service", "altered after signing", "on another subject"],
)
async def test_a_forged_message_is_parked_as_unauthentic_and_tells_no_partner(
    settings: Settings, nats_server: EmbeddedNats, how: str
) -> None:
    system = System.build(with_nats(settings, nats_server), ["notifications"])
    app = cast(NotificationsApplication, system.apps["notifications"])
    teacher = await in_thread(register, app, "Pat Teacher")
    async with running_node(settings, nats_server, system=system):
        nc = await connect(system.settings, nats_server.url)
        js = nc.jetstream()
        message = review_scheduled(app.cipher, uuid4(), invitees(("education", teacher)))
        await forge(js, system, how, message)
        await eventually(lambda: refused(system))
        # A genuine message behind it is applied: the forgery holds nothing up.
        genuine = review_scheduled(app.cipher, uuid4(), invitees(("education", teacher)), 8)
        await publish_signed(js, system.keys, genuine)
        await eventually(lambda: notices(app) == 1)
        await nc.close()
    [reason] = refused(system)
    assert reason.startswith("unauthentic:")
    consumer = next(c for c in system.consumers() if c.name == "notifications-notices")
    failures = replay_parked(consumer)
    assert len(failures) == 1 and "refused, never applied" in failures[0][1]
    assert notices(app) == 1
    system.close()


async def prepared(settings: Settings, nats: EmbeddedNats) -> tuple[Any, JetStreamContext]:
    nc = await connect(with_nats(settings, nats), nats.url)
    js = nc.jetstream()
    await ensure_stream(js, settings)
    return nc, js


async def test_a_forged_message_id_ahead_of_the_relay_raises_an_alarm_instead_of_a_silent_drop(
    settings: Settings, nats_server: EmbeddedNats
) -> None:
    system = System.build(with_nats(settings, nats_server), ["referrals"])
    rng = random.Random(1)
    async with running_node(settings, nats_server, system=system):
        await in_thread(refer, system, rng, Tally())
        positions = PositionStore(system.ops)
        app = system.apps["referrals"]
        first = app.max_notification_id()
        await eventually(lambda: positions.get("referrals") == first)
        # Someone holding NATS credentials takes the next message ids of the service.
        nc, js = await prepared(settings, nats_server)
        for nid in range(first + 1, first + 4):
            await js.publish(
                "ecm.referrals.ChildRegistered",
                b'{"forged": true}',
                stream="ECM",
                headers={"Nats-Msg-Id": f"referrals:{nid}"},
            )
        await nc.close()
        await in_thread(refer, system, rng, Tally())
        alarm = await eventually(lambda: positions.alarm("referrals"))
        # The relay's expected-last-sequence check meets the forgeries first: its resume then
        # finds the stream's last message is not the stored event of that id (or, woken by
        # the first commit of `refer`, claims an id the store does not hold yet).
        assert (
            "is not the stored event of that id" in alarm
            or "refused as a duplicate" in alarm
            or "the store holds no such event" in alarm
        )
        assert positions.get("referrals") == first  # nothing was taken as published
    system.close()


async def test_a_message_claiming_a_far_future_id_cannot_make_the_relay_jump(
    settings: Settings, nats_server: EmbeddedNats
) -> None:
    system = System.build(with_nats(settings, nats_server), ["referrals"])
    nc, js = await prepared(settings, nats_server)
    await js.publish(
        "ecm.referrals.ChildRegistered",
        b"{}",
        stream="ECM",
        headers={"Nats-Msg-Id": "referrals:1000000000"},
    )
    await nc.close()
    async with running_node(settings, nats_server, system=system):
        positions = PositionStore(system.ops)
        alarm = await eventually(lambda: positions.alarm("referrals"))
        assert "store holds no such event" in alarm
        assert positions.get("referrals") == 0
        # The operator removes the cause and clears the alarm: the relay resumes at once.
        nc, js = await prepared(settings, nats_server)
        await js.purge_stream("ECM")
        await nc.close()
        await in_thread(refer, system, random.Random(2), Tally())
        assert positions.clear_alarm("referrals")
        stored = system.apps["referrals"].max_notification_id()
        await eventually(lambda: positions.get("referrals") == stored)
    system.close()
