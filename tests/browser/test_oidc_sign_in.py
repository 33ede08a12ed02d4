"""Production sign-in: authorization code with PKCE against an OIDC issuer the test runs."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, expect

from services.runtime import System, create_api
from shared.natsserver import free_port
from shared.settings import development_settings
from tests.browser.oidc_provider import Account, LocalOidcProvider
from tests.browser.support import accessible

CLIENT, AUDIENCE = "ecm-web", "ecm-record"


@pytest.fixture
def production_web(
    tmp_path: Path, browser_type_launch_args: dict[str, Any]
) -> Iterator[tuple[str, LocalOidcProvider]]:
    """The web app and API in production mode (OIDC only, no dev tokens), served by uvicorn."""
    oidc = LocalOidcProvider(
        CLIENT, AUDIENCE, Account("oidc-psy-7", "Dr Oidc Tester", "psychologist")
    )
    oidc.start()
    folder = tmp_path / "var"
    System.build(development_settings(folder)).close()  # keys and secrets made once, as dev
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = development_settings(folder).model_copy(
        update={
            "dev_mode": False,
            "oidc_issuer": oidc.issuer,
            "oidc_audience": AUDIENCE,
            "oidc_jwks_url": f"{oidc.issuer}/jwks",
        }
    )
    saved = {
        k: os.environ.get(k)
        for k in (
            "ECM_WEB_OIDC_CLIENT_ID",
            "ECM_WEB_SESSION_SECRET",
            "ECM_WEB_PUBLIC_BASE_URL",
            "ECM_DEV_MODE",
        )
    }
    os.environ.update(
        {
            "ECM_WEB_OIDC_CLIENT_ID": CLIENT,
            "ECM_WEB_PUBLIC_BASE_URL": base,
            "ECM_WEB_SESSION_SECRET": "browser-test-session-secret-0123456789",
            "ECM_DEV_MODE": "false",
        }
    )
    system = System.build(settings)
    server = uvicorn.Server(
        uvicorn.Config(
            create_api(system), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield base, oidc
    finally:
        server.should_exit = True
        thread.join(10)
        system.close()
        oidc.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def test_a_psychologist_signs_in_through_the_issuer_with_pkce_and_lands_where_they_were_going(
    browser: Browser, production_web: tuple[str, LocalOidcProvider]
) -> None:
    base, oidc = production_web
    page = browser.new_page(base_url=base)
    page.goto("/screening")
    expect(page).to_have_url(f"{base}/screening")
    expect(page.get_by_text("Signed in as Dr Oidc Tester (Psychologist)")).to_be_visible()
    expect(page.get_by_role("heading", name="Screening queue")).to_be_visible()
    assert oidc.pkce_checked == 1
    accessible(page)
    cookie = next(c for c in page.context.cookies() if c["name"] == "ecm_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    page.close()


def test_production_refuses_the_dev_sign_in_and_dev_tokens(
    production_web: tuple[str, LocalOidcProvider],
) -> None:
    base, _ = production_web
    with httpx.Client(base_url=base) as client:
        page = client.get("/sign-in", follow_redirects=False)
        assert page.status_code == 303
        assert page.headers["location"].startswith(production_web[1].issuer + "/authorize?")
        assert re.search(r"code_challenge_method=S256", page.headers["location"])
