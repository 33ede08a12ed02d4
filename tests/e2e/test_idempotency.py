"""Idempotent creation: the same request sent twice with one Idempotency-Key takes effect once,
per caller, durably, until the key expires."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from services.runtime import System, create_api
from shared.idempotency import KeyStore
from tests.conftest import Tokens

API = "/api/v1"
CHILD = {
    "given_name": "Testy",
    "family_name": "Synthetic",
    "date_of_birth": "2012-05-17",
    "area": "bristol",
}
PARTNER = {"agency": "education", "name": "Pat Teacher", "email": "pat@school.example.org"}


def with_key(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


def partners(client: TestClient, auth: Tokens) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = client.get(f"{API}/partners", headers=auth("admin")).json()
    return rows


def test_the_same_partner_sent_twice_with_one_key_is_registered_once(
    client: TestClient, auth: Tokens
) -> None:
    headers = with_key(auth("admin"), "partner-add-0001")
    first = client.post(f"{API}/partners", headers=headers, json=PARTNER)
    again = client.post(f"{API}/partners", headers=headers, json=PARTNER)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert [p["id"] for p in partners(client, auth)] == [first.json()["id"]]


def test_without_a_key_or_with_another_key_the_request_takes_effect_again(
    client: TestClient, auth: Tokens
) -> None:
    one = client.post(f"{API}/children", headers=with_key(auth("case_manager"), "a"), json=CHILD)
    two = client.post(f"{API}/children", headers=with_key(auth("case_manager"), "b"), json=CHILD)
    assert one.status_code == two.status_code == 201
    assert one.json()["id"] != two.json()["id"]


def test_the_same_key_with_another_body_is_a_422_naming_the_header(
    client: TestClient, auth: Tokens
) -> None:
    headers = with_key(auth("admin"), "partner-add-0002")
    assert client.post(f"{API}/partners", headers=headers, json=PARTNER).status_code == 201
    other = client.post(f"{API}/partners", headers=headers, json={**PARTNER, "name": "Sam Teacher"})
    assert other.status_code == 422, other.text
    assert other.headers["content-type"] == "application/problem+json"
    assert other.json()["field"] == "Idempotency-Key"
    assert other.json()["detail"] == "Idempotency-Key: was already used for a different request"
    assert [p["name"] for p in partners(client, auth)] == ["Pat Teacher"]


def test_keys_belong_to_the_caller(client: TestClient, auth: Tokens) -> None:
    mine = client.post(
        f"{API}/children", json=CHILD, headers=with_key(auth("case_manager", user="cm-1"), "k-1")
    )
    theirs = client.post(
        f"{API}/children", json=CHILD, headers=with_key(auth("case_manager", user="cm-2"), "k-1")
    )
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]


def test_a_refused_request_frees_its_key_for_the_corrected_one(
    client: TestClient, auth: Tokens
) -> None:
    headers = with_key(auth("case_manager"), "child-add-0003")
    bad = client.post(f"{API}/children", headers=headers, json={**CHILD, "given_name": " "})
    assert bad.status_code == 422
    good = client.post(f"{API}/children", headers=headers, json=CHILD)
    assert good.status_code == 201, good.text
    assert "idempotent-replayed" not in good.headers


def test_a_malformed_key_is_a_422(client: TestClient, auth: Tokens) -> None:
    for key in (b"has space", b"x" * 201, "caf\u00e9".encode("latin-1"), b"tab\there"):
        headers: dict[str, Any] = {**auth("case_manager"), "Idempotency-Key": key}
        response = client.post(f"{API}/children", json=CHILD, headers=headers)
        assert response.status_code == 422, key
        assert response.json()["field"] == "Idempotency-Key"


def test_keys_survive_a_restart(system: System, auth: Tokens) -> None:
    headers = with_key(auth("case_manager"), "child-add-0004")
    with TestClient(create_api(system)) as before:
        first = before.post(f"{API}/children", headers=headers, json=CHILD)
    with TestClient(create_api(system)) as after:
        again = after.post(f"{API}/children", headers=headers, json=CHILD)
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"


def test_an_expired_key_is_forgotten(system: System) -> None:
    store = KeyStore(system.engine("idempotency"), timedelta(0))
    assert store.reserve("cm-1", "k", "f1") is None
    store.complete("cm-1", "k", 201, "application/json", b"{}")
    assert store.reserve("cm-1", "k", "f2") is None  # expired at once: a new first request
    kept = KeyStore(system.engine("idempotency"), timedelta(hours=1))
    assert kept.reserve("cm-2", "k", "f1") is None
    held = kept.reserve("cm-2", "k", "f1")
    assert held is not None and held.status is None  # still running: answered 409


def test_the_api_document_declares_the_header_on_creating_operations(
    client: TestClient,
) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (f"{API}/children", f"{API}/partners", f"{API}/referrals"):
        names = [p["name"] for p in paths[path]["post"]["parameters"]]
        assert "Idempotency-Key" in names, path
