"""The partner's notice page over HTTP: the signed link opens one notice, for its contact only;
a federated partner signed in through OIDC sees their own notices without a link."""

from __future__ import annotations

import json
import re
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from services.notifications.application import NotificationsApplication
from services.notifications.content import compose
from services.runtime import System
from services.web.session import COOKIE, SessionCodec
from services.web.settings import web_settings
from shared.auth import mint_token
from shared.domain import Role
from tests.conftest import Tokens
from tests.e2e.test_notifications_api import add_partner, app_of, invite
from tests.integration.test_notifications_support import fast_settings

SECRET = "partner-link-secret-for-tests-0123456789"


@pytest.fixture(autouse=True)
def link_settings(system: System) -> None:
    app_of(system).notify_settings = fast_settings().model_copy(
        update={"partner_link_secret": SECRET, "public_base_url": "http://testserver"}
    )


def the_link(app: NotificationsApplication, contact: str) -> tuple[UUID, str]:
    [row] = app.notices_for(UUID(contact))
    notice = app.get_notice(row.notice_id)
    settings = app.notify_settings
    link = compose(
        notice, settings.public_base_url, settings.team_contact, settings.partner_link_secret
    ).link
    return row.notice_id, link.removeprefix("http://testserver")


def csrf_of(text: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', text)
    assert found is not None
    return found.group(1)


def test_the_signed_link_opens_the_notice_and_acknowledges_it_once(
    client: TestClient, auth: Tokens, system: System
) -> None:
    contact = add_partner(client, auth)
    invite(system, contact)
    notice_id, link = the_link(app_of(system), contact)
    assert "?t=" in link
    page = client.get(link)
    assert page.status_code == 200 and "Acknowledge" in page.text
    assert "ECM reference" in page.text
    calendar = client.get(
        link.replace(f"/notices/{notice_id}", f"/notices/{notice_id}/calendar.ics")
    )
    assert calendar.status_code == 200 and calendar.text.startswith("BEGIN:VCALENDAR")
    token = link.split("?t=")[1]
    done = client.post(
        f"/notices/{notice_id}/acknowledgement", data={"csrf_token": csrf_of(page.text), "t": token}
    )
    assert done.status_code == 200 and "You acknowledged this notice" in done.text
    assert app_of(system).get_notice(notice_id).acknowledged_at is not None


def test_a_link_opens_nothing_when_altered_moved_to_another_notice_or_withdrawn(
    client: TestClient, auth: Tokens, system: System
) -> None:
    first, second = add_partner(client, auth), add_partner(client, auth, email="b@x.example")
    invite(system, first, notification_id=7)
    invite(system, second, notification_id=8)
    notice_1, link_1 = the_link(app_of(system), first)
    notice_2, _ = the_link(app_of(system), second)
    token = link_1.split("?t=")[1]
    assert client.get(f"/notices/{notice_2}?t={token}").status_code == 404
    assert client.get(f"/notices/{notice_1}?t={token[:-3]}abc").status_code == 404
    assert client.get(f"/notices/{notice_1}").status_code == 404
    assert client.get(link_1).status_code == 200

    page = client.get("/sign-in")
    signed = client.post("/sign-in", data={"user": "sp-1", "csrf_token": csrf_of(page.text)})
    form = client.get(f"/notices/{notice_1}/revocation")
    assert form.status_code == 200
    refused = client.post(
        f"/notices/{notice_1}/revocation", data={"csrf_token": csrf_of(signed.text), "reason": "x"}
    )
    assert refused.status_code == 422 and "govuk-error-summary" in refused.text
    withdrawn = client.post(
        f"/notices/{notice_1}/revocation",
        data={"csrf_token": csrf_of(signed.text), "reason": "sent to the wrong person"},
    )
    assert withdrawn.status_code == 200
    client.cookies.clear()
    assert client.get(link_1).status_code == 404


def test_a_case_manager_cannot_withdraw_links(
    client: TestClient, auth: Tokens, system: System
) -> None:
    contact = add_partner(client, auth)
    invite(system, contact)
    notice_id, _ = the_link(app_of(system), contact)
    page = client.get("/sign-in")
    client.post("/sign-in", data={"user": "cm-bristol-1", "csrf_token": csrf_of(page.text)})
    assert client.get(f"/notices/{notice_id}/revocation").status_code == 403


def test_a_federated_partner_signed_in_sees_their_own_notices_and_no_one_elses(
    client: TestClient, auth: Tokens, system: System
) -> None:
    mine, theirs = add_partner(client, auth), add_partner(client, auth, email="c@x.example")
    invite(system, mine, notification_id=7)
    invite(system, theirs, notification_id=8)
    my_notice, _ = the_link(app_of(system), mine)
    their_notice, _ = the_link(app_of(system), theirs)
    web = web_settings(system.settings)
    codec = SessionCodec(web.session_secret, web.idle_timeout_seconds)
    session = {
        "token": mint_token(system.settings, mine, Role.PARTNER, None),
        "name": "Federated Teacher",
        "csrf": "c",
    }
    client.cookies.set(COOKIE, codec.fernet.encrypt(json.dumps(session).encode()).decode())
    listed = client.get("/notices")
    assert listed.status_code == 200 and f"/notices/{my_notice}" in listed.text
    assert f"/notices/{their_notice}" not in listed.text
    assert client.get(f"/notices/{my_notice}").status_code == 200
    assert client.get(f"/notices/{their_notice}").status_code == 404
    assert client.get("/children").status_code == 403
