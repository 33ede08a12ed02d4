"""The state of a stored aggregate as deterministic JSON: what the golden-store test compares."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from enum import Enum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from shared.store import EcmApplication

STORES = ("referrals", "formulation", "reviews", "notifications", "governance")
"""The services whose event stores the golden store holds."""

ENVELOPE = ("id", "version", "created_on", "modified_on")


def plain(value: Any) -> Any:
    """`value` as JSON data, the same for the same value whatever order it was built in."""
    if value is None or (
        isinstance(value, bool | int | float | str) and not isinstance(value, Enum)
    ):
        return value
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(plain(k)): plain(v) for k, v in sorted(value.items(), key=lambda i: str(i[0]))}
    if isinstance(value, set | frozenset):
        return sorted((plain(v) for v in value), key=repr)
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    raise TypeError(f"no plain form for {type(value).__name__}")


def state_of(aggregate: Aggregate) -> dict[str, Any]:
    """An aggregate's public attributes (and its id, version and dates) as JSON data."""
    state = {name: plain(getattr(aggregate, name)) for name in ENVELOPE}
    state.update({k: plain(v) for k, v in vars(aggregate).items() if not k.startswith("_")})
    return state


def aggregate_ids(app: EcmApplication) -> list[UUID]:
    """Every aggregate in the store, in the order first stored."""
    seen: dict[UUID, None] = {}
    for notification in app.notifications(1, 1_000_000):
        seen.setdefault(UUID(str(notification.originator_id)), None)
    return list(seen)


def state_of_store(app: EcmApplication) -> dict[str, Any]:
    """{aggregate id: {"class": qualified name, "state": ...}} for every aggregate in `app`."""
    found: dict[str, Any] = {}
    for aggregate_id in aggregate_ids(app):
        aggregate: Aggregate = app.repository.get(aggregate_id)
        cls = type(aggregate)
        found[str(aggregate_id)] = {
            "class": f"{cls.__module__}:{cls.__qualname__}",
            "state": state_of(aggregate),
        }
    return found


SPLIT = "formulation-split"
"""The section of a golden state with each formulation case's life story, meetings and
reports, which were part of the case before the split and are aggregates of their own since."""


def formulation_split(app: Any) -> dict[str, Any]:
    """{case id: {"timeline": ..., "meetings": ..., "reports": ...}} as today's code reads them
    for each case."""
    from services.formulation.domain import FormulationCase

    found: dict[str, Any] = {}
    for aggregate_id in aggregate_ids(app):
        case = app.repository.get(aggregate_id)
        if isinstance(case, FormulationCase):
            found[str(aggregate_id)] = {
                "timeline": plain(app.get_life_story(case.child_id).timeline),
                "meetings": plain(app.get_meetings(case.child_id).meetings),
                "reports": plain(app.get_reports(case.child_id).reports),
            }
    return found


REVIEWS_SPLIT = "reviews-split"
"""The section of a golden state with each review case's schedule and interventions, which
were part of the case before the split and are aggregates of their own since."""


def reviews_split(app: Any) -> dict[str, Any]:
    """{case id: {"reviews", "current_review_id", "interventions"}} as today's code reads
    them for each review case (from the case's events, or the parts' own streams)."""
    from services.reviews.domain import ReviewCase

    found: dict[str, Any] = {}
    for aggregate_id in aggregate_ids(app):
        case = app.repository.get(aggregate_id)
        if isinstance(case, ReviewCase):
            record = app.get_record(case.child_id)
            found[str(aggregate_id)] = {
                "reviews": plain(record.reviews),
                "current_review_id": plain(record.current_review_id),
                "interventions": plain(record.interventions),
            }
    return found
