"""Each write loads its aggregate once, and is authorised by area where it is loaded; a read
as of a past day reads the aggregate's events once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient

from services.formulation.application import FormulationApplication
from services.reviews.application import ReviewsApplication
from services.runtime import System
from shared.domain import Area, Meta
from shared.store import EcmApplication
from tests.conftest import Tokens

META = Meta("psy-1", "psychologist", "corr-1", "corr-1")
ENTRY = {
    "when": {"precision": "year", "year": 2016},
    "category": "loss_or_bereavement",
    "description": "Synthetic: grandfather died",
    "source": None,
    "sensitivity": "standard",
}


class Reads:
    """Counts the replays of aggregates (repository loads and event-store reads) of an app."""

    def __init__(self, app: EcmApplication, monkeypatch: pytest.MonkeyPatch) -> None:
        self.loads = 0
        self.event_reads = 0
        repository_get: Callable[..., Any] = app.repository.get
        events_get: Callable[..., Any] = app.events.get

        def counted_load(*args: Any, **kwargs: Any) -> Any:
            self.loads += 1
            return repository_get(*args, **kwargs)

        def counted_read(*args: Any, **kwargs: Any) -> Any:
            self.event_reads += 1
            return events_get(*args, **kwargs)

        monkeypatch.setattr(app.repository, "get", counted_load)
        monkeypatch.setattr(app.events, "get", counted_read)

    def reset(self) -> None:
        self.loads = self.event_reads = 0


@pytest.fixture
def formulation(system: System) -> FormulationApplication:
    app = system.apps["formulation"]
    assert isinstance(app, FormulationApplication)
    return app


@pytest.fixture
def reviews(system: System) -> ReviewsApplication:
    app = system.apps["reviews"]
    assert isinstance(app, ReviewsApplication)
    return app


@pytest.fixture
def child(formulation: FormulationApplication, reviews: ReviewsApplication) -> Iterator[UUID]:
    child_id = uuid4()
    formulation.open_case(child_id, uuid4(), Area.BRISTOL, META)
    reviews.open_case(child_id, Area.BRISTOL, None, None, META)
    yield child_id


def test_adding_to_the_life_story_loads_the_case_once(
    client: TestClient,
    auth: Tokens,
    formulation: FormulationApplication,
    child: UUID,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reads = Reads(formulation, monkeypatch)
    response = client.post(
        f"/api/v1/children/{child}/formulation/timeline", headers=auth("psychologist"), json=ENTRY
    )
    assert response.status_code == 201, response.text
    assert reads.loads == 1


def test_a_read_as_of_a_past_day_reads_the_records_events_once(
    client: TestClient,
    auth: Tokens,
    formulation: FormulationApplication,
    child: UUID,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    added = client.post(
        f"/api/v1/children/{child}/formulation/timeline", headers=auth("psychologist"), json=ENTRY
    )
    assert added.status_code == 201, added.text
    today = date.today().isoformat()
    issued = client.post(
        f"/api/v1/children/{child}/formulation/reports",
        headers=auth("psychologist"),
        json={
            "narrative": "Synthetic narrative",
            "stage": 2,
            "issued_on": today,
            "stage_rationale": None,
            "recommendations": [],
        },
    )
    assert issued.status_code == 201, issued.text
    reads = Reads(formulation, monkeypatch)
    for path in ("timeline", "reports", "assessments"):  # the life story, reports, the case
        reads.reset()
        response = client.get(
            f"/api/v1/children/{child}/formulation/{path}?as_of={today}",
            headers=auth("psychologist"),
        )
        assert response.status_code == 200, response.text
        assert (reads.loads, reads.event_reads) == (0, 1), path


def test_another_areas_case_answers_like_a_missing_one_from_the_one_load(
    client: TestClient,
    auth: Tokens,
    formulation: FormulationApplication,
    reviews: ReviewsApplication,
    child: UUID,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reads = Reads(formulation, monkeypatch)
    banes = auth("case_manager", "banes")
    other = client.get(f"/api/v1/children/{child}/formulation", headers=banes)
    missing = client.get(f"/api/v1/children/{uuid4()}/formulation", headers=banes)
    assert other.status_code == missing.status_code == 404
    assert reads.loads == 2
    review_reads = Reads(reviews, monkeypatch)
    refused = client.get(f"/api/v1/review-cases/{child}", headers=banes)
    assert refused.status_code == 404
    assert review_reads.loads == 1


def test_a_review_write_loads_each_part_of_the_record_once_and_refuses_another_area_from_the_case(
    client: TestClient,
    auth: Tokens,
    reviews: ReviewsApplication,
    child: UUID,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reads = Reads(reviews, monkeypatch)
    response = client.put(
        f"/api/v1/review-cases/{child}/cadence",
        headers=auth("senior_practitioner"),
        json={"weeks": 8},
    )
    assert response.status_code == 200, response.text
    assert reads.loads == 3  # the case, its schedule and its interventions, once each
    assert reviews.get_case(child).review_weeks == 8
    reads.reset()
    transition = {
        "kind": "school_move",
        "occurred_on": date.today().isoformat(),
        "receiving_organisation": "Synthetic Academy",
    }
    response = client.post(
        f"/api/v1/review-cases/{child}/transitions",
        headers=auth("case_manager", "banes"),
        json=transition,
    )
    assert response.status_code == 404, response.text
    assert reads.loads == 1  # refused where the case is loaded: nothing else is read
    assert reviews.get_case(child).transitions == []
