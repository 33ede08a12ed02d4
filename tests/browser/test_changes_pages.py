"""The record's other changes in the browser: an intervention's life from the work page, a
report with several recommendations, the case closed and reopened, a partner contact added."""

from __future__ import annotations

import re
from datetime import date

from playwright.sync_api import Page, expect

from tests.browser.conftest import RunningEcm
from tests.browser.support import accessible, press, sign_in, until
from tests.browser.test_records_pages import accepted_child


def test_a_psychologist_takes_an_intervention_from_planned_to_completed(
    page: Page, ecm_up: RunningEcm
) -> None:
    child = accepted_child(ecm_up, "Lifechild")
    until(lambda: ecm_up.formulation_open(child))
    psy = ecm_up.token("psy-1", "psychologist")
    planned = ecm_up.api(
        "POST",
        f"/children/{child}/formulation/interventions",
        psy,
        json={
            "intervention_type": "pace",
            "stage": 1,
            "owning_agency": "yjs",
            "planned_start": date.today().isoformat(),
        },
    )
    assert planned.status_code == 201, planned.text
    sign_in(page, "Dr Sam Patel")
    page.goto(f"/children/{child}/work")
    page.get_by_role("link", name=re.compile("^Start")).click()
    expect(page.get_by_role("heading", name="Start an intervention")).to_be_visible()
    accessible(page)
    press(page, "Start the intervention")
    expect(page.locator("#interventions")).to_contain_text("started")
    page.get_by_role("link", name=re.compile("^Record a session")).click()
    page.locator("#held_on-year").fill("2999")
    press(page, "Record the session")
    expect(page.locator(".govuk-error-summary")).to_contain_text("Held on")
    accessible(page)
    page.locator("#held_on-year").fill(str(date.today().year))
    page.get_by_label("Note (optional)").fill("Synthetic: first session went well")
    press(page, "Record the session")
    expect(page.locator("#interventions")).to_contain_text("1 sessions")
    page.get_by_role("link", name=re.compile("^Complete")).click()
    press(page, "Complete the intervention")
    expect(page.locator("#interventions")).to_contain_text("completed")


def test_a_report_goes_out_with_several_recommendations(page: Page, ecm_up: RunningEcm) -> None:
    child = accepted_child(ecm_up, "Reportchild")
    until(lambda: ecm_up.formulation_open(child))
    sign_in(page, "Dr Sam Patel")
    page.goto(f"/children/{child}/reports/new")
    accessible(page)
    page.get_by_label("Narrative").fill("Synthetic narrative")
    page.get_by_label("2: ").check()
    for n, (agency, words) in enumerate(
        [
            ("education", "Synthetic: a key adult at school"),
            ("yjs", "Synthetic: a regular mentor"),
            ("health", "Synthetic: sleep support"),
        ]
    ):
        page.get_by_label(f"Owning agency of recommendation {n + 1}").select_option(agency)
        page.get_by_label(f"Recommendation {n + 1}", exact=True).fill(words)
    press(page, "Add another recommendation")
    page.get_by_label("Recommendation 4", exact=True).fill("Synthetic: a sports club")
    accessible(page)
    press(page, "Issue report")
    psy = ecm_up.token("psy-1", "psychologist")
    [report] = ecm_up.api("GET", f"/children/{child}/formulation/reports", psy).json()
    assert [r["text"] for r in report["recommendations"]] == [
        "Synthetic: a key adult at school",
        "Synthetic: a regular mentor",
        "Synthetic: sleep support",
        "Synthetic: a sports club",
    ]


def test_a_senior_practitioner_closes_and_reopens_the_case(page: Page, ecm_up: RunningEcm) -> None:
    child = accepted_child(ecm_up, "Closechild")
    until(lambda: ecm_up.formulation_open(child))
    sign_in(page, "Chris Lee")
    page.goto(f"/children/{child}")
    until(lambda: page.get_by_role("link", name="Close the case").count() > 0, reload=page)
    page.get_by_role("link", name="Close the case").click()
    press(page, "Close the case")
    expect(page.locator(".govuk-error-summary")).to_contain_text("Reason")
    accessible(page)
    page.get_by_label("Reason").fill("Synthetic: goals met")
    press(page, "Close the case")
    until(lambda: page.get_by_role("link", name="Reopen the case").count() > 0, reload=page)
    expect(page.locator("#closed")).to_contain_text("Case closed on")
    page.get_by_role("link", name="Reopen the case").click()
    page.get_by_label("Reason").fill("Synthetic: new concerns")
    press(page, "Reopen the case")
    expect(page.get_by_role("link", name="Close the case")).to_be_visible()


def test_an_administrator_adds_a_partner_contact(page: Page, ecm_up: RunningEcm) -> None:
    sign_in(page, "Kim Ellis")
    expect(page.get_by_role("heading", name="Partner directory")).to_be_visible()
    page.get_by_role("link", name="Add a partner contact").click()
    page.get_by_label("Agency").select_option("education")
    page.get_by_label("Name").fill("Synthetic Headteacher")
    page.get_by_label("Email address").fill("not an email")
    press(page, "Add contact")
    expect(page.locator(".govuk-error-summary")).to_contain_text("Email address")
    accessible(page)
    page.get_by_label("Email address").fill("head@school.example")
    press(page, "Add contact")
    expect(page.locator("#partners")).to_contain_text("Synthetic Headteacher")
