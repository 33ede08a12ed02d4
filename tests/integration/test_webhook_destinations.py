"""Webhooks go to public addresses only: the host is resolved and checked at send time, the
request pinned to the checked address, redirects not followed, answers not stored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient

from services.notifications.adapters.addresses import (
    RefusedDestination,
    check_url,
    networks,
    resolve,
)
from services.notifications.application import NotificationsApplication
from services.notifications.delivery import DeliveryWorker
from services.notifications.domain import Channel, NoticeStatus
from services.runtime import System, create_api
from shared.settings import Settings, development_settings
from tests.conftest import Tokens
from tests.integration.test_notifications_support import (
    Request,
    deliver,
    fast_settings,
    http_receiver,
    invitees,
    register,
    review_scheduled,
)

INSIDE = [
    "https://127.0.0.1/hook",
    "https://[::1]/hook",
    "https://10.1.2.3/hook",
    "https://192.168.0.10/hook",
    "https://172.16.5.4/hook",
    "https://169.254.169.254/latest",
    "https://2130706433/hook",
    "https://0x7f.1/hook",
    "https://127.1/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://[fd00:ec2::254]/hook",
    "https://0.0.0.0/hook",
    "https://224.0.0.251/hook",
    "https://100.64.0.1/hook",
]


@pytest.mark.parametrize("url", INSIDE)
def test_a_webhook_url_naming_an_inside_address_in_any_form_is_refused(url: str) -> None:
    with pytest.raises(RefusedDestination) as refused:
        check_url(url, [], require_https=True)
    assert refused.value.rule == "must point to a public address"


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("http://partner.example.org/hook", "must use https"),
        ("https://user@partner.example.org/hook", "must not carry a user name or password"),
        ("ftp://partner.example.org/hook", "must be an http(s) URL"),
    ],
)
def test_a_webhook_url_of_the_wrong_form_is_refused(url: str, rule: str) -> None:
    with pytest.raises(RefusedDestination) as refused:
        check_url(url, [], require_https=True)
    assert refused.value.rule == rule


def test_an_allow_listed_on_premise_network_may_be_reached_over_http() -> None:
    check_url("http://10.1.2.3:8443/hook", networks(["10.1.2.0/24"]), require_https=True)
    with pytest.raises(RefusedDestination):
        check_url("http://10.1.3.3/hook", networks(["10.1.2.0/24"]), require_https=True)


async def test_a_host_name_resolving_to_loopback_is_refused_when_resolved() -> None:
    with pytest.raises(RefusedDestination) as refused:
        await resolve("https://localhost/hook", [], require_https=True)
    assert refused.value.rule == "must point to a public address"


async def test_the_request_is_pinned_to_the_checked_address_and_names_the_host() -> None:
    destination = await resolve(
        "http://localhost:8123/hook?x=1", networks(["127.0.0.0/8", "::1/128"]), require_https=True
    )
    assert destination.connect_url in (
        "http://127.0.0.1:8123/hook?x=1",
        "http://[::1]:8123/hook?x=1",
    )
    assert destination.host_header == "localhost:8123"
    assert destination.server_name == "localhost"


# ------------------------------------------------------------------ delivery


@pytest.fixture
def node(settings: Settings) -> Iterator[System]:
    system = System.build(settings, ["notifications"])
    yield system
    system.close()


def app_of(system: System) -> NotificationsApplication:
    app = system.apps["notifications"]
    assert isinstance(app, NotificationsApplication)
    return app


def ok(_request: Request, _n: int) -> tuple[int, dict[str, Any]]:
    return 200, {"id": "secret-internal-answer"}


async def deliver_one(node: System, url: str, **settings: Any) -> NotificationsApplication:
    app = app_of(node)
    app.notify_settings = fast_settings(backoff_seconds=[3600], **settings)
    contact = register(app, "Pat Hook", channel=Channel.WEBHOOK, webhook_url=url)
    deliver(
        app,
        review_scheduled(
            app.cipher,
            uuid4(),
            invitees(("education", contact)),
            notification_id=len(app.notices(None)) + 1,
        ),
    )
    assert await DeliveryWorker(app).deliver_due() == 1
    return app


async def test_the_delivery_worker_never_reaches_a_receiver_at_a_private_address(
    node: System,
) -> None:
    with http_receiver(ok) as receiver:
        for url in (receiver.url("/ecm"), f"http://localhost:{receiver.port}/ecm"):
            app = await deliver_one(node, url, webhook_allowed_networks=[])
            assert receiver.requests == []
        rows = app.notices(None)
        assert {row.status for row in rows} == {NoticeStatus.FAILED}
        assert {row.last_error for row in rows} == {
            "webhook: the URL must point to a public address"
        }


async def test_an_allow_listed_receiver_gets_the_notice_but_its_answer_is_not_kept(
    node: System,
) -> None:
    with http_receiver(ok) as receiver:
        app = await deliver_one(
            node,
            f"http://localhost:{receiver.port}/ecm",
            webhook_allowed_networks=["127.0.0.0/8", "::1/128"],
        )
    (request,) = receiver.requests
    assert request.headers["host"] == f"localhost:{receiver.port}"
    notice = app.get_notice(UUID(request.headers["x-ecm-notice-id"]))
    assert (notice.status, notice.provider_reference) == (NoticeStatus.SENT, "webhook:200")


async def test_a_redirect_is_not_followed(node: System) -> None:
    def redirect(_request: Request, _n: int) -> tuple[int, dict[str, Any]]:
        return 307, {}

    with http_receiver(redirect) as receiver:
        app = await deliver_one(node, receiver.url("/ecm"))
    (row,) = app.notices(None)
    assert len(receiver.requests) == 1
    assert row.status == NoticeStatus.FAILED
    assert row.last_error == "webhook: the receiver refused the notice (HTTP 3xx)"


async def test_a_closed_port_and_a_silent_one_read_the_same_in_the_ops_view(
    node: System,
) -> None:
    with http_receiver(ok) as receiver:
        closed = receiver.url("/ecm")
    app = await deliver_one(node, closed, send_timeout_seconds=1.0)
    (row,) = app.notices(None)
    assert row.last_error == "webhook: the receiver could not be reached"


# ------------------------------------------------------------------ registration


def test_production_refuses_inside_and_plain_http_webhooks_at_registration(
    tmp_path: Path,
) -> None:
    settings = development_settings(tmp_path / "var", dev_mode=False)
    system = System.build(settings, ["notifications"])
    auth = Tokens(settings)
    try:
        with TestClient(create_api(system)) as client:
            for url, rule in [
                *((u, "must point to a public address") for u in INSIDE),
                ("http://partner.example.org/hook", "must use https"),
            ]:
                response = client.post(
                    "/api/v1/partners",
                    headers=auth("admin"),
                    json={
                        "agency": "education",
                        "name": "Pat",
                        "email": "pat@school.example.org",
                        "preferred_channel": "webhook",
                        "webhook_url": url,
                    },
                )
                assert response.status_code == 422, (url, response.text)
                assert response.json()["field"] == "webhook_url"
                assert response.json()["detail"] == f"webhook_url: {rule}", url
            assert client.get("/api/v1/partners", headers=auth("admin")).json() == []
    finally:
        system.close()
