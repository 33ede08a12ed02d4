"""Corrections, meetings held, transitions and supervision through the pages."""

from __future__ import annotations

import re
from datetime import date

from playwright.sync_api import Page, expect

from tests.browser.conftest import RunningEcm
from tests.browser.support import accessible, fill_date, press, sign_in, sign_out, until


def accepted_child(ecm_up: RunningEcm, family: str) -> str:
    """A synthetic Bristol child referred with consent and accepted, through the API."""
    cm = ecm_up.token("cm-bristol-1", "case_manager", "bristol")
    psy = ecm_up.token("psy-1", "psychologist")
    child = ecm_up.api(
        "POST",
        "/children",
        cm,
        json={
            "given_name": "Records",
            "family_name": family,
            "date_of_birth": "2011-02-03",
            "area": "bristol",
        },
    ).json()["id"]
    referral = ecm_up.api(
        "POST",
        "/referrals",
        cm,
        json={
            "child_id": child,
            "reason": "synthetic",
            "trauma_history": "synthetic",
            "expected_involvement_months": 12,
        },
    ).json()["id"]
    assert (
        ecm_up.api(
            "POST",
            f"/referrals/{referral}/consent",
            cm,
            json={"consent": "given", "given_by": "carer"},
        ).status_code
        == 200
    )
    assert (
        ecm_up.api(
            "POST", f"/referrals/{referral}/screening", psy, json={"decision": "accept"}
        ).status_code
        == 200
    )
    return str(child)


def test_a_psychologist_corrects_an_entry_and_records_a_meeting_as_held(
    page: Page, ecm_up: RunningEcm
) -> None:
    child = accepted_child(ecm_up, "Correctchild")
    sign_in(page, "Dr Sam Patel")
    page.goto(f"/children/{child}")
    until(lambda: ecm_up.formulation_open(child))
    until(lambda: page.get_by_role("link", name="Add a timeline entry").count() > 0, reload=page)
    page.get_by_role("link", name="Add a timeline entry").click()
    page.get_by_role("radio", name="Year only").check()
    page.get_by_label("Year, for month and year or year only").fill("2016")
    page.get_by_label("Category").select_option("move")
    page.get_by_label("What happened").fill("Synthetic: moved house")
    press(page, "Add entry")
    page.goto(f"/children/{child}/timeline/entries")
    until(lambda: "moved house" in (page.locator("#entries").text_content() or ""), reload=page)
    accessible(page)
    page.get_by_role("link", name=re.compile("^Correct")).first.click()
    accessible(page)
    page.get_by_label("What happened").fill("Synthetic: moved house twice")
    press(page, "Save correction")
    expect(page.locator(".govuk-error-summary")).to_contain_text("Reason")
    page.get_by_label("Reason for the correction").fill("Synthetic: the carer corrected it")
    press(page, "Save correction")
    expect(page.locator("#entries")).to_contain_text("moved house twice")

    page.goto(f"/children/{child}/meetings/new")
    fill_date(page, "starts_at", date.today())
    page.get_by_label("Time (UK time, 24-hour)").fill("00:10")
    page.get_by_label("Venue (optional)").fill("YJS office")
    page.get_by_label("Education (no named contact)").check()
    press(page, "Schedule")
    page.get_by_role("link", name=re.compile("Record as held")).first.click()
    accessible(page)
    page.get_by_label("Attended").first.check()
    press(page, "Record meeting")
    expect(page.get_by_text(re.compile("attendance: education attended"))).to_be_visible()
    accessible(page)


def test_a_case_manager_records_a_transition_and_a_practitioner_logs_supervision(
    page: Page, ecm_up: RunningEcm
) -> None:
    child = accepted_child(ecm_up, "Transitionchild")
    sign_in(page, "Alex Morgan")
    page.goto(f"/children/{child}")
    until(lambda: page.get_by_role("link", name="Record a transition").count() > 0, reload=page)
    page.get_by_role("link", name="Record a transition").click()
    accessible(page)
    page.get_by_label("Changing school").check()
    page.get_by_label("Receiving organisation (optional)").fill("Synthetic Academy")
    press(page, "Record transition")
    expect(page).to_have_url(re.compile(f"/children/{child}$"))
    sign_out(page)

    sign_in(page, "Chris Lee")
    page.goto("/supervision")
    accessible(page)
    page.get_by_label("Practitioner").fill("cm-bristol-1")
    page.get_by_label("Clinical supervision").check()
    page.get_by_label("Themes of practice").fill("Synthetic: holding boundaries with warmth")
    press(page, "Log session")
    until(
        lambda: "cm-bristol-1" in (page.locator("#supervision").text_content() or ""), reload=page
    )
    accessible(page)


def test_declining_a_referral_needs_a_reason_and_case_managers_cannot_screen(
    page: Page, ecm_up: RunningEcm
) -> None:
    cm = ecm_up.token("cm-bristol-1", "case_manager", "bristol")
    child = ecm_up.api(
        "POST",
        "/children",
        cm,
        json={
            "given_name": "Declined",
            "family_name": "Screenchild",
            "date_of_birth": "2012-03-04",
            "area": "bristol",
        },
    ).json()["id"]
    referral = ecm_up.api(
        "POST",
        "/referrals",
        cm,
        json={
            "child_id": child,
            "reason": "synthetic",
            "trauma_history": "synthetic",
            "expected_involvement_months": 6,
        },
    ).json()["id"]
    sign_in(page, "Alex Morgan")
    page.goto(f"/referrals/{referral}")
    expect(page.get_by_role("heading", name="Referral")).to_be_visible()
    expect(page.get_by_role("button", name="Record decision")).to_have_count(0)
    sign_out(page)
    sign_in(page, "Chris Lee")
    page.goto(f"/referrals/{referral}")
    page.get_by_label("Decline").check()
    press(page, "Record decision")
    expect(page.locator(".govuk-error-summary")).to_contain_text("Reason")
    accessible(page)
    page.get_by_label("Reason").fill("Synthetic: expected involvement too short for ECM")
    press(page, "Record decision")
    expect(page.locator(".govuk-summary-list")).to_contain_text("declined")
    expect(page.locator(".govuk-summary-list")).to_contain_text("too short for ECM")
