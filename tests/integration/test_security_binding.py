"""Ciphertexts are bound to their place: the child, the event they are stored in and the field.

A sealed value moved to another field, event or child does not open; an unsealed value in a
personal field is refused; values sealed in the first format (ecm1, bound to the child only)
and already stored keep opening.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import date
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import Mapper
from sqlalchemy import insert

from services.formulation.consumers import REVIEW_RATIONALE_SEALED_IN
from services.notifications.application import NotificationsApplication
from services.notifications.consumers import SEALED_IN
from services.referrals.application import ReferralsApplication
from services.referrals.contracts import REGISTRY as REFERRALS
from services.referrals.domain import Child
from services.registry import all_plugins
from services.runtime import System
from shared.consumer import Delivery
from shared.crypto import (
    PREFIX,
    FieldCipher,
    KeyVault,
    Misplaced,
    NotSealed,
    child_keys,
    event_name,
    load_master_key,
)
from shared.domain import Area, Meta
from shared.settings import Settings
from shared.sql import make_engine
from shared.store import PersonalDataMapper
from shared.vocabulary import Agency
from tests.integration.test_notifications_support import (
    envelope,
    invitees,
    notice_sink,
    register,
    review_scheduled,
)

META = Meta("cm-1", "case_manager", "corr-binding", "corr-binding")
NAME = "Zephyrine-Quillfeather"
REGISTERED = "Child.Registered"
# Sealed by the format-1 code (shared/crypto.py before ecm2) under a fixed master key: a value
# as it already sits in stores and on the stream, committed here so that it must keep opening.
GOLDEN_MASTER_KEY = "Dn6o1t84t7teR0ihl8M5qdI+gABQZZXHXO5PvOEvh/Y="
GOLDEN_CHILD = UUID("5b0f8c3e-6d0a-4c55-9a8e-3f2b1c7d9e01")
GOLDEN_WRAPPED_KEY = "GO73rmLHfGKI9hpSOYPkbwfM0Pe/zM5JCqmolqbkJZWQgoK8Z93Npw=="
GOLDEN_SEALED = "ecm1:jvIOM8Tw0OUTd1xDFvr3X8A5nz+itCnqCfVV7pMdGfsOOeh+UMONa66vmDBzDuoao8xHKQ=="


@pytest.fixture
def cipher(settings: Settings) -> Iterator[FieldCipher]:
    engine = make_engine(settings, "keys")
    yield FieldCipher(KeyVault(engine, load_master_key(settings.master_key)))
    engine.dispose()


@pytest.fixture
def golden_cipher(settings: Settings) -> Iterator[FieldCipher]:
    """A key store holding the golden child's key, wrapped as format 1 stored it."""
    engine = make_engine(settings, "golden-keys")
    vault = KeyVault(engine, load_master_key(GOLDEN_MASTER_KEY))
    with engine.begin() as conn:
        conn.execute(
            insert(child_keys).values(
                child_id=str(GOLDEN_CHILD),
                wrapped_key=base64.b64decode(GOLDEN_WRAPPED_KEY),
                created_at=date(2026, 1, 1),
            )
        )
    yield FieldCipher(vault)
    engine.dispose()


@pytest.fixture
def system(settings: Settings) -> Iterator[System]:
    built = System.build(settings, ["referrals", "notifications"])
    yield built
    built.close()


def test_a_value_opens_only_in_the_child_event_and_field_it_was_sealed_for(
    cipher: FieldCipher,
) -> None:
    child = uuid4()
    sealed = cipher.seal(child, "given_name", NAME, event=REGISTERED)
    assert sealed is not None and sealed.startswith(PREFIX)
    assert cipher.open(child, "given_name", sealed, event=REGISTERED) == NAME
    cipher.seal(other := uuid4(), "given_name", "x", event=REGISTERED)
    for where in [
        (child, "family_name", REGISTERED),
        (child, "given_name", "Child.Corrected"),
        (child, "venue", "FormulationCase.FormulationMeetingScheduled"),
        (other, "given_name", REGISTERED),
    ]:
        with pytest.raises(Misplaced):
            cipher.open(where[0], where[1], sealed, event=where[2])


def test_an_item_of_a_list_is_bound_to_its_path_not_to_the_bare_key(cipher: FieldCipher) -> None:
    child = uuid4()
    event = "FormulationCase.ReportIssued"
    sealed = cipher.seal(child, "recommendations.text", "Synthetic advice", event=event)
    assert cipher.open(child, "recommendations.text", sealed, event=event) == "Synthetic advice"
    with pytest.raises(Misplaced):
        cipher.open(child, "text", sealed, event=event)


def test_an_unsealed_value_in_a_personal_field_is_refused_not_passed_on(
    cipher: FieldCipher,
) -> None:
    for plain in [NAME, "ecm9:abc", 42, ""]:
        with pytest.raises(NotSealed):
            cipher.open(uuid4(), "venue", plain, event=SEALED_IN["reviews", "ReviewScheduled"])
    assert cipher.open(uuid4(), "venue", None, event="any") is None


