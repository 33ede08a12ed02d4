"""HTTP hygiene: bodies over the limit refused before they are read, problem+json errors,
security headers, timestamps with offsets, and any token verification failure a 401."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import jwt
import pytest
from fastapi.testclient import TestClient

from services.notifications.application import NotificationsApplication
from services.runtime import System, create_api
from shared.natsserver import EmbeddedNats
from shared.settings import Settings
from tests.conftest import Tokens
from tests.harness import eventually, in_thread, running_node
from tests.integration.test_notifications_support import deliver, invitees, review_scheduled
from tests.integration.test_security_oidc import Signer, bearer, oidc_settings

API = "/api/v1"
CHILD = {
    "given_name": "Testy",
    "family_name": "Synthetic",
    "date_of_birth": "2012-05-17",
    "area": "bristol",
}
MIB = 1_048_576


class Upload:
    """An ASGI client side that streams a body in chunks and counts what the app pulled."""

    def __init__(self, chunks: int, chunk_size: int = 64 * 1024) -> None:
        self.left = chunks
        self.chunk = b" " * chunk_size
        self.pulled = 0
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        self.pulled += 1
        if self.left == 0:
            return {"type": "http.request", "body": b"", "more_body": False}
        self.left -= 1
        return {"type": "http.request", "body": self.chunk, "more_body": self.left > 0}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return int(next(m for m in self.sent if m["type"] == "http.response.start")["status"])

    @property
    def body(self) -> dict[str, Any]:
        data = b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")
        parsed: dict[str, Any] = json.loads(data)
        return parsed


def post_scope(auth: Tokens, headers: dict[str, str]) -> dict[str, Any]:
    every = {**auth("case_manager"), "content-type": "application/json", **headers}
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": f"{API}/children",
        "raw_path": f"{API}/children".encode(),
        "query_string": b"",
        "root_path": "",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 1234),
        "headers": [(k.lower().encode(), v.encode()) for k, v in every.items()],
    }


def test_a_100_mb_body_is_refused_with_413_before_any_of_it_is_read(
    system: System, auth: Tokens
) -> None:
    api = create_api(system)
    upload = Upload(chunks=1600)  # 100 MiB, if anyone read it
    scope = post_scope(auth, {"content-length": str(100 * MIB)})
    asyncio.run(api(scope, upload.receive, upload.send))  # type: ignore[arg-type]
    assert upload.status == 413
    assert upload.pulled == 0
    assert upload.body["field"] == "body"
    assert upload.body["detail"] == f"body: must be at most {MIB} bytes"


def test_a_streamed_body_without_a_length_is_cut_off_at_the_limit_with_413(
    system: System, auth: Tokens
) -> None:
    api = create_api(system)
    upload = Upload(chunks=1600)
    asyncio.run(api(post_scope(auth, {}), upload.receive, upload.send))  # type: ignore[arg-type]
    assert upload.status == 413
    assert upload.pulled <= MIB // len(upload.chunk) + 1  # stopped once past 1 MiB
    assert upload.body["status"] == 413
    assert [m for m in upload.sent if m["type"] == "http.response.start"][1:] == []


def test_the_body_limit_is_a_setting(settings: Settings, auth: Tokens) -> None:
    small = settings.model_copy(update={"max_body_bytes": 2048})
    built = System.build(small, ["referrals"])
    try:
        with TestClient(create_api(built)) as client:
            big = client.post(
                f"{API}/children",
                headers=auth("case_manager"),
                json={**CHILD, "family_name": "x" * 3000},
            )
            assert big.status_code == 413, big.text
            assert big.headers["content-type"] == "application/problem+json"
            fits = client.post(f"{API}/children", headers=auth("case_manager"), json=CHILD)
            assert fits.status_code == 201, fits.text
    finally:
        built.close()


# ------------------------------------------------------------------ errors and headers


@pytest.mark.parametrize(
    ("method", "path", "role", "body", "status"),
    [
        ("get", f"{API}/children/00000000-0000-4000-8000-000000000000", "psychologist", None, 404),
        ("get", f"{API}/children/not-a-uuid", "psychologist", None, 422),
        ("post", f"{API}/children", "evaluator", CHILD, 403),
        ("post", f"{API}/children", None, CHILD, 401),
        ("get", f"{API}/nowhere", "psychologist", None, 404),
    ],
)
def test_every_error_is_problem_json_with_title_and_status(
    client: TestClient,
    auth: Tokens,
    method: str,
    path: str,
    role: str | None,
    body: Any,
    status: int,
) -> None:
    headers = auth(role) if role else {}
    response = client.request(method, path, headers=headers, json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status and problem["type"] == "about:blank"
    assert problem["title"] and problem["detail"]


def test_every_response_says_nosniff_and_no_store(client: TestClient, auth: Tokens) -> None:
    for response in (
        client.get("/health"),
        client.get(f"{API}/referrals", headers=auth("psychologist")),
        client.post(
            f"{API}/children", headers=auth("case_manager"), json={**CHILD, "given_name": " "}
        ),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"
        assert "content-security-policy" not in response.headers
        assert "strict-transport-security" not in response.headers


def test_the_html_subject_access_report_has_a_strict_content_security_policy(
    client: TestClient, auth: Tokens
) -> None:
    made = client.post(f"{API}/children", headers=auth("case_manager"), json=CHILD)
    html = client.get(
        f"{API}/audit/children/{made.json()['id']}/sar",
        headers=auth("auditor"),
        params={"format": "html", "reason": "Synthetic SAR-1"},
    )
    assert html.status_code == 200, html.text
    assert html.headers["content-type"].startswith("text/html")
    policy = html.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert html.headers["cache-control"] == "no-store"


def test_hsts_is_sent_when_served_over_tls(system: System) -> None:
    with TestClient(create_api(system), base_url="https://testserver") as client:
        response = client.get("/health")
    assert response.headers["strict-transport-security"].startswith("max-age=")


# ------------------------------------------------------------------ timestamps


async def test_the_referral_list_gives_timestamps_with_an_offset(
    settings: Settings, nats_server: EmbeddedNats, auth: Tokens
) -> None:
    async with running_node(settings, nats_server, ["referrals"]) as system:
        client = TestClient(create_api(system))
        made = await in_thread(
            client.post, f"{API}/children", headers=auth("case_manager"), json=CHILD
        )
        referred = await in_thread(
            client.post,
            f"{API}/referrals",
            headers=auth("case_manager"),
            json={
                "child_id": made.json()["id"],
                "reason": "Synthetic",
                "trauma_history": "Synthetic",
                "expected_involvement_months": 12,
            },
        )
        assert referred.status_code == 201, referred.text

        async def listed() -> list[dict[str, Any]]:
            response = await in_thread(client.get, f"{API}/referrals", headers=auth("psychologist"))
            rows: list[dict[str, Any]] = response.json()
            return rows

        (row,) = await eventually(listed)
        for name in ("referred_at", "updated_at"):
            assert datetime.fromisoformat(row[name]).utcoffset() is not None, row[name]


# ------------------------------------------------------------------ tokens


def test_an_es256_token_naming_an_rsa_key_is_a_401_not_a_500(tmp_path: Path) -> None:
    rsa_key, ec_key = Signer("key-1"), Signer("ec-1", "EC")
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [rsa_key.jwk]}))
    settings = oidc_settings(tmp_path, oidc_jwks_file=str(path))
    forged = jwt.encode(
        {
            "iss": "https://idp.example.test/realms/ecm",
            "sub": "x",
            "aud": "ecm-record-api",
            "exp": 4_000_000_000,
            "ecm_role": "admin",
        },
        ec_key.private,
        algorithm="ES256",
        headers={"kid": "key-1"},
    )
    built = System.build(settings, ["referrals"])
    try:
        with TestClient(create_api(built)) as client:
            for token in (forged, forged[:-8] + "AAAAAAAA", "a.b.c"):
                response = client.get(f"{API}/referrals", headers={"Authorization": bearer(token)})
                assert response.status_code == 401, response.text
                assert response.json()["detail"] == "not authenticated"
    finally:
        built.close()


def test_another_partners_notice_answers_exactly_like_a_missing_one(
    client: TestClient, auth: Tokens, system: System
) -> None:
    app = system.apps["notifications"]
    assert isinstance(app, NotificationsApplication)
    owner, other = uuid4(), uuid4()
    deliver(app, review_scheduled(app.cipher, uuid4(), invitees(("education", owner))))
    (row,) = app.notices(None)
    intruder = auth("partner", user=str(other))
    for path, method in (
        (f"{API}/notices/{{}}", "get"),
        (f"{API}/notices/{{}}/acknowledgement", "post"),
    ):
        theirs = client.request(method, path.format(row.notice_id), headers=intruder)
        missing = client.request(method, path.format(uuid4()), headers=intruder)
        assert theirs.status_code == missing.status_code == 404
        assert theirs.content == missing.content
        assert theirs.headers["content-type"] == missing.headers["content-type"]
