"""Delivery through real channels: an SMTP server, a webhook receiver, a Notify imitation."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import date
from typing import Any
from uuid import UUID, uuid4

import jwt
import pytest
from notifications_python_client.authentication import decode_jwt_token
from prometheus_client import REGISTRY

from services.notifications.adapters.webhook import verify
from services.notifications.application import NotificationsApplication
from services.notifications.delivery import DeliveryWorker
from services.notifications.domain import Channel, NoticeStatus
from services.referrals.application import ReferralsApplication
from services.runtime import System
from shared.domain import Area, Meta
from shared.settings import Settings
from shared.vocabulary import Agency
from tests.harness import eventually
from tests.integration.test_notifications_support import (
    ONLINE,
    VENUE,
    Request,
    deliver,
    fast_settings,
    http_receiver,
    invitees,
    register,
    review_scheduled,
    smtp_sink,
)

SERVICE_ID, SECRET = uuid4(), uuid4()
NOTIFY_KEY = f"ecm_test-{SERVICE_ID}-{SECRET}"
TEMPLATE = str(uuid4())
CHILD_VALUES = {
    "given_name": "Zephyrine",
    "family_name": "Quillfeather",
    "nhs_number": "9434765919",
    "upn": "B801200005001",
}


@pytest.fixture
def node(settings: Settings) -> Iterator[System]:
    system = System.build(settings, ["referrals", "notifications"])
    yield system
    system.close()


def app_of(system: System) -> NotificationsApplication:
    app = system.app(NotificationsApplication)
    assert isinstance(app, NotificationsApplication)
    return app


def registered_child(system: System) -> UUID:
    """A synthetic child with distinctive values that must never reach a partner."""
    child_id: UUID = system.app(ReferralsApplication).register_child(
        given_name=CHILD_VALUES["given_name"],
        family_name=CHILD_VALUES["family_name"],
        date_of_birth=date(2011, 2, 3),
        area=Area.BRISTOL,
        nhs_number=CHILD_VALUES["nhs_number"],
        upn=CHILD_VALUES["upn"],
        meta=Meta("cm-1", "case_manager", "c", "c"),
    )
    return child_id


def assert_no_child_values(payload: bytes, child_id: UUID) -> None:
    for value in [*CHILD_VALUES.values(), "2011-02-03", str(child_id)]:
        assert value.encode() not in payload, value
        assert value.lower().encode() not in payload.lower(), value


def deliveries(channel: str, outcome: str) -> float:
    """The process's ecm_notice_deliveries_total for one channel and outcome."""
    value = REGISTRY.get_sample_value(
        "ecm_notice_deliveries_total", {"channel": channel, "outcome": outcome}
    )
    return value or 0.0


async def test_an_email_reaches_the_smtp_server_with_minimal_content_only(node: System) -> None:
    app = app_of(node)
    with smtp_sink() as smtp:
        app.notify_settings = fast_settings(smtp_port=smtp.port, smtp_starttls=False)
        teacher = register(app, "Pat Teacher")
        child = registered_child(node)
        deliver(app, review_scheduled(app.cipher, child, invitees(("education", teacher))))
        worker = DeliveryWorker(app)
        sent_before = deliveries("email", "sent")
        assert await worker.deliver_due() == 1
        assert await worker.deliver_due() == 0
        assert len(smtp.raw) == 1
        assert deliveries("email", "sent") == sent_before + 1
        email = smtp.emails[0]
        assert email["To"] == "pat.teacher@partner.example.org"
        assert email["Subject"] == f"ECM review meeting (ECM ref {str(child)[:8]})"
        text = smtp.texts[0]
        assert VENUE in text and ONLINE in text
        assert "Contact: ecm-team@example.org" in text
        notice = app.get_notice(app.notices(None)[0].notice_id)
        assert f"https://ecm.example.org/notices/{notice.id}" in text
        assert_no_child_values(smtp.raw[0], child)
        assert notice.status == NoticeStatus.SENT
        assert notice.provider_reference == f"<{notice.id}@ecm-record>"


async def test_an_unreachable_smtp_server_leaves_the_notice_failed_and_due_again(
    node: System,
) -> None:
    app = app_of(node)
    with smtp_sink() as smtp:
        closed_port = smtp.port
    app.notify_settings = fast_settings(smtp_port=closed_port, backoff_seconds=[3600])
    teacher = register(app, "Pat Teacher")
    deliver(app, review_scheduled(app.cipher, uuid4(), invitees(("education", teacher))))
    failed_before = deliveries("email", "failed")
    assert await DeliveryWorker(app).deliver_due() == 1
    row = app.notices(None)[0]
    assert row.status == NoticeStatus.FAILED
    assert row.last_error is not None and row.last_error.startswith("smtp: cannot reach")
    assert deliveries("email", "failed") == failed_before + 1
    assert row.next_attempt_at is not None


