"""A child's whole journey through the web app, in a real browser against a real `ecm up`."""

from __future__ import annotations

import re
from datetime import date, timedelta

from playwright.sync_api import Page, expect

from tests.browser.conftest import RunningEcm
from tests.browser.support import accessible, fill_date, press, sign_in, sign_out, until


def register_child(page: Page, given: str, family: str) -> str:
    """Register a synthetic child as the signed-in user; the child's id."""
    page.goto("/children/new")
    accessible(page)
    page.get_by_label("First name").fill(given)
    page.get_by_label("Last name").fill(family)
    fill_date(page, "date_of_birth", date(2010, 6, 27))
    page.get_by_role("button", name="Register child").click()
    expect(page).to_have_url(re.compile(r"/children/[0-9a-f-]{36}"))
    match = re.search(r"/children/([0-9a-f-]{36})", page.url)
    assert match is not None
    return match.group(1)


def test_a_case_manager_sees_every_mistake_of_a_registration_in_the_error_summary(
    page: Page, ecm_up: RunningEcm
) -> None:
    sign_in(page, "Alex Morgan")
    page.goto("/children/new")
    page.get_by_label("NHS number (optional)").fill("1234567890")
    page.get_by_role("button", name="Register child").click()
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_contain_text("First name")
    expect(summary).to_contain_text("Last name")
    expect(summary).to_contain_text("NHS number")
    expect(page.locator("#nhs_number-error")).to_be_visible()
    assert page.title().startswith("Error:")
    accessible(page)
    summary.get_by_role("link", name=re.compile("First name")).click()
    expect(page.locator("#given_name")).to_be_focused()


def screen_accept(page: Page, given: str) -> None:
    """From the screening queue, accept the child's referral."""
    page.goto("/screening")
    until(
        lambda: page.get_by_role("link", name=re.compile(f"referral of {given}")).count() > 0,
        reload=page,
    )
    accessible(page)
    page.get_by_role("link", name=re.compile(f"referral of {given}")).click()
    accessible(page)
    page.get_by_label("Accept for formulation").check()
    page.get_by_role("button", name="Record decision").click()
    expect(page.locator(".govuk-summary-list")).to_contain_text("accepted")


