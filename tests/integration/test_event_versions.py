"""Events are forever: an event stored under an older class version loads through its
upcaster into today's shape, and stored topics resolve through the registered topics."""

from __future__ import annotations

import json
from collections.abc import Iterator
from uuid import uuid4

import pytest
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import resolve_topic

from services.notifications.application import NotificationsApplication
from services.notifications.domain import Channel, PartnerContact
from services.runtime import System
from shared.domain import Meta
from shared.settings import Settings
from shared.vocabulary import Agency

META = Meta("sp-1", "senior_practitioner", "c", "c")


@pytest.fixture
def app(settings: Settings) -> Iterator[NotificationsApplication]:
    system = System.build(settings, ["notifications"])
    notifications = system.apps["notifications"]
    assert isinstance(notifications, NotificationsApplication)
    yield notifications
    system.close()


def test_a_partner_registered_under_version_1_loads_with_its_name_trimmed(
    app: NotificationsApplication,
) -> None:
    contact_id = app.register_partner(
        agency=Agency.EDUCATION,
        name="Synthetic Teacher",
        email="t@school.example",
        webhook_url=None,
        preferred_channel=Channel.EMAIL,
        webhook_secret=None,
        meta=META,
    )
    (stored,) = app.recorder.select_events(contact_id)
    state = json.loads(stored.state)
    assert state["class_version"] == 2
    # As version 1 stored it: no class_version, the name as typed (the body trimmed it).
    del state["class_version"]
    state["name"] = "  Synthetic  Teacher "
    old_id = uuid4()
    app.recorder.insert_events(
        [
            StoredEvent(
                originator_id=old_id,
                originator_version=stored.originator_version,
                topic=stored.topic,
                state=json.dumps(state).encode(),
            )
        ]
    )
    loaded = app.get_partner(old_id)
    assert isinstance(loaded, PartnerContact)
    assert loaded.name == "Synthetic  Teacher"


def test_a_partner_is_registered_with_the_name_decided_by_the_command(
    app: NotificationsApplication,
) -> None:
    contact_id = app.register_partner(
        agency=Agency.HEALTH,
        name="  Synthetic Nurse  ",
        email="n@health.example",
        webhook_url=None,
        preferred_channel=Channel.EMAIL,
        webhook_secret=None,
        meta=META,
    )
    (stored,) = app.recorder.select_events(contact_id)
    assert json.loads(stored.state)["name"] == "Synthetic Nurse"
    assert app.get_partner(contact_id).name == "Synthetic Nurse"


def test_the_topics_events_are_stored_under_are_registered_for_when_classes_move() -> None:
    assert resolve_topic("services.notifications.domain:PartnerContact.Registered") is (
        PartnerContact.Registered
    )
    assert resolve_topic("services.notifications.domain:PartnerContact") is PartnerContact
