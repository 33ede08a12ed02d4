"""Use cases of the evaluation read side: projects, and exports as of a day."""

from __future__ import annotations

import heapq
import tempfile
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine

from services.evaluation.dataset import Export, build
from services.evaluation.measures import ChildFacts, Parameters, load_facts
from services.evaluation.projection import EvaluationProjection
from services.evaluation.projects import PROJECTS_STORE, Projects
from shared.consumer import Delivery
from shared.domain import DomainError, Invalid

if TYPE_CHECKING:
    from services.plugin import Resources

BATCH = 500


def projects(system: Resources) -> Projects:
    """The evaluation projects of this deployment."""
    return Projects(system.engine(PROJECTS_STORE), system.vault)


def check_window(start: date, end: date, as_of: date, today: date) -> None:
    """The export's dates must make sense, naming the one at fault."""
    if end < start:
        raise Invalid("to: must not be before from", field="to")
    if as_of > today:
        raise Invalid("as_of: must not be in the future", field="as_of")
    if start > as_of:
        raise Invalid("from: must not be after as_of", field="from")


def cutoff(as_of: date) -> datetime:
    """The first instant after the as-of day (UTC)."""
    return datetime.combine(as_of + timedelta(days=1), time(0), tzinfo=UTC)


def project_as_of(
    deliveries: Iterable[Delivery],
    as_of: date,
    engine: Engine,
    step: Callable[[int], None] | None = None,
) -> Engine:
    """Build the evaluation read model from messages recorded by the end of `as_of`."""
    projection = EvaluationProjection(engine)
    until = cutoff(as_of)
    batch: list[Delivery] = []
    for delivery in deliveries:
        if delivery.envelope.occurred_at >= until:
            continue
        batch.append(delivery)
        if len(batch) >= BATCH:
            projection.commit(batch)
            if step:
                step(len(batch))
            batch = []
    if batch:
        projection.commit(batch)
        if step:
            step(len(batch))
    return engine


def facts_as_of(
    system: Resources, as_of: date | None, today: date, step: Callable[[int], None] | None = None
) -> dict[str, ChildFacts]:
    """The read model as it stands (live), or rebuilt from the stores as it stood on a day."""
    if as_of is None or as_of >= today:
        return load_facts(system.engine("evaluation-read"))
    from services.rebuild import history

    with tempfile.TemporaryDirectory(prefix="as-of-", dir=system.settings.data_path) as folder:
        engine = create_engine(f"sqlite:///{Path(folder) / 'evaluation.sqlite'}")
        try:
            project_as_of(history(system, "ecm.>"), as_of, engine, step)
            return load_facts(engine)
        finally:
            engine.dispose()


def dates_of_birth(system: Resources) -> Callable[[str], date | None]:
    """Each child's date of birth, read from the referrals store to make an age band (the date
    itself never leaves); None once erased or if the referrals service is not here."""
    from uuid import UUID

    app = system.apps.get("referrals")

    def lookup(child_id: str) -> date | None:
        if app is None:
            return None
        try:
            child = app.get_child(UUID(child_id))  # type: ignore[attr-defined]
        except DomainError:  # not in this store: no band rather than no export
            return None
        value = getattr(child, "date_of_birth", None)
        return value if isinstance(value, date) else None

    return lookup


def export(
    system: Resources,
    project_id: str,
    start: date,
    end: date,
    as_of: date | None,
    area: str | None,
    threshold: int,
    today: date | None = None,
    step: Callable[[int], None] | None = None,
) -> Export:
    """The export of a project for children first referred in [start, end]."""
    day = today or date.today()
    effective = as_of or day
    check_window(start, end, effective, day)
    project = projects(system).get(project_id)
    params = Parameters(project_id, start, end, effective, area, threshold)
    facts = facts_as_of(system, as_of, day, step)
    return build(facts, params, project, dates_of_birth(system))


def store_history(system: Resources) -> list[Delivery]:
    """Every message the relays would publish, read straight from the stores: each service's
    in its own order, the services interleaved by time (for a demo cohort, tests and
    benchmarks; a running system reads the stream)."""
    streams = []
    for registry in system.contracts.values():
        app = system.apps.get(registry.service)
        if app is None:
            continue
        found = []
        start = 1
        while notifications := app.notifications(start, BATCH):
            for notification in notifications:
                event = app.mapper.to_sealed_domain_event(notification)  # type: ignore[attr-defined]
                envelope = registry.to_envelope(event, notification.id)
                if envelope is not None:
                    found.append(envelope)
            start = notifications[-1].id + 1
        streams.append(found)
    merged = heapq.merge(*streams, key=lambda e: e.occurred_at)
    return [Delivery(seq, envelope) for seq, envelope in enumerate(merged, start=1)]
