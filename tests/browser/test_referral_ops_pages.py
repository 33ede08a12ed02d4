"""Referral changes and operators' pages in the browser: a case manager corrects and then
withdraws a referral, an auditor disputes a child's field, staff run the overdue tick and an
administrator opens the notices page."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import RunningEcm
from tests.browser.support import accessible, press, sign_in


def referred_child(ecm_up: RunningEcm, family: str) -> tuple[str, str]:
    """A synthetic Bristol child referred (not yet screened), through the API."""
    cm = ecm_up.token("cm-bristol-1", "case_manager", "bristol")
    child = ecm_up.api(
        "POST",
        "/children",
        cm,
        json={
            "given_name": "Referral",
            "family_name": family,
            "date_of_birth": "2011-02-03",
            "area": "bristol",
        },
    ).json()["id"]
    made = ecm_up.api(
        "POST",
        "/referrals",
        cm,
        json={
            "child_id": child,
            "reason": "synthetic",
            "trauma_history": "synthetic",
            "expected_involvement_months": 12,
        },
    )
    assert made.status_code == 201, made.text
    return str(child), str(made.json()["id"])


def test_a_case_manager_corrects_then_withdraws_a_referral(page: Page, ecm_up: RunningEcm) -> None:
    _, referral = referred_child(ecm_up, "Withdrawbrowser")
    sign_in(page, "Alex Morgan")
    page.goto(f"/referrals/{referral}")
    page.get_by_role("link", name="Correct the referral").click()
    accessible(page)
    page.get_by_label("Field to correct").select_option("expected_involvement_months")
    page.get_by_label("Corrected value").fill("nine")
    page.get_by_label("Reason", exact=True).fill("Synthetic: longer work agreed")
    press(page, "Save the correction")
    expect(page.locator(".govuk-error-summary")).to_contain_text("Corrected value")
    accessible(page)
    page.get_by_label("Corrected value").fill("9")
    press(page, "Save the correction")
    expect(page.get_by_text("9 months")).to_be_visible()
    page.get_by_role("link", name="Withdraw the referral").click()
    press(page, "Withdraw the referral")
    expect(page.locator(".govuk-error-summary")).to_contain_text("Reason")
    page.get_by_label("Reason").fill("Synthetic: the family moved away")
    press(page, "Withdraw the referral")
    expect(page.locator(".govuk-summary-list")).to_contain_text("withdrawn")
    accessible(page)


def test_an_auditor_flags_a_disputed_field_and_returns_to_the_audit_trail(
    page: Page, ecm_up: RunningEcm
) -> None:
    child, _ = referred_child(ecm_up, "Disputebrowser")
    sign_in(page, "Pat Quinn")
    page.goto(f"/children/{child}/actions/child-dispute")
    expect(page.get_by_role("heading", name="Flag a disputed field")).to_be_visible()
    expect(page.get_by_text("Disputebrowser")).to_have_count(0)
    accessible(page)
    page.get_by_label("Disputed field").select_option("family_name")
    page.get_by_label("Reason").fill("Synthetic: spelling disputed by the carer")
    press(page, "Flag the dispute")
    assert page.url.endswith(f"/audit/children/{child}")
    cm = ecm_up.token("cm-bristol-1", "case_manager", "bristol")
    record = ecm_up.api("GET", f"/children/{child}", cm).json()
    assert "family_name" in record["disputed"]


def test_staff_run_the_overdue_tick_and_an_administrator_opens_the_notices(
    page: Page, ecm_up: RunningEcm
) -> None:
    sign_in(page, "Chris Lee")
    page.get_by_role("link", name="Overdue reviews").click()
    accessible(page)
    press(page, "Flag overdue reviews")
    expect(page.locator("#tick-result")).to_contain_text(re.compile(r"\d+ reviews? flagged"))
    accessible(page)
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, "Kim Ellis")
    page.get_by_role("link", name="Notices").click()
    page.get_by_label("Delivery state").select_option("sent")
    press(page, "Show notices")
    expect(page.locator("#notices caption")).to_contain_text("sent notices")
    accessible(page)
    page.get_by_label("Child's ECM reference (optional)").fill("nonsense")
    press(page, "Show notices")
    expect(page.locator(".govuk-error-summary")).to_contain_text("ECM reference")
    accessible(page)
