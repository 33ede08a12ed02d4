"""Steps the browser tests share: sign in, fill GOV.UK forms, wait for the read side, axe."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

AXE = Axe()
CHECKED: list[str] = []


def accessible(page: Page) -> None:
    """axe-core finds no violation (WCAG 2.x A and AA rules) on the page as it stands.

    It waits for the page's fonts first: once (not reproduced since) axe measured GOV.UK's
    navigation links a few pixels short of the 24px target size (WCAG 2.5.8), most likely
    in the fallback font before GOV.UK's had loaded."""
    page.wait_for_load_state("load")
    page.evaluate("() => document.fonts.ready.then(() => true)")
    results = AXE.run(
        page,
        options={
            "runOnly": {
                "type": "tag",
                "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"],
            }
        },
    )
    assert results.violations_count == 0, f"{page.url}\n{results.generate_report()}"
    CHECKED.append(page.url)


def sign_in(page: Page, who: str) -> None:
    """Dev sign-in as the synthetic user whose label starts with `who`."""
    page.goto("/sign-in")
    accessible(page)
    page.get_by_label(who, exact=False).check()
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Signed in as")).to_be_visible()


def sign_out(page: Page) -> None:
    """Sign out through the header button."""
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="You have signed out")).to_be_visible()


def fill_date(page: Page, name: str, day: date) -> None:
    """A GOV.UK date input."""
    page.locator(f"#{name}-day").fill(str(day.day))
    page.locator(f"#{name}-month").fill(str(day.month))
    page.locator(f"#{name}-year").fill(str(day.year))


def until(check: Callable[[], bool], reload: Page | None = None, timeout: float = 30) -> None:
    """Wait for the read side to catch up (reloading the page between looks)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("the page did not show what was expected in time")
        time.sleep(0.3)
        if reload is not None:
            reload.reload()


def press(page: Page, button: str) -> None:
    """Submit a form with its button and wait for the next page."""
    with page.expect_navigation():
        page.get_by_role("button", name=button).click()
