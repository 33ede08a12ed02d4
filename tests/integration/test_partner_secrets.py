"""A partner's own webhook signing key is stored sealed under the master key, never in clear."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest

from services.notifications.application import WEBHOOK_SECRET, NotificationsApplication
from services.notifications.domain import Channel
from services.runtime import System
from shared.crypto import SEALED_SECRET
from shared.settings import Settings
from tests.integration.test_notifications_support import register

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
