"""Failed authentications are limited per client: past the limit, 429 with Retry-After."""

from __future__ import annotations

from fastapi.testclient import TestClient

from services.runtime import System, create_api
from shared.settings import Settings
from shared.throttle import FailedAuthentications, TooManyFailedAuthentications
from tests.conftest import Tokens

API = "/api/v1"


def test_a_client_failing_too_often_is_answered_429_even_with_a_good_token(
    settings: Settings, auth: Tokens
) -> None:
    limited = settings.model_copy(update={"auth_failures_per_minute": 5})
    system = System.build(limited, ["referrals"])
    try:
        with TestClient(create_api(system)) as client:
            for _ in range(5):
                response = client.get(
                    f"{API}/referrals", headers={"Authorization": "Bearer not.a.token"}
                )
                assert response.status_code == 401
            blocked = client.get(f"{API}/referrals", headers=auth("psychologist"))
            assert blocked.status_code == 429, blocked.text
            assert blocked.headers["content-type"] == "application/problem+json"
            assert 1 <= int(blocked.headers["retry-after"]) <= 60
            assert client.get("/health").status_code == 200  # unauthenticated routes unaffected
    finally:
        system.close()


def test_the_window_slides_and_other_clients_are_not_held_back() -> None:
    now = [1000.0]
    limiter = FailedAuthentications(limit=2, window=60, clock=lambda: now[0])
    limiter.failed("10.0.0.1")
    limiter.failed("10.0.0.1")
    limiter.check("10.0.0.2")
    try:
        limiter.check("10.0.0.1")
    except TooManyFailedAuthentications as e:
        assert e.retry_after == 60
    else:
        raise AssertionError("the third attempt within a minute was not held back")
    now[0] += 61
    limiter.check("10.0.0.1")
