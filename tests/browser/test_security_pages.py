"""The pages refuse forged forms and keep each YJS area's children to itself."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import RunningEcm
from tests.browser.support import accessible, press, sign_in, sign_out
from tests.browser.test_journey import register_child


def test_a_form_without_the_sessions_csrf_token_is_refused_and_writes_nothing(
    page: Page, ecm_up: RunningEcm
) -> None:
    sign_in(page, "Alex Morgan")
    page.goto("/children/new")
    page.get_by_label("First name").fill("Forged")
    page.get_by_label("Last name").fill("Csrfchild")
    page.locator("#date_of_birth-day").fill("1")
    page.locator("#date_of_birth-month").fill("2")
    page.locator("#date_of_birth-year").fill("2011")
    page.locator("form[action='/children/new'] input[name=csrf_token]").evaluate(
        "e => e.value = 'forged-token'"
    )
    press(page, "Register child")
    expect(page.get_by_role("heading", name="Your form could not be sent")).to_be_visible()
    accessible(page)
    token = ecm_up.token("cm-bristol-1", "case_manager", "bristol")
    found = ecm_up.api("GET", "/children", token, params={"family_name": "Csrfchild"}).json()
    assert found["total"] == 0
    assert re.search(r"POST /children/new 403", ecm_up.output.read_text())


def test_a_form_posted_from_another_site_without_a_token_is_refused(
    page: Page, ecm_up: RunningEcm
) -> None:
    sign_in(page, "Alex Morgan")
    response = page.request.post(
        f"{ecm_up.base_url}/children/new",
        form={
            "given_name": "Crosssite",
            "family_name": "Forgery",
            "date_of_birth-day": "1",
            "date_of_birth-month": "1",
            "date_of_birth-year": "2012",
            "area": "bristol",
        },
    )
    assert response.status == 403
    token = ecm_up.token("cm-bristol-1", "case_manager", "bristol")
    assert (
        ecm_up.api("GET", "/children", token, params={"family_name": "Forgery"}).json()["total"]
        == 0
    )


def test_a_case_manager_of_another_area_cannot_open_or_find_a_bristol_child(
    page: Page, ecm_up: RunningEcm
) -> None:
    sign_in(page, "Alex Morgan")
    child = register_child(page, "Isolated", "Areachild")
    sign_out(page)
    sign_in(page, "Jo Price")
    page.goto(f"/children/{child}")
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    expect(page.get_by_text("Isolated")).to_have_count(0)
    accessible(page)
    page.goto(f"/children/{child}/refer")
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    page.goto("/children?family_name=Areachild")
    expect(page.locator("table")).to_contain_text("No children found.")
    accessible(page)


def test_signing_out_ends_the_session(page: Page, ecm_up: RunningEcm) -> None:
    sign_in(page, "Chris Lee")
    sign_out(page)
    page.goto("/screening")
    expect(page).to_have_url(re.compile(r"/sign-in\?next=/screening"))
    accessible(page)
