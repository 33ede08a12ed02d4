"""axe on every page of the web app, as every role (and a federated partner, and no one).

The pages are not listed by hand: the GET routes are read from the app itself (built in a
child process, as `ecm up` builds it), every path parameter is filled with a record made for
the purpose, and every form of the table of changes (services/web/pages_actions.py) is
opened. A new page is visited without anyone adding it here, and one that no role can open
fails the test, naming it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import date, timedelta
from typing import Any

from playwright.sync_api import Browser, Page

from services.web.pages_actions import ACTIONS
from services.web.session import COOKIE, SessionCodec
from tests.browser.conftest import RunningEcm
from tests.browser.support import CHECKED, accessible, until

ROUTES = """
import json, sys, tempfile
from pathlib import Path
from fastapi.routing import iter_route_contexts
from services.runtime import System
from services.web.app import create_web
from shared.settings import development_settings
folder = Path(tempfile.mkdtemp()) / "var"
system = System.build(development_settings(folder))
try:
    web = create_web(system, None)
    print(json.dumps(sorted(str(c.path_format) for c in iter_route_contexts(web.routes)
                            if "GET" in (c.methods or ()))))
finally:
    system.close()
"""
# Sign-in through OIDC needs an issuer (tests/browser/test_oidc_sign_in.py runs one); in dev
# mode these two only send the browser back to the dev sign-in.
NEEDS_AN_ISSUER = {"/sign-in/oidc", "/sign-in/callback"}
DEV_USERS = (
    "cm-bristol-1",
    "cm-north-somerset-1",
    "psy-1",
    "sp-1",
    "auditor-1",
    "evaluator-1",
    "admin-1",
)


def page_routes() -> list[str]:
    """The web app's GET routes, from the app."""
    done = subprocess.run(
        [sys.executable, "-c", ROUTES], capture_output=True, text=True, check=True, timeout=120
    )
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def records(ecm_up: RunningEcm) -> dict[str, Any]:
    """One of everything a page can be about, made through the API as its users would."""
    cm = ecm_up.token("cm-bristol-1", "case_manager", "bristol")
    psy = ecm_up.token("psy-1", "psychologist")
    today = date.today()

    def ok(response: Any) -> Any:
        assert response.status_code in (200, 201), response.text
        return response.json()

    def referred(family: str, decision: str) -> tuple[str, str]:
        child = ok(
            ecm_up.api(
                "POST",
                "/children",
                cm,
                json={
                    "given_name": "Every",
                    "family_name": family,
                    "date_of_birth": "2011-02-03",
                    "area": "bristol",
                },
            )
        )["id"]
        referral = ok(
            ecm_up.api(
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
        )["id"]
        ok(
            ecm_up.api(
                "POST",
                f"/referrals/{referral}/consent",
                cm,
                json={"consent": "given", "given_by": "carer"},
            )
        )
        ok(ecm_up.api("POST", f"/referrals/{referral}/screening", psy, json={"decision": decision}))
        return str(child), str(referral)

    email = "every-page@school.example"
    contact = ok(
        ecm_up.api(
            "POST",
            "/partners",
            psy,
            json={"agency": "education", "name": "Synthetic Everypage", "email": email},
        )
    )["id"]
    hooked = ok(
        ecm_up.api(
            "POST",
            "/partners",
            psy,
            json={  # for the key rotation page
                "agency": "police",
                "name": "Synthetic Hook",
                "email": "hook@police.example",
                "preferred_channel": "webhook",
                "webhook_url": "http://127.0.0.1:9/hook",
            },
        )
    )["id"]
    child, referral = referred("Everypage", "accept")
    until(lambda: ecm_up.formulation_open(child))
    case = f"/children/{child}/formulation"
    entry = ok(
        ecm_up.api(
            "POST",
            f"{case}/timeline",
            psy,
            json={
                "when": {"precision": "year", "year": 2016},
                "category": "move",
                "description": "Synthetic: moved house",
            },
        )
    )["id"]
    meeting = ok(
        ecm_up.api(
            "POST",
            f"{case}/meetings",
            psy,
            json={
                "starts_at": f"{(today + timedelta(days=3)).isoformat()}T10:00:00+00:00",
                "venue": "Synthetic office",
                "invitees": [{"agency": "education", "contact_id": contact}],
            },
        )
    )["id"]
    ok(
        ecm_up.api(
            "POST",
            f"{case}/reports",
            psy,
            json={
                "narrative": "Synthetic",
                "stage": 2,
                "issued_on": today.isoformat(),
                "recommendations": [{"stage": 2, "agency": "yjs", "text": "Synthetic"}],
            },
        )
    )
    intervention = ok(
        ecm_up.api(
            "POST",
            f"{case}/interventions",
            psy,
            json={
                "intervention_type": "pace",
                "stage": 1,
                "owning_agency": "yjs",
                "planned_start": today.isoformat(),
            },
        )
    )["id"]

    def review_due() -> bool:
        found = ecm_up.api("GET", f"/review-cases/{child}", psy)
        return found.status_code == 200 and found.json()["current_review_id"] is not None

    until(review_due)
    review = ecm_up.api("GET", f"/review-cases/{child}", psy).json()["current_review_id"]
    ok(
        ecm_up.api(
            "POST",
            f"/review-cases/{child}/reviews/{review}/schedule",
            psy,
            json={
                "starts_at": f"{(today + timedelta(days=5)).isoformat()}T10:00:00+00:00",
                "venue": "Synthetic centre",
                "invitees": [{"agency": "education"}],
            },
        )
    )

    consulted, consult_referral = referred("Everyconsult", "consultation")

    def consultation() -> list[Any]:
        found = ecm_up.api("GET", "/consultations", psy, params={"referral_id": consult_referral})
        return list(found.json()) if found.status_code == 200 else []

    until(lambda: bool(consultation()))

    def link() -> str | None:
        for message in ecm_up.smtp.emails:
            if email in str(message["To"]):
                (part,) = [p for p in message.walk() if p.get_content_type() == "text/plain"]
                body = part.get_payload(decode=True)
                assert isinstance(body, bytes)
                found = re.search(
                    r"http://127\.0\.0\.1:\d+(/notices/[0-9a-f-]{36}\?t=[\w.-]+)", body.decode()
                )
                if found:
                    return found.group(1)
        return None

    until(lambda: link() is not None)
    signed = link()
    assert signed is not None
    return {
        "child_id": child,
        "referral_id": referral,
        "entry_id": entry,
        "meeting_id": meeting,
        "contact_id": hooked,
        "partner": contact,
        "notice_link": signed,
        "notice_id": signed.split("/notices/")[1].split("?")[0],
        "targets": {
            "intervention": intervention,
            "meeting": meeting,
            "review": review,
            "entry": entry,
            "consultation": consultation()[0]["id"],
            "referral": referral,
        },
        "consulted": consulted,
    }


def addresses(route: str, made: dict[str, Any]) -> list[str]:
    """The concrete addresses of a route: every action of the table for the actions route."""
    if route == "/children/{child_id}/actions/{slug}":
        found = []
        for action in ACTIONS.values():
            child = made["consulted"] if action.target == "consultation" else made["child_id"]
            address = f"/children/{child}/actions/{action.slug}"
            if action.target:
                address += f"?target={made['targets'][action.target]}"
            found.append(address)
        return found
    if route == "/notices/{notice_id}":
        return [made["notice_link"]]
    names = re.findall(r"{(\w+)}", route)
    missing = [n for n in names if n not in made]
    assert not missing, f"{route}: no record made for {missing}: add one to records()"
    return [route.format(**{n: made[n] for n in names})]


def visit_all(
    page: Page, urls: list[tuple[str, str]], who: str, reached: dict[str, set[str]]
) -> None:
    """Open each address; axe every page answered (each error page once per identity)."""
    errors_checked: set[int] = set()
    for route, url in urls:
        answer = page.request.get(url, max_redirects=0)
        kind = answer.headers.get("content-type", "")
        if answer.status == 200:
            reached.setdefault(route, set()).add(who)
        download = "attachment" in answer.headers.get("content-disposition", "")
        if download or not kind.startswith("text/html"):
            continue  # a download (.ics, CSV, the subject access report) or a redirect
        if answer.status != 200:
            if answer.status in errors_checked:
                continue
            errors_checked.add(answer.status)
        page.goto(url)
        accessible(page)


def test_every_page_of_the_web_app_passes_axe_for_every_role_that_can_open_it(
    browser: Browser, ecm_up: RunningEcm
) -> None:
    routes = page_routes()
    assert "/children/{child_id}/actions/{slug}" in routes and "/caseload" in routes
    made = records(ecm_up)
    urls = [(route, url) for route in routes for url in addresses(route, made)]
    reached: dict[str, set[str]] = {}
    checked_before = len(CHECKED)
    secret = (ecm_up.data / "secrets" / "web_session_secret").read_text().strip()
    codec = SessionCodec(secret, 30 * 60)

    for who in ("nobody", *DEV_USERS, "partner"):
        context = browser.new_context(base_url=ecm_up.base_url)
        page = context.new_page()
        if who == "partner":  # a partner whose organisation federates, signed in through OIDC
            token = ecm_up.token(made["partner"], "partner")
            session = {"token": token, "name": "Synthetic Everypage", "csrf": "c"}
            context.add_cookies(
                [
                    {
                        "name": COOKIE,
                        "url": ecm_up.base_url,
                        "value": codec.fernet.encrypt(json.dumps(session).encode()).decode(),
                    }
                ]
            )
        elif who != "nobody":
            page.goto("/sign-in")
            page.locator(f"input[name=user][value='{who}']").check()
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(lambda url: "/sign-in" not in url)
        visit_all(page, urls, who, reached)
        context.close()

    never = sorted({route for route, _ in urls} - set(reached) - NEEDS_AN_ISSUER)
    assert not never, f"pages no one could open (so axe never ran on them): {never}"
    html = {url for route, url in urls if route not in NEEDS_AN_ISSUER}
    assert len(CHECKED) - checked_before >= len(html) - 3  # less the three downloads
    assert "partner" in reached["/notices"] and "psy-1" in reached["/caseload"]
    for action in (
        "/children/{child_id}/actions/{slug}",
        "/partners/new",
        "/partners/{contact_id}/webhook-secret",
        "/children/{child_id}/work",
        "/reviews/tick",
    ):
        assert "psy-1" in reached[action], action
    assert {"admin-1", "auditor-1"} <= reached["/ops/notices"]
