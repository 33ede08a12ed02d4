"""Auditors verify, read and erase; evaluators read the pseudonymised summary and export."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import RunningEcm
from tests.browser.support import accessible, press, sign_in, sign_out, until
from tests.browser.test_journey import register_child


def test_an_auditor_checks_integrity_and_erases_a_child_after_confirming_with_a_reason(
    page: Page, ecm_up: RunningEcm
) -> None:
    sign_in(page, "Alex Morgan")
    child = register_child(page, "Retention", "Endchild")
    sign_out(page)
    sign_in(page, "Pat Quinn")
    page.goto("/audit/integrity")
    expect(page.locator("#integrity-result")).to_contain_text("Every store verified")
    accessible(page)
    page.goto("/audit")
    page.get_by_label("Child id").fill("not-an-id")
    press(page, "Show audit trail")
    expect(page.locator(".govuk-error-summary")).to_contain_text("Child id")
    accessible(page)
    page.goto(f"/audit/children/{child}")
    until(
        lambda: "ChildRegistered" in (page.locator("#audit-trail").text_content() or ""),
        reload=page,
    )
    press(page, "Erase personal data")
    expect(page.locator(".govuk-error-summary")).to_contain_text("Reason")
    page.get_by_label("Reason").fill("Synthetic: retention period ended")
    press(page, "Erase personal data")
    expect(page.get_by_role("heading", name="Are you sure")).to_be_visible()
    accessible(page)
    press(page, "Yes, erase")
    expect(page.locator(".govuk-panel")).to_contain_text("Personal data erased")
    accessible(page)
    page.goto(f"/audit/children/{child}")
    expect(page.get_by_text("(erased)")).to_be_visible()


def test_an_evaluator_sees_the_summary_with_charts_and_downloads_the_export(
    page: Page, ecm_up: RunningEcm
) -> None:
    sign_in(page, "Alex Morgan")
    register_child(page, "Evaluated", "Chartchild")
    sign_out(page)
    sign_in(page, "Robin Shaw")
    expect(page.get_by_role("heading", name="Evaluation")).to_be_visible()
    until(lambda: page.locator("svg.ecm-chart").count() > 0, reload=page)
    expect(page.get_by_role("heading", name="Referral outcomes")).to_be_visible()
    accessible(page)
    with page.expect_download() as export:
        page.get_by_role("link", name="Download the export (CSV)").click()
    assert export.value.suggested_filename == "ecm-evaluation.csv"
    page.goto("/children")
    expect(page.get_by_role("heading", name="You cannot do that")).to_be_visible()
