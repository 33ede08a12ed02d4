"""The child's life story: dated timeline entries, apart from the formulation plan.

The sequencing rule (`FormulationCase`) needs the stage and the plan, never the life story, so
the timeline is its own aggregate: adding the hundredth entry replays the life story only.

Stored before the split, a child's entries are events of their formulation case
(`FormulationCase.TimelineEntryAdded`, ...). `life_story_from` reads those into a `LifeStory`
(the same event bodies apply them), and the first change after the split starts the child's
life story with a snapshot of them (`Started.imported`); the old events stay where they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any
from uuid import UUID, uuid5

from eventsourcing.domain import event

from services.formulation.records import TimelineEntry
from services.formulation.values import (
    NAMESPACE,
    LifeDate,
    Sensitivity,
    TimelineCategory,
    checked_text,
    invalid,
)
from shared.domain import (
    Area,
    Clear,
    Conflict,
    EcmAggregate,
    Meta,
    NotFound,
    NotPersonal,
    Personal,
    PersonalItems,
    register_stored_topics,
)


def life_story_id_for(child_id: UUID) -> UUID:
    """The id of a child's life story: derived from the child's id."""
    return uuid5(NAMESPACE, f"life-story:{child_id}")


def entry_as_dict(entry: TimelineEntry) -> dict[str, Any]:
    """An entry as a snapshot item (`Started.imported`)."""
    return {
        "entry_id": entry.entry_id,
        "when": entry.when.as_dict(),
        "category": str(entry.category),
        "description": entry.description,
        "source_of_information": entry.source,
        "sensitivity": str(entry.sensitivity),
        "added_by": entry.added_by,
        "corrections": entry.corrections,
        "retracted": entry.retracted,
        "retraction_reason": entry.retraction_reason,
    }


def entry_from_dict(item: dict[str, Any]) -> TimelineEntry:
    """Back from a snapshot item."""
    return TimelineEntry(
        item["entry_id"],
        LifeDate.from_dict(item["when"]),
        TimelineCategory(item["category"]),
        item.get("description"),
        item.get("source_of_information"),
        Sensitivity(item["sensitivity"]),
        item["added_by"],
        int(item.get("corrections", 0)),
        bool(item.get("retracted")),
        item.get("retraction_reason"),
    )


class LifeStory(EcmAggregate):
    """A child's life story with ECM: one per child, its id derived from the child's id."""

    @staticmethod
    def create_id(child_id: UUID, **_: object) -> UUID:
        """One life story per child."""
        return life_story_id_for(child_id)

    class Started(EcmAggregate.Created):
        child_id: UUID
        area: Area
        imported: Annotated[
            list[dict[str, Any]], PersonalItems("description", "source_of_information")
        ]
        meta: Meta

    @classmethod
    def start(
        cls, child_id: UUID, area: Area, entries: Iterable[TimelineEntry], meta: Meta
    ) -> LifeStory:
        """Start the child's life story, with the entries recorded before the split."""
        return cls(
            child_id=child_id,
            area=Area(area),
            imported=[entry_as_dict(e) for e in entries],
            meta=meta,
        )

    @event(Started)
    def __init__(
        self, child_id: UUID, area: Area, imported: list[dict[str, Any]], meta: Meta
    ) -> None:
        self.child_id = child_id
        self.area = Area(area)
        self.timeline: dict[UUID, TimelineEntry] = {}
        for item in imported:
            self.timeline[item["entry_id"]] = entry_from_dict(item)

    def move_area(self, area: Area, meta: Meta) -> bool:
        """Follow the child to another YJS area; False when already there."""
        if Area(area) == self.area:
            return False
        self._area_changed(child_id=self.child_id, area=Area(area), meta=meta)
        return True

    class AreaChanged(EcmAggregate.Event):
        child_id: UUID
        area: Area
        meta: Meta

    @event(AreaChanged)
    def _area_changed(self, child_id: UUID, area: Area, meta: Meta) -> None:
        self.area = Area(area)

    def add_timeline_entry(
        self,
        entry_id: UUID,
        when: LifeDate,
        category: TimelineCategory,
        description: str,
        source: str | None,
        sensitivity: Sensitivity,
        meta: Meta,
    ) -> None:
        """Add a dated entry to the child's life story."""
        if entry_id in self.timeline:
            raise Conflict(f"entry_id: timeline entry {entry_id} already exists", field="entry_id")
        checked_text(description, "description")
        self._timeline_entry_added(
            child_id=self.child_id,
            entry_id=entry_id,
            when=when.as_dict(),
            category=str(TimelineCategory(category)),
            description=description,
            source_of_information=checked_text(source, "source", required=False),
            sensitivity=str(Sensitivity(sensitivity)),
            meta=meta,
        )

    class TimelineEntryAdded(EcmAggregate.Event):
        child_id: UUID
        entry_id: UUID
        when: Clear[dict[str, Any]]
        category: NotPersonal
        description: Personal[str | None]
        source_of_information: Personal[str | None]
        sensitivity: NotPersonal
        meta: Meta

    @event(TimelineEntryAdded)
    def _timeline_entry_added(
        self,
        child_id: UUID,
        entry_id: UUID,
        when: dict[str, Any],
        category: str,
        description: str | None,
        source_of_information: str | None,
        sensitivity: str,
        meta: Meta,
    ) -> None:
        self.timeline[entry_id] = TimelineEntry(
            entry_id,
            LifeDate.from_dict(when),
            TimelineCategory(category),
            description,
            source_of_information,
            Sensitivity(sensitivity),
            meta.actor_id,
        )

    def timeline_entry(self, entry_id: UUID) -> TimelineEntry:
        """The entry, or NotFound."""
        try:
            return self.timeline[entry_id]
        except KeyError:
            raise NotFound(f"timeline entry {entry_id} not found", field="entry_id") from None

    def correct_timeline_entry(
        self,
        entry_id: UUID,
        meta: Meta,
        *,
        when: LifeDate | None = None,
        category: TimelineCategory | None = None,
        description: str | None = None,
        source: str | None = None,
        sensitivity: Sensitivity | None = None,
    ) -> None:
        """Correct an entry with a reason; the original stays in the history."""
        entry = self.timeline_entry(entry_id)
        if entry.retracted:
            raise Conflict(f"entry_id: timeline entry {entry_id} was retracted", field="entry_id")
        if not meta.reason:
            raise invalid("reason", "a correction needs a reason")
        if (
            when is None
            and category is None
            and description is None
            and source is None
            and sensitivity is None
        ):
            raise invalid("body", "a correction must change at least one field")
        if description is not None:
            checked_text(description, "description")
        self._timeline_entry_corrected(
            child_id=self.child_id,
            entry_id=entry_id,
            when=(when or entry.when).as_dict(),
            category=str(TimelineCategory(category or entry.category)),
            description=entry.description if description is None else description,
            source_of_information=entry.source if source is None else source,
            sensitivity=str(Sensitivity(sensitivity or entry.sensitivity)),
            meta=meta,
        )

    class TimelineEntryCorrected(EcmAggregate.Event):
        child_id: UUID
        entry_id: UUID
        when: Clear[dict[str, Any]]
        category: NotPersonal
        description: Personal[str | None]
        source_of_information: Personal[str | None]
        sensitivity: NotPersonal
        meta: Meta

    @event(TimelineEntryCorrected)
    def _timeline_entry_corrected(
        self,
        child_id: UUID,
        entry_id: UUID,
        when: dict[str, Any],
        category: str,
        description: str | None,
        source_of_information: str | None,
        sensitivity: str,
        meta: Meta,
    ) -> None:
        entry = self.timeline[entry_id]
        entry.when = LifeDate.from_dict(when)
        entry.category = TimelineCategory(category)
        entry.description = description
        entry.source = source_of_information
        entry.sensitivity = Sensitivity(sensitivity)
        entry.corrections += 1

    def retract_timeline_entry(self, entry_id: UUID, meta: Meta) -> None:
        """Retract an entry recorded in error, with a reason; it stays in the history."""
        entry = self.timeline_entry(entry_id)
        if entry.retracted:
            raise Conflict(
                f"entry_id: timeline entry {entry_id} is already retracted", field="entry_id"
            )
        if not meta.reason:
            raise invalid("reason", "a retraction needs a reason")
        self._timeline_entry_retracted(child_id=self.child_id, entry_id=entry_id, meta=meta)

    class TimelineEntryRetracted(EcmAggregate.Event):
        child_id: UUID
        entry_id: UUID
        meta: Meta

    @event(TimelineEntryRetracted)
    def _timeline_entry_retracted(self, child_id: UUID, entry_id: UUID, meta: Meta) -> None:
        entry = self.timeline[entry_id]
        entry.retracted = True
        entry.retraction_reason = meta.reason

    def life_story(self, include_retracted: bool = False) -> list[TimelineEntry]:
        """The entries in life order (calendar dates first, then approximate ages)."""
        entries = [e for e in self.timeline.values() if include_retracted or not e.retracted]
        return sorted(entries, key=lambda e: e.when.sort_key())

    # -- formulation meetings ----------------------------------------------------------------


