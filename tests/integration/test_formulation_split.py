"""The formulation case split: the life story and the meetings are aggregates of their own.

Old events load into the new aggregates: a case stored before the split (golden store v1)
reads its timeline and meetings from the case's own events; the first change since starts the
child's life story (or meetings) with a snapshot of them, sealed, and leaves the case's stream
as it was; what is published keeps its contract and its binding."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from services.formulation.application import FormulationApplication
from services.formulation.contracts import REGISTRY
from services.formulation.life_story import LifeStory, life_story_id_for
from services.formulation.meetings import FormulationMeetings, meetings_id_for
from services.formulation.values import LifeDate, Sensitivity, TimelineCategory, case_id_for
from services.runtime import System
from shared.crypto import is_sealed
from shared.domain import Meta
from shared.meetings import Invitee
from shared.vocabulary import Agency
from tests.golden.make_golden import golden_settings
from tests.golden.state import plain

GOLDEN_V1 = Path(__file__).parents[1] / "golden" / "v1"
PSY = Meta("psy-9", "psychologist", "corr-s", "corr-s")


@pytest.fixture
def golden(tmp_path: Path) -> Iterator[tuple[FormulationApplication, UUID, dict[str, Any]]]:
    """The formulation store of golden store v1 (a copy), its child, and what v1 recorded."""
    data = tmp_path / "var"
    (data / "db").mkdir(parents=True)
    for path in GOLDEN_V1.glob("*.sqlite"):
        shutil.copy(path, data / "db" / path.name)
    system = System.build(golden_settings(data), ["formulation"])
    app = system.apps["formulation"]
    assert isinstance(app, FormulationApplication)
    recorded = json.loads((GOLDEN_V1 / "expected.json").read_text())["formulation"]
    (case,) = [
        r["state"]
        for r in recorded.values()
        if r["class"] == "services.formulation.domain:FormulationCase"
    ]
    yield app, UUID(case["child_id"]), case
    system.close()


def test_a_case_stored_before_the_split_reads_its_life_story_and_meetings_from_its_events(
    golden: tuple[FormulationApplication, UUID, dict[str, Any]],
) -> None:
    app, child, recorded = golden
    assert life_story_id_for(child) not in app.repository
    assert meetings_id_for(child) not in app.repository
    assert plain(app.get_life_story(child).timeline) == recorded["timeline"]
    assert plain(app.get_meetings(child).meetings) == recorded["meetings"]
    assert app.get_case(child).version == recorded["version"]


def test_the_first_entry_since_the_split_starts_the_life_story_with_the_old_entries_sealed(
    golden: tuple[FormulationApplication, UUID, dict[str, Any]],
) -> None:
    app, child, recorded = golden
    entry, version = app.add_timeline_entry(
        child,
        when=LifeDate.create("year", year=2019),
        category=TimelineCategory.MOVE,
        description="Synthetic: moved school",
        source=None,
        sensitivity=Sensitivity.STANDARD,
        meta=PSY,
        expected_version=1,
    )
    assert version == 2  # Started (with the old entries), then the new entry
    story = app.get_life_story(child)
    assert isinstance(story, LifeStory)
    assert set(plain(story.timeline)) == {*recorded["timeline"], str(entry)}
    for entry_id, was in recorded["timeline"].items():
        assert plain(story.timeline[UUID(entry_id)]) == was
    started = app.recorder.select_events(life_story_id_for(child))[0]
    imported = json.loads(started.state)["imported"]
    assert imported and all(is_sealed(item["description"]) for item in imported)
    stored = started.state.decode()
    assert "grandparent died" not in stored and "Synthetic: aunt" not in stored
    # A retraction's reason was its event's (clear) reason before the split, and still is.
    # The case's own stream is as it was: the old events stay where they are.
    assert app.get_case(child).version == recorded["version"]
    assert len(app.recorder.select_events(case_id_for(child))) == recorded["version"]


def test_the_first_meeting_since_the_split_starts_the_meetings_with_the_old_ones(
    golden: tuple[FormulationApplication, UUID, dict[str, Any]],
) -> None:
    app, child, recorded = golden
    meeting, _ = app.schedule_meeting(
        child,
        starts_at=datetime(2026, 11, 2, 10, tzinfo=UTC),
        venue="Synthetic hub",
        online_link=None,
        invitees=[Invitee(Agency.POLICE)],
        meta=PSY,
    )
    held = app.get_meetings(child)
    assert isinstance(held, FormulationMeetings)
    assert set(plain(held.meetings)) == {*recorded["meetings"], str(meeting)}
    assert app.get_meetings(child, date.today()).meetings.keys() == held.meetings.keys()


def test_an_entry_since_the_split_is_published_as_before_and_opens_with_the_same_binding(
    golden: tuple[FormulationApplication, UUID, dict[str, Any]],
) -> None:
    app, child, _ = golden
    before = app.max_notification_id()
    app.add_timeline_entry(
        child,
        when=LifeDate.create("year", year=2019),
        category=TimelineCategory.MOVE,
        description="Synthetic: moved school",
        source="Synthetic: aunt",
        sensitivity=Sensitivity.STANDARD,
        meta=PSY,
    )
    published = []
    for notification in app.notifications(before + 1, 100):
        event = app.mapper.to_sealed_domain_event(notification)  # type: ignore[attr-defined]
        envelope = REGISTRY.to_envelope(event, notification.id)
        if envelope is not None:
            published.append(envelope)
    (added,) = published  # the Started snapshot is not published: its entries were, before
    assert added.event_type == "TimelineEntryAdded"
    assert added.aggregate_id == life_story_id_for(child)
    binding = REGISTRY.sealed_event("TimelineEntryAdded")
    assert binding == "FormulationCase.TimelineEntryAdded"
    assert (
        app.cipher.open(child, "description", added.data["description"], event=binding)
        == "Synthetic: moved school"
    )
