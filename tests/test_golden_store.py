"""Yesterday's events always load: the committed golden stores open with today's code to the
states they were recorded with, and every event class the code defines is in one of them."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.domain import DomainEvent
from eventsourcing.utils import resolve_topic

from services.registry import all_plugins
from shared.domain import EcmAggregate
from tests.golden.make_golden import open_golden_state

GOLDEN = Path(__file__).parent / "golden"
VERSIONS = sorted(p for p in GOLDEN.glob("v*") if p.is_dir())
BASES = frozenset({"Event", "Created"})
"""eventsourcing's own base classes on every aggregate (ours always name the created event)."""


def aggregates(base: type[EcmAggregate] = EcmAggregate) -> Iterator[type[EcmAggregate]]:
    """Every aggregate class of every service."""
    all_plugins()  # imports every service's modules
    for cls in base.__subclasses__():
        yield cls
        yield from aggregates(cls)


def event_classes() -> set[type[Any]]:
    """Every event class declared on an aggregate."""
    return {
        value
        for aggregate in aggregates()
        if aggregate.__module__.startswith("services.")  # not the examples of other tests
        and not aggregate.__subclasses__()  # a base only declares what its subclass stores
        for name, value in vars(aggregate).items()
        if isinstance(value, type) and issubclass(value, DomainEvent) and name not in BASES
    }


def stored_topics(folder: Path) -> set[str]:
    """The topics of the events stored in the golden store at `folder`."""
    topics: set[str] = set()
    for path in folder.glob("*-events.sqlite"):
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            topics |= {row[0] for row in conn.execute("SELECT DISTINCT topic FROM stored_events")}
        conn.close()
    return topics


def expected_state(folder: Path) -> dict[str, Any]:
    """What the store at `folder` must load to: its recorded state, or the mapping of that
    state onto today's aggregates (`expected-now.json`) once their shapes have changed."""
    now = folder / "expected-now.json"
    path = now if now.exists() else folder / "expected.json"
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_there_is_a_golden_store() -> None:
    assert VERSIONS and VERSIONS[0].name == "v1"


@pytest.mark.parametrize("folder", VERSIONS, ids=lambda p: p.name)
def test_a_golden_store_is_never_rewritten(folder: Path) -> None:
    sums: dict[str, str] = {}
    for line in (folder / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ", 1)
        sums[name] = digest
    actual = {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in sums}
    assert actual == sums
    assert set(sums) >= {p.name for p in folder.glob("*.sqlite")}


@pytest.mark.parametrize("folder", VERSIONS, ids=lambda p: p.name)
def test_every_aggregate_of_a_golden_store_loads_to_its_recorded_state(folder: Path) -> None:
    loaded = open_golden_state(folder)
    expected = expected_state(folder)
    assert set(loaded) == set(expected)
    for service in expected:
        assert set(loaded[service]) == set(expected[service]), service
        for aggregate_id, want in expected[service].items():
            assert loaded[service][aggregate_id] == want, f"{service} {aggregate_id}"


def test_every_stored_topic_resolves_to_an_event_class_of_today() -> None:
    unresolved = []
    for folder in VERSIONS:
        for topic in stored_topics(folder):
            try:
                resolve_topic(topic)
            except Exception as error:
                unresolved.append(f"{folder.name} {topic}: {error}")
    assert unresolved == []


def test_every_event_class_the_code_defines_is_in_a_golden_store() -> None:
    stored = {resolve_topic(t) for folder in VERSIONS for t in stored_topics(folder)}
    missing = sorted(f"{c.__module__}:{c.__qualname__}" for c in event_classes() - stored)
    assert missing == [], (
        "new event types: add a golden store version with them (tests/golden/README.md)"
    )


def test_the_walk_finds_the_events_of_every_service() -> None:
    names = {c.__qualname__ for c in event_classes()}
    assert {
        "Child.Registered",
        "FormulationCase.StageAssessed",
        "ReviewCase.CaseClosed",
        "Notice.Queued",
        "ChildErasure.ErasureRecorded",
    } <= names