SEALED_AS = {
    "TimelineEntryAdded": "FormulationCase.TimelineEntryAdded",
    "TimelineEntryCorrected": "FormulationCase.TimelineEntryCorrected",
    "TimelineEntryRetracted": "FormulationCase.TimelineEntryRetracted",
}
"""Entries are sealed as they were before the split (one binding per published event type)."""
for _name, _sealed_as in SEALED_AS.items():
    vars(LifeStory)[_name].sealed_as = _sealed_as

LEGACY = frozenset({"TimelineEntryAdded", "TimelineEntryCorrected", "TimelineEntryRetracted"})
"""The formulation case's events, from before the split, that belong to the life story."""
_APPLY = {
    "TimelineEntryAdded": "_timeline_entry_added",
    "TimelineEntryCorrected": "_timeline_entry_corrected",
    "TimelineEntryRetracted": "_timeline_entry_retracted",
}


def life_story_from(child_id: UUID, area: Area, case_events: Iterable[Any]) -> LifeStory:
    """The life story recorded in a formulation case's events (from before the split): a view,
    never saved (its own events are discarded); `LifeStory.start` saves its entries."""
    story = LifeStory(child_id=child_id, area=area, imported=[], meta=Meta("", "", "", ""))
    for case_event in case_events:
        name = type(case_event).__qualname__.rsplit(".", 1)[-1]
        if name in LEGACY:
            values = {
                k: v
                for k, v in vars(case_event).items()
                if k not in ("originator_id", "originator_version", "timestamp")
            }
            getattr(story, _APPLY[name])(**values)
    story.collect_events()
    return story


# The topics these events are stored under: keep this module name if the classes move.
register_stored_topics("services.formulation.life_story", LifeStory)