def test_a_value_sealed_in_the_first_format_still_opens_under_its_childs_key(
    golden_cipher: FieldCipher,
) -> None:
    assert golden_cipher.open(GOLDEN_CHILD, "given_name", GOLDEN_SEALED, event=REGISTERED) == NAME
    altered = GOLDEN_SEALED[:-6] + ("A" if GOLDEN_SEALED[-6] != "A" else "B") + GOLDEN_SEALED[-5:]
    with pytest.raises(Misplaced):
        golden_cipher.open(GOLDEN_CHILD, "given_name", altered, event=REGISTERED)


def test_a_stored_event_holding_a_first_format_value_loads_with_it_opened(
    golden_cipher: FieldCipher,
    system: System,
) -> None:
    referrals = system.app(ReferralsApplication)
    assert isinstance(referrals, ReferralsApplication)
    event = _registered_event(given_name=GOLDEN_SEALED, child_id=GOLDEN_CHILD)
    mapper = referrals.mapper
    stored = Mapper.to_stored_event(mapper, event)  # as format 1 wrote it
    mapper.fields = golden_cipher  # type: ignore[attr-defined]
    loaded = mapper.to_domain_event(stored)
    assert vars(loaded)["given_name"] == NAME


def test_a_stored_event_with_plain_text_in_a_personal_field_fails_to_load(
    system: System,
) -> None:
    referrals = system.app(ReferralsApplication)
    event = _registered_event(given_name=NAME, child_id=uuid4())
    stored = Mapper.to_stored_event(referrals.mapper, event)  # written around the sealing
    with pytest.raises(NotSealed, match="given_name"):
        referrals.mapper.to_domain_event(stored)


def test_a_childs_sealed_name_forged_in_as_a_meeting_venue_fails_and_tells_no_partner(
    system: System,
) -> None:
    referrals, notices = system.app(ReferralsApplication), system.app(NotificationsApplication)
    assert isinstance(referrals, ReferralsApplication)
    assert isinstance(notices, NotificationsApplication)
    child_id = referrals.register_child(
        given_name=NAME,
        family_name="Example",
        date_of_birth=date(2012, 3, 4),
        area=Area.BRISTOL,
        nhs_number=None,
        upn=None,
        meta=META,
    )
    mapper = referrals.mapper
    assert isinstance(mapper, PersonalDataMapper)
    published = [
        REFERRALS.to_envelope(mapper.to_sealed_domain_event(n), n.id)
        for n in referrals.notifications(1, 100)
    ]
    sealed_name = next(e for e in published if e and e.event_type == "ChildRegistered").data[
        "given_name"
    ]
    teacher = register(notices, "Pat Teacher", Agency.EDUCATION)
    honest = review_scheduled(notices.cipher, child_id, invitees(("education", teacher)))
    forged = envelope(
        "reviews",
        "ReviewScheduled",
        child_id,
        {**honest.data, "venue": sealed_name},
        notification_id=8,
    )
    sink = notice_sink(notices)
    with pytest.raises(Misplaced, match="venue"):
        sink.commit([Delivery(1, forged)])
    assert sink.position() == 0 and notices.notices(None) == []
    assert sink.commit([Delivery(1, honest)]) == 1  # the real message goes through


def test_consumers_open_with_the_binding_of_the_event_that_publishes_the_value() -> None:
    registries = {p.name: p.contracts for p in all_plugins() if p.contracts is not None}
    for (service, event_type), sealed_in in SEALED_IN.items():
        assert registries[service].sealed_event(event_type) == sealed_in
    assert registries["reviews"].sealed_event("StageReassessed") == REVIEW_RATIONALE_SEALED_IN
    assert event_name(Child.Registered) == REGISTERED


def _registered_event(*, given_name: str, child_id: UUID) -> Any:
    """A Child.Registered event with `given_name` as it would sit in the store."""
    child = Child(
        given_name="x",
        family_name="x",
        date_of_birth=date(2012, 3, 4),
        area=Area.BRISTOL,
        nhs_number=None,
        upn=None,
        meta=META,
    )
    event = child.collect_events()[0]
    state = vars(event)
    state.update(
        originator_id=child_id, given_name=given_name, family_name=None, date_of_birth=None
    )
    return event


class Renamed:
    """An event class renamed after values were sealed in it."""

    sealed_as = "Child.Registered"


class RenamedAgain(Renamed):
    """A class deriving from it is bound under its own name."""


def test_a_renamed_event_class_keeps_the_name_its_values_were_sealed_under() -> None:
    assert event_name(Renamed) == "Child.Registered"
    assert event_name(RenamedAgain) == "RenamedAgain"
