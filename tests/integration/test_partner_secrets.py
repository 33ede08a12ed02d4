"""A partner's own webhook signing key is stored sealed under the master key, never in clear."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from services.notifications.adapters.webhook import verify
from services.notifications.application import WEBHOOK_SECRET, NotificationsApplication
from services.notifications.delivery import DeliveryWorker
from services.notifications.domain import Channel
from services.runtime import System, create_api
from shared.crypto import SEALED_SECRET
from shared.settings import Settings
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

SECRET = "police-own-secret-Xq7Lm2Pw9Rt4"


@pytest.fixture
def node(settings: Settings) -> Iterator[System]:
    system = System.build(settings, ["notifications"])
    yield system
    system.close()


def test_the_contacts_signing_key_is_sealed_in_the_store_and_unsealed_for_delivery(
    node: System, settings: Settings
) -> None:
    app = node.apps["notifications"]
    assert isinstance(app, NotificationsApplication)
    contact_id = register(
        app,
        "Sgt Example",
        channel=Channel.WEBHOOK,
        webhook_url="https://police.example.org/ecm",
        webhook_secret=SECRET,
    )
    contact = app.get_partner(contact_id)
    assert contact.webhook_secret is not None
    assert contact.webhook_secret.startswith(SEALED_SECRET)
    assert SECRET not in contact.webhook_secret
    assert app.webhook_secret_of(contact) == SECRET
    with sqlite3.connect(settings.sqlite_path("notifications-events")) as db:
        stored = b"".join(bytes(row[0]) for row in db.execute("SELECT state FROM stored_events"))
    assert SECRET.encode() not in stored


def test_a_key_stored_before_sealing_still_works_and_a_changed_one_is_refused(
    node: System,
) -> None:
    vault = node.vault
    assert (
        vault.open_secret(WEBHOOK_SECRET, "legacy-plain-secret-0001") == "legacy-plain-secret-0001"
    )
    sealed = vault.seal_secret(WEBHOOK_SECRET, SECRET)
    assert vault.open_secret(WEBHOOK_SECRET, sealed) == SECRET
    with pytest.raises(ValueError, match="sealed under another master key or changed"):
        vault.open_secret("another-purpose", sealed)


async def test_a_rotated_key_signs_beside_the_old_one_until_the_overlap_ends(
    node: System, auth: Tokens
) -> None:
    app = node.apps["notifications"]
    assert isinstance(app, NotificationsApplication)
    old, new, newest = SECRET, "police-new-secret-Hb3Nc8Vd1Kz6", "police-newest-Fg5Jk0Lq2Wx8"
    seen: list[Request] = []

    def receive(request: Request, _n: int) -> tuple[int, dict[str, Any]]:
        seen.append(request)
        return 200, {}

    with http_receiver(receive) as receiver:
        app.notify_settings = fast_settings()
        contact = register(
            app,
            "Sgt Example",
            channel=Channel.WEBHOOK,
            webhook_url=receiver.url("/ecm"),
            webhook_secret=old,
        )
        with TestClient(create_api(node)) as client:
            for number, (secret, hours) in enumerate(((new, 1), (newest, 0)), start=1):
                rotated = client.post(
                    f"/api/v1/partners/{contact}/webhook-secret",
                    headers=auth("admin"),
                    json={"webhook_secret": secret, "overlap_hours": hours},
                )
                assert rotated.status_code == 200, rotated.text
                deliver(
                    app,
                    review_scheduled(
                        app.cipher, uuid4(), invitees(("police", contact)), notification_id=number
                    ),
                )
                assert await DeliveryWorker(app).deliver_due() == 1
    during, after = seen
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert verify(new, during.body, during.headers) and verify(old, during.body, during.headers)
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    assert verify(newest, after.body, after.headers)
    assert not verify(new, after.body, after.headers)
    assert app.get_partner(contact).webhook_secret not in (new, newest)  # sealed
