"""Invitations name only contacts the partner directory knows: formulation and reviews check
their own copy of it, fed from the notifications service's messages on a real nats-server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient

from services.formulation.application import FormulationApplication
from services.notifications.application import NotificationsApplication
from services.notifications.domain import NoticeKind
from services.rebuild import check
from services.reviews.application import ReviewsApplication
from services.runtime import System, create_api
from shared.directory import COPIES, PartnerDirectory
from shared.domain import Area, Meta, NotFound
from shared.natsserver import EmbeddedNats
from shared.settings import Settings
from shared.vocabulary import Agency
from tests.conftest import Tokens
from tests.harness import eventually, in_thread, running_node
from tests.integration.test_notifications_support import register as register_contact
from tests.integration.test_security_identities import guarded  # noqa: F401

pytestmark = pytest.mark.nats

SP = "senior_practitioner"
META = Meta("psy-1", "psychologist", "corr-dir", "corr-dir")
STARTS = f"{(date.today() + timedelta(days=7)).isoformat()}T10:00:00+00:00"


def apps(
    system: System,
) -> tuple[NotificationsApplication, FormulationApplication, ReviewsApplication]:
    notifications, formulation, reviews = (
        system.apps[s] for s in ("notifications", "formulation", "reviews")
    )
    assert isinstance(notifications, NotificationsApplication)
    assert isinstance(formulation, FormulationApplication)
    assert isinstance(reviews, ReviewsApplication)
    return notifications, formulation, reviews


def known(system: System, service: str, contact_id: str) -> bool:
    copy = COPIES[service]
    return UUID(contact_id) in PartnerDirectory(system.engine(copy.schema), copy).agencies(
        [UUID(contact_id)]
    )


def register(client: TestClient, auth: Tokens, name: str, agency: str) -> str:
    response = client.post(
        "/api/v1/partners",
        headers=auth("admin"),
        json={
            "agency": agency,
            "name": name,
            "email": f"{name.lower()}@partner.example.org",
            "preferred_channel": "email",
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def meeting(client: TestClient, auth: Tokens, child_id: UUID, *invitees: dict[str, Any]) -> Any:
    return client.post(
        f"/api/v1/children/{child_id}/formulation/meetings",
        headers=auth(SP),
        json={"starts_at": STARTS, "venue": "Synthetic YJS office", "invitees": list(invitees)},
    )


def review(client: TestClient, auth: Tokens, child_id: UUID, *invitees: dict[str, Any]) -> Any:
    case = client.get(f"/api/v1/review-cases/{child_id}", headers=auth(SP)).json()
    return client.post(
        f"/api/v1/review-cases/{child_id}/reviews/{case['current_review_id']}/schedule",
        headers=auth(SP),
        json={"starts_at": STARTS, "venue": "Synthetic youth centre", "invitees": list(invitees)},
    )


def refused(response: Any, field: str, words: str) -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["field"] == field, body
    assert words in body["detail"], body


async def test_an_invitee_unknown_to_the_directory_is_refused_until_the_contact_arrives(
    system: System, nats_server: EmbeddedNats, auth: Tokens
) -> None:
    notifications, formulation, reviews = apps(system)
    child = uuid4()
    await in_thread(formulation.open_case, child, uuid4(), Area.BRISTOL, META)
    with TestClient(create_api(system)) as client:
        # registered, but nothing has carried it to the other services yet: the race
        teacher = await in_thread(register, client, auth, "Teacher", "education")
        early = await in_thread(
            meeting, client, auth, child, {"agency": "education", "contact_id": teacher}
        )
        refused(early, "invitees.0.contact_id", "not in the partner directory")
        assert (
            "registered in the last few seconds may not have reached it yet"
            in early.json()["detail"]
        )

        async with running_node(system.settings, nats_server, system=system):
            await eventually(
                lambda: known(system, "formulation", teacher) and known(system, "reviews", teacher)
            )
            stranger = str(uuid4())
            unknown = await in_thread(
                meeting,
                client,
                auth,
                child,
                {"agency": "police"},
                {"agency": "education", "contact_id": stranger},
            )
            refused(
                unknown,
                "invitees.1.contact_id",
                f"contact {stranger} is not in the "
                "partner directory as the formulation service knows it",
            )
            wrong_agency = await in_thread(
                meeting, client, auth, child, {"agency": "health", "contact_id": teacher}
            )
            refused(
                wrong_agency,
                "invitees.0.agency",
                f"contact {teacher} is at education in the partner directory, not health",
            )
            assert (await in_thread(formulation.get_meetings, child)).meetings == {}

            scheduled = await in_thread(
                meeting,
                client,
                auth,
                child,
                {"agency": "police"},
                {"agency": "education", "contact_id": teacher},
            )
            assert scheduled.status_code == 201, scheduled.text

            # the review case opens from the report on the stream; its scheduling checks too
            await in_thread(
                formulation.issue_report,
                child,
                narrative="Synthetic narrative",
                stage=2,
                issued_on=date.today(),
                recommendations=[],
                stage_rationale="Synthetic rationale",
                meta=META,
            )
            await eventually(lambda: _review_due(reviews, child))
            refused(
                await in_thread(
                    review, client, auth, child, {"agency": "education", "contact_id": stranger}
                ),
                "invitees.0.contact_id",
                "as the reviews service knows it",
            )
            invited = await in_thread(
                review, client, auth, child, {"agency": "education", "contact_id": teacher}
            )
            assert invited.status_code == 200, invited.text

            # and the invitations reach the contact as notices, never failing for want of one
            def kinds() -> set[str]:
                return {
                    row.kind
                    for row in notifications.notices(None)
                    if row.contact_id == UUID(teacher)
                }

            await eventually(
                lambda: (
                    {NoticeKind.FORMULATION_MEETING_SCHEDULED, NoticeKind.REVIEW_SCHEDULED}
                    <= kinds()
                )
            )

    for service in ("formulation", "reviews"):  # replay equals live for both copies
        consumer = next(c for c in system.consumers() if c.name == COPIES[service].name)
        assert await in_thread(check, system, consumer) == []


def _review_due(reviews: ReviewsApplication, child: UUID) -> bool:
    try:
        return reviews.get_record(child).current_review_id is not None
    except NotFound:
        return False


@pytest.fixture
def system(store_settings: Settings) -> Iterator[System]:
    built = System.build(store_settings, ["referrals", "formulation", "reviews", "notifications"])
    yield built
    built.close()


async def test_each_copy_is_kept_under_its_own_services_nats_identity(
    guarded: tuple[EmbeddedNats, Settings],  # noqa: F811
) -> None:
    server, settings = guarded
    system = System.build(settings, ["formulation", "reviews", "notifications"])
    try:
        notifications, _, _ = apps(system)
        nurse = await in_thread(register_contact, notifications, "Jo Nurse", Agency.HEALTH)
        async with running_node(settings, server, system=system):
            await eventually(
                lambda: (
                    known(system, "formulation", str(nurse))
                    and known(system, "reviews", str(nurse))
                )
            )
    finally:
        system.close()
