"""Notices from the real stream: a real nats-server, the node's consumer and delivery loop,
a real SMTP server and a real webhook receiver."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID, uuid4

import pytest
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from services.notifications.adapters.webhook import verify
from services.notifications.application import NotificationsApplication
from services.notifications.consumers import NAME
from services.notifications.domain import Channel, NoticeStatus
from services.runtime import System
from shared.bus import connect
from shared.contracts import STREAM, Envelope
from shared.natsserver import EmbeddedNats
from shared.settings import Settings
from shared.vocabulary import Agency
from tests.harness import eventually, in_thread, publish_signed, running_node, with_nats
from tests.integration.test_notifications_support import (
    ONLINE,
    VENUE,
    Request,
    fast_settings,
    http_receiver,
    invitees,
    register,
    review_scheduled,
    smtp_sink,
)

pytestmark = pytest.mark.nats


def notifications_app(system: System) -> NotificationsApplication:
    app = system.apps["notifications"]
    assert isinstance(app, NotificationsApplication)
    return app


async def stream_messages(js: JetStreamContext, subject: str) -> list[Envelope]:
    """Every message on the stream under `subject`, in order."""
    info = await js.stream_info(STREAM)
    found = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg(STREAM, seq)
        if msg.subject and msg.subject.startswith(subject.rstrip(">")) and msg.data:
            found.append(Envelope.model_validate_json(msg.data))
    return found


async def consumed_up_to(js: JetStreamContext, seq: int) -> bool:
    """True once the notices consumer has acknowledged everything up to stream sequence `seq`."""
    try:
        info = await js.consumer_info(STREAM, NAME)
    except NotFoundError:  # its runner has not created it yet
        return False
    return bool(info.ack_floor.stream_seq >= seq and info.num_ack_pending == 0)


async def test_a_review_scheduled_twice_gives_one_notice_per_contact_delivered_once(
    settings: Settings,
    nats_server: EmbeddedNats,
) -> None:
    system = System.build(with_nats(settings, nats_server), ["notifications"])
    app = notifications_app(system)
    with smtp_sink() as smtp:
        app.notify_settings = fast_settings(smtp_port=smtp.port, smtp_starttls=False)
        teacher = await in_thread(register, app, "Pat Teacher")
        nurse = await in_thread(register, app, "Nina Nurse", Agency.HEALTH)
        async with running_node(settings, nats_server, system=system):
            nc = await connect(system.settings, nats_server.url)
            js = nc.jetstream()
            child = uuid4()
            message = review_scheduled(
                app.cipher,
                child,
                invitees(("education", teacher), ("health", nurse), ("police", None)),
            )
            body = message.model_dump_json().encode()
            await publish_signed(js, system.keys, message, body=body)
            # The same message again, as after the dedup window: the stream keeps both.
            again = await publish_signed(js, system.keys, message, body=body, msg_id="")
            assert not again.duplicate
            await eventually(lambda: consumed_up_to(js, again.seq))

            def all_sent() -> bool:
                rows = app.notices(None)
                return len(rows) == 2 and all(r.status == NoticeStatus.SENT for r in rows)

            await eventually(lambda: in_thread(all_sent))
            assert sorted(r.contact_id for r in app.notices(None)) == sorted([teacher, nurse])
            assert sorted(e["To"] for e in smtp.emails) == [
                "nina.nurse@partner.example.org",
                "pat.teacher@partner.example.org",
            ]
            assert all(VENUE in text and ONLINE in text for text in smtp.texts)

            async def published() -> list[Envelope]:
                found = await stream_messages(js, "ecm.notifications.>")
                return found if len([e for e in found if e.event_type == "NoticeSent"]) == 2 else []

            ours = await eventually(published)
            await nc.close()
        assert len(smtp.raw) == 2  # still exactly one email per contact
    kinds = sorted(e.event_type for e in ours)
    assert kinds == [
        "NoticeQueued",
        "NoticeQueued",
        "NoticeSent",
        "NoticeSent",
        "PartnerRegistered",
        "PartnerRegistered",
    ]
    wire = "".join(e.model_dump_json() for e in ours)
    for secret in ("Pat Teacher", "partner.example.org", "Nina", VENUE, ONLINE):
        assert secret not in wire
    registered = [e.data for e in ours if e.event_type == "PartnerRegistered"]
    assert {d["agency"] for d in registered} == {"education", "health"}
    assert all(set(d) == {"contact_id", "agency"} for d in registered)
    system.close()


async def test_a_webhook_that_fails_twice_gets_the_notice_on_the_third_attempt(
    settings: Settings,
    nats_server: EmbeddedNats,
) -> None:
    system = System.build(with_nats(settings, nats_server), ["notifications"])
    app = notifications_app(system)
    secret = "webhook-secret-for-the-police-0001"

    def flaky(request: Request, number: int) -> tuple[int, dict[str, Any]]:
        if not verify(secret, request.body, request.headers):
            return 401, {"error": "bad signature"}
        return (503, {"error": "busy"}) if number <= 2 else (200, {"id": f"rcv-{number}"})

    with http_receiver(flaky) as receiver:
        app.notify_settings = fast_settings(backoff_seconds=[0.05, 0.1], max_attempts=5)
        officer = await in_thread(
            register,
            app,
            "Sgt Example",
            Agency.POLICE,
            Channel.WEBHOOK,
            receiver.url("/ecm/notices"),
            secret,
        )
        async with running_node(settings, nats_server, system=system):
            nc = await connect(system.settings, nats_server.url)
            js = nc.jetstream()
            message = review_scheduled(app.cipher, uuid4(), invitees(("police", officer)))
            await publish_signed(js, system.keys, message)

            def sent() -> bool:
                rows = app.notices(None)
                return len(rows) == 1 and rows[0].status == NoticeStatus.SENT

            await eventually(lambda: in_thread(sent))

            async def outcomes() -> list[str]:
                found = await stream_messages(js, "ecm.notifications.>")
                kinds = [e.event_type for e in found if e.event_type.startswith("Notice")]
                return kinds if "NoticeSent" in kinds else []

            kinds = await eventually(outcomes)
            await nc.close()
    assert kinds == ["NoticeQueued", "NoticeFailed", "NoticeFailed", "NoticeSent"]
    assert len(receiver.requests) == 3
    assert [r.headers["x-ecm-delivery-attempt"] for r in receiver.requests] == ["1", "2", "3"]
    assert len({r.headers["x-ecm-notice-id"] for r in receiver.requests}) == 1
    notice = app.get_notice(UUID(receiver.requests[0].headers["x-ecm-notice-id"]))
    assert (notice.attempts, notice.provider_reference) == (3, "webhook:200")
    assert json.loads(receiver.requests[2].body)["where"]["venue"] == VENUE
    system.close()