async def test_a_signed_webhook_is_verified_by_the_receiver(node: System) -> None:
    app = app_of(node)
    secret = "police-own-secret-0123456789"
    verified: list[bool] = []

    def respond(request: Request, _n: int) -> tuple[int, dict[str, Any]]:
        ok = verify(secret, request.body, request.headers)
        verified.append(ok)
        return (200, {"id": "rcv-1"}) if ok else (401, {"error": "bad signature"})

    with http_receiver(respond) as receiver:
        app.notify_settings = fast_settings()
        officer = register(
            app,
            "Sgt Example",
            Agency.POLICE,
            Channel.WEBHOOK,
            webhook_url=receiver.url("/ecm"),
            webhook_secret=secret,
        )
        child = registered_child(node)
        deliver(app, review_scheduled(app.cipher, child, invitees(("police", officer))))
        assert await DeliveryWorker(app).deliver_due() == 1
    assert verified == [True]
    payload = json.loads(receiver.requests[0].body)
    assert payload["what"] == "ECM review meeting"
    assert payload["where"] == {"venue": VENUE, "online_link": ONLINE}
    assert payload["reference"] == str(child)[:8]
    assert_no_child_values(receiver.requests[0].body, child)
    notice = app.get_notice(UUID(payload["notice_id"]))
    # What the receiver answered ({"id": "rcv-1"}) is not stored: only that it took it.
    assert (notice.status, notice.provider_reference) == (NoticeStatus.SENT, "webhook:200")


async def test_gov_uk_notify_gets_the_template_fields_with_a_valid_jwt(node: System) -> None:
    app = app_of(node)
    checks: list[str] = []

    def respond(request: Request, _n: int) -> tuple[int, dict[str, Any]]:
        token = request.headers["authorization"].removeprefix("Bearer ")
        claims = jwt.decode(token, options={"verify_signature": False})
        if request.path != "/v2/notifications/email" or claims["iss"] != str(SERVICE_ID):
            return 403, {"errors": [{"error": "AuthError", "message": "wrong service"}]}
        decode_jwt_token(token, str(SECRET))  # type: ignore[no-untyped-call]  # raises unless signed with the key's secret
        checks.append("jwt ok")
        body = json.loads(request.body)
        return 201, {
            "id": "6b1e5c4f-0000-4000-8000-000000000001",
            "reference": body["reference"],
            "template": {"id": body["template_id"]},
            "content": {"subject": "x", "body": "y"},
            "uri": "",
            "scheduled_for": None,
        }

    with http_receiver(respond) as notify:
        app.notify_settings = fast_settings(
            govuk_api_key=NOTIFY_KEY, govuk_base_url=notify.url(""), govuk_template_id=TEMPLATE
        )
        nurse = register(app, "Nina Nurse", Agency.HEALTH, Channel.NOTIFY)
        child = registered_child(node)
        deliver(app, review_scheduled(app.cipher, child, invitees(("health", nurse))))
        assert await DeliveryWorker(app).deliver_due() == 1
    assert checks == ["jwt ok"]
    sent = json.loads(notify.requests[0].body)
    notice = app.get_notice(UUID(sent["reference"]))
    assert sent["email_address"] == "nina.nurse@partner.example.org"
    assert sent["template_id"] == TEMPLATE
    assert sent["personalisation"]["what"] == "ECM review meeting"
    assert sent["personalisation"]["reference"] == str(child)[:8]
    assert sent["personalisation"]["link"] == f"https://ecm.example.org/notices/{notice.id}"
    assert_no_child_values(notify.requests[0].body, child)
    assert notice.provider_reference == "6b1e5c4f-0000-4000-8000-000000000001"


async def test_notify_refusing_the_request_fails_the_notice_with_notifys_message(
    node: System,
) -> None:
    app = app_of(node)

    def respond(_request: Request, _n: int) -> tuple[int, dict[str, Any]]:
        return 400, {
            "status_code": 400,
            "errors": [{"error": "BadRequestError", "message": "Missing personalisation"}],
        }

    with http_receiver(respond) as notify:
        app.notify_settings = fast_settings(
            govuk_api_key=NOTIFY_KEY, govuk_base_url=notify.url(""), govuk_template_id=TEMPLATE
        )
        nurse = register(app, "Nina Nurse", Agency.HEALTH, Channel.NOTIFY)
        deliver(app, review_scheduled(app.cipher, uuid4(), invitees(("health", nurse))))
        await DeliveryWorker(app).deliver_due()
    row = app.notices(None)[0]
    assert row.status == NoticeStatus.FAILED
    assert row.last_error is not None and "Missing personalisation" in row.last_error


async def test_two_workers_never_send_the_same_notice_twice(node: System) -> None:
    app = app_of(node)

    def slow(_request: Request, _n: int) -> tuple[int, dict[str, Any]]:
        return 200, {}

    with http_receiver(slow) as receiver:
        app.notify_settings = fast_settings()
        contacts = [
            register(
                app,
                f"Officer {i}",
                Agency.POLICE,
                Channel.WEBHOOK,
                webhook_url=receiver.url("/ecm"),
            )
            for i in range(6)
        ]
        deliver(
            app, review_scheduled(app.cipher, uuid4(), invitees(*[("police", c) for c in contacts]))
        )
        first, second = DeliveryWorker(app), DeliveryWorker(app)
        await asyncio.gather(first.deliver_due(), second.deliver_due())
        await eventually(lambda: all(r.status == NoticeStatus.SENT for r in app.notices(None)))
    sent_ids = [r.headers["x-ecm-notice-id"] for r in receiver.requests]
    assert len(sent_ids) == len(set(sent_ids)) == 6


async def test_a_notice_for_a_contact_missing_from_the_directory_fails_visibly(
    node: System,
) -> None:
    app = app_of(node)
    app.notify_settings = fast_settings(max_attempts=1)
    deliver(app, review_scheduled(app.cipher, uuid4(), invitees(("police", UUID(int=7)))))
    await DeliveryWorker(app).deliver_due()
    [row] = app.notices(NoticeStatus.FAILED)
    assert row.last_error == "contact_id: the contact is not in the partner directory"
    assert row.next_attempt_at is None  # waits for an operator, never dropped
