"""`make bench`: the web app's child page for a child with 500 events, p50 and p99.

The child's events are made through the real use cases and projected by the real consumers on
a real nats-server; the page is then fetched through the whole HTTP stack (session cookie,
in-process API calls, the SVG drawing), against the timeline API call alone as the baseline.
"""

from __future__ import annotations

import asyncio
import re
import statistics
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from fastapi.testclient import TestClient

from services.formulation.values import LifeDate, Sensitivity, TimelineCategory
from services.referrals.domain import Consent
from services.runtime import System, create_api
from shared.auth import mint_token
from shared.domain import Area, Meta, NotFound, Role
from shared.natsserver import EmbeddedNats
from shared.settings import development_settings
from tests.harness import eventually, in_thread, running_node

CM = Meta("cm-bench", "case_manager", "bench", "bench")
PSY = Meta("psy-1", "psychologist", "bench", "bench")
TARGET_P99_MS = 200.0


async def _child_with_events(system: System, n: int) -> UUID:
    """A child accepted for formulation whose whole story holds at least n items."""
    referrals: Any = system.apps["referrals"]
    formulation: Any = system.apps["formulation"]
    child = await in_thread(
        referrals.register_child,
        given_name="Bench",
        family_name="Pagechild",
        date_of_birth=date(2010, 6, 1),
        area=Area.BRISTOL,
        nhs_number=None,
        upn=None,
        meta=CM,
    )
    referral = await in_thread(
        referrals.refer,
        child_id=child,
        case_manager_id="cm-bench",
        reason="synthetic",
        trauma_history="synthetic",
        expected_involvement_months=12,
        meta=CM,
    )
    await in_thread(referrals.record_consent, referral, Consent.GIVEN, "carer", CM)
    await in_thread(referrals.accept, referral, PSY)

    def opened() -> bool:
        try:
            formulation.get_case(child)
        except NotFound:
            return False
        return True

    await eventually(opened, timeout=60)
    categories = list(TimelineCategory)

    def add_entries() -> None:
        for i in range(n):
            day = date(2011, 1, 1) + timedelta(days=9 * i)
            formulation.add_timeline_entry(
                child,
                when=LifeDate.create("exact", on=day),
                category=categories[i % 9],
                description=f"synthetic entry {i}",
                source=None,
                sensitivity=Sensitivity.STANDARD,
                meta=PSY,
            )

    await in_thread(add_entries)
    assert isinstance(child, UUID)
    return child


def _percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1]


async def bench_child_page(folder: Path, n: int, requests: int) -> dict[str, Any]:
    """GET /children/<id> (the page) vs GET /api/v1/children/<id>/timeline (the API call)."""
    nats = EmbeddedNats(folder / "web-nats", user="bench", password="bench-password")
    nats.start()
    try:
        settings = development_settings(folder / "web-var")
        async with running_node(settings, nats) as system:
            child = await _child_with_events(system, n)
            token = mint_token(system.settings, "psy-1", Role.PSYCHOLOGIST, None)
            headers = {"Authorization": f"Bearer {token}"}
            api = create_api(system)

            def story_size() -> int:
                with TestClient(api) as client:
                    got = client.get(
                        f"/api/v1/children/{child}/timeline", params={"limit": 500}, headers=headers
                    )
                    return int(got.json().get("total", 0)) if got.status_code == 200 else 0

            await eventually(lambda: story_size() >= n, timeout=120)
            result: dict[str, Any] = await in_thread(_measure, api, child, headers, requests, n)
            return result
    finally:
        nats.stop()


def _measure(
    api: Any, child: UUID, headers: dict[str, str], requests: int, n: int
) -> dict[str, Any]:
    page_ms: list[float] = []
    api_ms: list[float] = []
    with TestClient(api) as client:
        form = client.get("/sign-in").text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert csrf is not None
        client.post("/sign-in", data={"user": "psy-1", "csrf_token": csrf.group(1)})
        for _ in range(10):  # warm up
            client.get(f"/children/{child}")
        for _ in range(requests):
            start = time.perf_counter()
            page = client.get(f"/children/{child}")
            page_ms.append((time.perf_counter() - start) * 1000)
            assert page.status_code == 200 and "timeline-drawing" in page.text
            start = time.perf_counter()
            story = client.get(
                f"/api/v1/children/{child}/timeline", params={"limit": 500}, headers=headers
            )
            api_ms.append((time.perf_counter() - start) * 1000)
            assert story.status_code == 200
    p99 = _percentile(page_ms, 99)
    return {
        "name": f"web: child page with {n} events",
        "n": requests,
        "ecm_us_per_op": statistics.median(page_ms) * 1000,
        "baseline_us_per_op": statistics.median(api_ms) * 1000,
        "ratio": statistics.median(page_ms) / statistics.median(api_ms),
        "ecm_p50_ms": _percentile(page_ms, 50),
        "ecm_p99_ms": p99,
        "target_p99_ms": TARGET_P99_MS,
        "meets_target": p99 < TARGET_P99_MS,
    }


def run(folder: Path) -> dict[str, Any]:
    """The child page benchmark (500 events, 200 requests)."""
    return asyncio.run(bench_child_page(folder, 500, 200))