def test_a_child_goes_from_registration_to_review_and_the_partner_and_auditor_see_it(
    page: Page, ecm_up: RunningEcm
) -> None:
    staff = ecm_up.token("sp-setup", "senior_practitioner")
    partner = ecm_up.api(
        "POST",
        "/partners",
        staff,
        json={
            "agency": "education",
            "name": "Synthetic Teacher",
            "email": "teacher@school.example",
        },
    )
    assert partner.status_code == 201, partner.text
    partner_id = partner.json()["id"]
    today = date.today()

    # The case manager registers and refers with consent.
    sign_in(page, "Alex Morgan")
    child = register_child(page, "Journey", "Browserchild")
    accessible(page)
    page.get_by_role("link", name="Refer to ECM").click()
    accessible(page)
    page.get_by_label("Reason for referral").fill("Synthetic: several losses, school moves")
    page.get_by_label("Trauma history").fill("Synthetic: bereavement at 8")
    page.get_by_label("Consent given", exact=True).check()
    page.get_by_label("Consent given (or refused) by").fill("The child and their carer")
    page.get_by_role("button", name="Refer").click()
    expect(page.get_by_role("heading", name="Referral")).to_be_visible()
    expect(page.locator(".govuk-summary-list")).to_contain_text("given")
    accessible(page)
    sign_out(page)

    # The psychologist screens, builds the timeline, holds the meeting, writes the report.
    sign_in(page, "Dr Sam Patel")
    screen_accept(page, "Journey")
    page.goto(f"/children/{child}")
    until(lambda: ecm_up.formulation_open(child))
    until(lambda: page.get_by_role("link", name="Add a timeline entry").count() > 0, reload=page)
    accessible(page)
    page.get_by_role("link", name="Add a timeline entry").click()
    accessible(page)
    page.get_by_label("Exact date").check()
    fill_date(page, "on", date(2018, 3, 1))
    page.get_by_label("Category").select_option("loss_or_bereavement")
    page.get_by_label("What happened").fill("Synthetic: grandparent died")
    page.get_by_role("button", name="Add entry").click()
    until(
        lambda: "loss or bereavement" in (page.locator("#timeline-drawing").text_content() or ""),
        reload=page,
    )
    expect(page.locator("#timeline-drawing svg")).to_contain_text("2018-03-01")
    accessible(page)
    page.get_by_role("link", name="Show as a table").click()
    expect(page.locator("#timeline-table")).to_contain_text("Life story")
    accessible(page)
    page.get_by_label("Show the record as it stood on").fill(
        (today - timedelta(days=1)).isoformat()
    )
    press(page, "Show")
    expect(page.locator(".govuk-notification-banner")).to_contain_text("as it stood on")
    expect(page.get_by_text("Nothing recorded by then.")).to_be_visible()
    accessible(page)
    page.goto(f"/children/{child}?as_of=2999-01-01")
    expect(page.locator(".govuk-error-summary")).to_contain_text("must not be in the future")
    page.goto(f"/children/{child}")

    page.get_by_role("link", name="Schedule a formulation meeting").click()
    accessible(page)
    fill_date(page, "starts_at", today + timedelta(days=7))
    page.get_by_label("Venue (optional)").fill("YJS office, Room 2")
    page.get_by_label("Synthetic Teacher (education)").check()
    page.get_by_role("button", name="Schedule").click()
    expect(page.get_by_role("heading", name="Formulation meetings")).to_be_visible()
    until(lambda: any("/notices/" in t for t in ecm_up.smtp.texts))
    email = next(t for t in ecm_up.smtp.texts if "/notices/" in t)
    link = re.search(r"(http://127\.0\.0\.1:\d+/notices/[0-9a-f-]{36}\?t=[\w.-]+)", email)
    assert link is not None, email
    assert "Browserchild" not in email and "grandparent" not in email  # minimal notices

    page.goto(f"/children/{child}")
    page.get_by_role("link", name="Write a report version").click()
    accessible(page)
    page.get_by_label("Narrative").fill("Synthetic narrative making sense of the story.")
    page.get_by_label("2: ").check()
    page.get_by_role("button", name="Issue report").click()
    until(lambda: "2: " in (page.locator(".govuk-summary-list").text_content() or ""), reload=page)

    # Out of sequence: refused, then overridden with a rationale.
    page.get_by_role("link", name="Plan an intervention").click()
    expect(page.locator("#allowed-stages")).to_have_text("1, 2, 3")
    accessible(page)
    page.get_by_label("Intervention", exact=True).fill("CBT")
    expect(page.locator("label[for=stage-4]")).to_contain_text("out of sequence")
    page.locator("input[name=stage][value='4']").check()
    page.get_by_label("Owning agency").select_option("camhs")
    fill_date(page, "planned_start", today + timedelta(days=14))
    page.get_by_role("button", name="Plan intervention").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("stage")
    accessible(page)
    page.get_by_label("Override the sequencing rule").check()
    page.get_by_label("Override rationale").fill("Synthetic: court-ordered work starts now")
    page.get_by_role("button", name="Plan intervention").click()
    overridden = page.get_by_text("planned out of sequence with a psychologist's override")
    expect(overridden).to_be_visible()

    # The review: due from the report, scheduled with the partner, recorded.
    page.goto(f"/children/{child}")
    until(lambda: page.get_by_role("link", name="Schedule the review").count() > 0, reload=page)
    page.get_by_role("link", name="Schedule the review").click()
    fill_date(page, "starts_at", today)
    page.get_by_label("Time (UK time, 24-hour)").fill("00:05")
    page.get_by_label("Venue (optional)").fill("YJS office, Room 3")
    page.get_by_label("Synthetic Teacher (education)").check()
    page.get_by_role("button", name="Schedule").click()
    expect(page).to_have_url(re.compile(f"/children/{child}$"))
    page.get_by_role("link", name="Record the review").click()
    accessible(page)
    page.get_by_label("Attended").first.check()
    page.get_by_label("Engaging").first.check()
    page.get_by_label("3: ").check()
    page.get_by_label("Rationale").fill("Synthetic: processing losses with a trusted adult")
    press(page, "Record review")
    assert page.locator(".govuk-error-summary").count() == 0, page.locator(
        ".govuk-error-summary"
    ).text_content()
    until(lambda: "3: " in (page.locator(".govuk-summary-list").text_content() or ""), reload=page)
    sign_out(page)

    # The partner follows the link in the email, downloads the .ics, acknowledges.
    page.goto(link.group(1))
    accessible(page)
    expect(page.get_by_role("heading", level=1)).to_contain_text("meeting")
    with page.expect_download() as calendar:
        page.get_by_role("link", name=re.compile("Add to your calendar")).click()
    assert "BEGIN:VCALENDAR" in open(calendar.value.path()).read()  # noqa: SIM115
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_text("You acknowledged this notice")).to_be_visible()
    accessible(page)
    notice_id = link.group(1).split("/notices/")[1].split("?")[0]
    page.goto(f"/notices/{notice_id}")  # the bare link, without its token, opens nothing
    expect(page.get_by_role("heading", name="This link does not work")).to_be_visible()
    assert partner_id in ecm_up.api("GET", "/partners", staff).text

    # The auditor sees the trail and runs subject access.
    sign_in(page, "Pat Quinn")
    page.get_by_label("Child id").fill(child)
    page.get_by_role("button", name="Show audit trail").click()
    trail = page.locator("#audit-trail")
    expect(trail).to_contain_text("ReferralAccepted")
    expect(trail).to_contain_text("InterventionPlanned")
    accessible(page)
    with page.expect_download() as sar:
        page.get_by_role("button", name="Download the subject access report").click()
    assert "Browserchild" in open(sar.value.path()).read()  # noqa: SIM115
    sign_out(page)

    # ECM staff withdraw the link: it opens nothing from then on.
    sign_in(page, "Chris Lee")
    page.goto(f"/notices/{notice_id}/revocation")
    accessible(page)
    page.get_by_label("Reason").fill("Synthetic: sent to the wrong person")
    press(page, "Withdraw the link")
    expect(page.get_by_role("heading", name="Link withdrawn")).to_be_visible()
    page.goto(link.group(1))
    expect(page.get_by_role("heading", name="This link does not work")).to_be_visible()
