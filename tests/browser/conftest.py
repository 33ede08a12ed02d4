"""Browser tests: Playwright drives the operating system's Chromium against a real `ecm up`.

The system runs as `ecm up` does (embedded nats-server, SQLite, every service, the web app)
in its own process, with a real SMTP server (aiosmtpd) on 127.0.0.1; the OIDC test runs the
app in production mode against a local OIDC provider (real HTTP on 127.0.0.1). Playwright's
own browser builds cannot be downloaded here, so the tests use Debian's `chromium` (`.ci/run`
installs it); without it they skip, saying how to enable them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.web.assets import GOVUK_DIST
from shared.natsserver import free_port
from tests.integration.test_notifications_support import SmtpSink, smtp_sink

ECM = [sys.executable, "-c", "from services.cli import main; main()"]


def chromium() -> str | None:
    """The operating system's Chromium, if there is one."""
    configured = os.environ.get("ECM_CHROMIUM")
    if configured:
        return configured if Path(configured).exists() else None
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _is_browser_test(item: pytest.Item) -> bool:
    return "tests/browser/" in str(item.path).replace(os.sep, "/")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here is a browser test, and they run last: Playwright's sync API keeps an
    event loop running in the main thread until the session ends, which any asyncio test
    after it would trip over ("cannot be called from a running event loop")."""
    browser = [item for item in items if _is_browser_test(item)]
    for item in browser:
        item.add_marker(pytest.mark.browser)
    items[:] = [item for item in items if not _is_browser_test(item)] + browser


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Launch the OS Chromium (skip, saying how to get one, where there is none)."""
    path = chromium()
    if path is None:
        pytest.skip(
            "browser tests need Chromium from the operating system: install Debian's "
            "`chromium` (apt-get install -y chromium, as .ci/run does) or set "
            "ECM_CHROMIUM=/path/to/chrome"
        )
    if not (GOVUK_DIST / "govuk-frontend.min.css").exists():
        pytest.skip("GOV.UK Frontend is not installed: run `make web-assets`")
    return {**browser_type_launch_args, "executable_path": path}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    """Downloads allowed (subject access, export, .ics)."""
    return {**browser_context_args, "accept_downloads": True}


@dataclass
class RunningEcm:
    """A running `ecm up`: where it answers, its data folder, its mail and its issuer."""

    base_url: str
    data: Path
    smtp: SmtpSink
    output: Path

    def token(self, user: str, role: str, area: str | None = None) -> str:
        """A dev token from `ecm token`, for setting up data through the API."""
        args = [*ECM, "token", "--user", user, "--role", role, "--data-dir", str(self.data)]
        if area:
            args += ["--area", area]
        return subprocess.run(
            args, capture_output=True, text=True, check=True, timeout=60
        ).stdout.strip()

    def formulation_open(self, child: str) -> bool:
        """True once the formulation service has opened the child's case (from the stream)."""
        token = self.token("psy-1", "psychologist")
        return self.api("GET", f"/children/{child}/formulation", token).status_code == 200

    def api(self, method: str, path: str, token: str, **kwargs: Any) -> httpx.Response:
        """A call to the API of the running system."""
        return httpx.request(
            method,
            f"{self.base_url}/api/v1{path}",
            timeout=30,
            headers={"Authorization": f"Bearer {token}"},
            **kwargs,
        )


@pytest.fixture(scope="session")
def ecm_up(
    tmp_path_factory: pytest.TempPathFactory, browser_type_launch_args: dict[str, Any]
) -> Iterator[RunningEcm]:
    """`ecm up` (dev mode) with SMTP to a local aiosmtpd."""
    data = tmp_path_factory.mktemp("ecm") / "var"
    port, nats_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    with smtp_sink() as smtp:
        env = {
            **os.environ,
            "ECM_DEV_MODE": "true",
            "ECM_NOTIFY_SMTP_HOST": "127.0.0.1",
            "ECM_NOTIFY_SMTP_PORT": str(smtp.port),
            "ECM_NOTIFY_PUBLIC_BASE_URL": base,
            "ECM_NOTIFY_POLL_SECONDS": "0.2",
            "ECM_RELAY_POLL_SECONDS": "0.05",
        }
        output = Path(os.environ.get("ECM_BROWSER_LOG") or data.parent / "ecm-up.log")
        with output.open("w") as log:
            up = subprocess.Popen(
                [
                    *ECM,
                    "up",
                    "--data-dir",
                    str(data),
                    "--port",
                    str(port),
                    "--nats-port",
                    str(nats_port),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
            )
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    if httpx.get(f"{base}/health/ready", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if up.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"ecm up did not get ready:\n{output.read_text()}")
                time.sleep(0.2)
            yield RunningEcm(base, data, smtp, output)
        finally:
            up.terminate()
            try:
                up.wait(timeout=30)
            except subprocess.TimeoutExpired:
                up.kill()


@pytest.fixture(scope="session")
def base_url(ecm_up: RunningEcm) -> str:
    """Where Playwright's relative URLs go."""
    return ecm_up.base_url
