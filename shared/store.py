"""The event store every service uses: eventsourcing with per-child field encryption."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, date, datetime, time
from functools import cache
from typing import Any, ClassVar, ParamSpec, TypeVar, cast
from uuid import UUID

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    ProcessingEvent,
    project_aggregate,
)
from eventsourcing.domain import DomainEventProtocol, MutableOrImmutableAggregate
from eventsourcing.persistence import (
    IntegrityError,
    JSONTranscoder,
    Mapper,
    Notification,
    ProcessRecorder,
    StoredEvent,
    Tracking,
    Transcoder,
)

from shared import wakeup
from shared.crypto import FieldCipher, KeyVault, event_name
from shared.domain import (
    ConcurrentWrite,
    EcmAggregate,
    NotFound,
    RecordNotFound,
    personal_data,
)
from shared.fields import checked_day
from shared.settings import Settings
from shared.sql import ensure_pg_schema
from shared.transcoding import register_ecm_transcodings

A = TypeVar("A", bound=EcmAggregate)
T = TypeVar("T")
P = ParamSpec("P")
RACE_ATTEMPTS = 10
Authorise = Callable[[A], None]
"""Decides whether the caller may use an aggregate just loaded (raises RecordNotFound or
Forbidden when not)."""
_unit_of_work: ContextVar[tuple[EcmApplication, ProcessingEvent[UUID]] | None] = ContextVar(
    "ecm_unit_of_work", default=None
)


def aggregate_of(event_cls: type[object]) -> type[EcmAggregate] | None:
    """The EcmAggregate class an event class is nested in, if any."""
    return _aggregate_of(event_cls.__module__, event_cls.__qualname__)


@cache
def _aggregate_of(module: str, qualname: str) -> type[EcmAggregate] | None:
    owner = getattr(sys.modules.get(module), qualname.split(".")[0], None)
    if isinstance(owner, type) and issubclass(owner, EcmAggregate):
        return owner
    return None


def child_of(event_cls: type[object], state: dict[str, Any], originator_id: Any) -> Any:
    """Which child an event's personal data belongs to."""
    owner = aggregate_of(event_cls)
    if owner is not None and owner.child_key_is_id:
        return originator_id
    return state.get("child_id")


Change = Callable[..., Any]
"""FieldCipher.seal or FieldCipher.open: (child_id, field path, value, *, event)."""


class PersonalDataMapper(Mapper[UUID]):
    """Seals an aggregate's personal fields under the child's key before storing.

    Each value is bound to the child, the event class (`event_name`) and the field's path, so
    that a stored or published ciphertext moved elsewhere does not open; a personal field that
    holds an unsealed value fails to load (NotSealed) rather than pass as plain text.

    What is sealed is declared by type on each event class (`shared.domain.personal_data`):
    attributes annotated `Personal[...]` are sealed as one value; list attributes annotated
    `PersonalItems(...)` have the named keys of each item sealed one by one, so that plain
    facts in the same item (agency, dates, ids) stay readable for audit and evaluation.
    """

    def __init__(self, transcoder: Transcoder, cipher: FieldCipher) -> None:
        super().__init__(transcoder=transcoder)
        self.fields = cipher

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        state = self._transformed(domain_event, self.fields.seal, require_child=True)
        if state is not None:
            sealed = object.__new__(type(domain_event))
            object.__setattr__(sealed, "__dict__", state)
            domain_event = sealed
        return super().to_stored_event(domain_event)

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        event = self.to_sealed_domain_event(stored_event)
        state = self._transformed(event, self.fields.open, require_child=False)
        if state is not None:
            vars(event).update(state)
        return event

    def to_sealed_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        """The domain event with personal fields left sealed (for the relay and audits)."""
        return super().to_domain_event(stored_event)

    @staticmethod
    def _transformed(
        event: object, change: Change, *, require_child: bool
    ) -> dict[str, Any] | None:
        """A copy of the event's state with every personal value changed; None if none."""
        cls = type(event)
        if aggregate_of(cls) is None:
            return None
        declared = personal_data(cls)
        state = dict(vars(event))
        whole = declared.whole.intersection(state)
        items = {k: v for k, v in declared.items.items() if isinstance(state.get(k), list)}
        if not whole and not items:
            return None
        child_id = child_of(cls, state, state["originator_id"])
        if child_id is None:
            if require_child:
                raise TypeError(f"{cls.__qualname__} has personal fields but no child_id")
            return None
        event = event_name(cls)
        for name in whole:
            state[name] = change(child_id, name, state[name], event=event)
        for name, keys in items.items():
            state[name] = [
                {
                    k: change(child_id, f"{name}.{k}", v, event=event) if k in keys else v
                    for k, v in item.items()
                }
                for item in state[name]
            ]
        return state


class EcmApplication(Application[UUID]):
    """An eventsourcing application configured from Settings, sealing personal data."""

    service: ClassVar[str] = ""

    def __init__(self, settings: Settings, vault: KeyVault) -> None:
        self.settings = settings
        self.vault = vault
        self.cipher = FieldCipher(vault)
        ensure_pg_schema(settings, self.service)
        super().__init__(env=settings.eventsourcing_env(self.service))

    def construct_recorder(self) -> ProcessRecorder:
        # A process recorder: consumers save their effects with a Tracking record atomically.
        return self.factory.process_recorder()

    def construct_mapper(self) -> Mapper[UUID]:
        return PersonalDataMapper(transcoder=self.construct_transcoder(), cipher=self.cipher)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_ecm_transcodings(transcoder)

    def load(
        self, cls: type[A], aggregate_id: UUID, what: str, authorise: Authorise[A] | None = None
    ) -> A:
        """Load an aggregate or raise NotFound naming `what`; `authorise` decides whether the
        caller may use it (e.g. by its area) where it is loaded, so a use case loads once."""
        try:
            aggregate: object = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise RecordNotFound(f"{what} {aggregate_id} not found") from None
        if not isinstance(aggregate, cls):
            raise RecordNotFound(f"{what} {aggregate_id} not found")
        if authorise is not None:
            authorise(aggregate)
        return aggregate

    def save_all(self, *aggregates: MutableOrImmutableAggregate[UUID]) -> None:
        """Save atomically; a concurrent writer's change makes this a Conflict.

        Inside `process` the events are collected instead, to commit with the tracking.
        """
        unit = _unit_of_work.get()
        if unit is not None and unit[0] is self:
            unit[1].collect_events(*aggregates)
            return
        try:
            self.save(*aggregates)
        except IntegrityError:
            raise ConcurrentWrite(
                "expected_version: the record was changed by someone else; reload and retry",
                field="expected_version",
            ) from None

    def process(
        self, tracking_name: str | None, notification_id: int, handle: Callable[[], object]
    ) -> None:
        """Run `handle` as the effect of one message: every save it makes and the message's
        Tracking record commit in one recorder transaction (Conflict if another writer won)."""
        tracking = Tracking(tracking_name, notification_id) if tracking_name else None
        unit: ProcessingEvent[UUID] = ProcessingEvent(tracking)
        token = _unit_of_work.set((self, unit))
        try:
            handle()
        finally:
            _unit_of_work.reset(token)
        if not unit.events and tracking is None:
            return
        try:
            recordings = self._record(unit)
        except IntegrityError:
            raise ConcurrentWrite(
                "the record was changed by someone else", field="expected_version"
            ) from None
        self._notify(recordings)

    def _notify(self, recordings: list[Any]) -> None:
        super()._notify(recordings)
        if recordings:
            wakeup.notify(self.service, self.settings)  # wake its relay and background work

    def retrying(self, change: Callable[[], T]) -> T:
        """Run a load-change-save use case, again when it lost a race with another writer.

        Safe for every caller: one who sent `expected_version` finds the record moved on when
        it loads again, and gets the Conflict (409) from `check_version`.
        """
        for attempt in range(1, RACE_ATTEMPTS + 1):
            try:
                return change()
            except ConcurrentWrite:
                if attempt == RACE_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def notifications(self, start: int, limit: int) -> list[Notification]:
        """Notifications from `start` (inclusive), in order."""
        return cast(
            list[Notification], self.recorder.select_notifications(start=start, limit=limit)
        )

    def max_notification_id(self) -> int:
        """The id of the last stored notification (0 when empty)."""
        return self.recorder.max_notification_id() or 0


def retry_on_race(method: Callable[P, T]) -> Callable[P, T]:
    """Mark a use case (load, one domain call, save) to be retried after a lost race."""

    @functools.wraps(method)
    def use_case(*args: P.args, **kwargs: P.kwargs) -> T:
        app = args[0]
        assert isinstance(app, EcmApplication)
        return app.retrying(lambda: method(*args, **kwargs))

    return use_case


def end_of_day(day: date) -> datetime:
    """The last instant of `day` in UTC (a record 'as it stood on' that date)."""
    return datetime.combine(day, time.max, tzinfo=UTC)


def load_as_of(
    app: EcmApplication,
    cls: type[A],
    aggregate_id: UUID,
    what: str,
    as_of: date,
    authorise: Authorise[A] | None = None,
) -> A:
    """The aggregate as it stood at the end of `as_of` (point in time), from one read of its
    events; `authorise` is asked about the aggregate as it stands now (its current area)."""
    events = list(app.events.get(aggregate_id))
    current = project_aggregate(None, events)
    if not isinstance(current, cls):  # unknown ids are NotFound, whatever the date
        raise RecordNotFound(f"{what} {aggregate_id} not found")
    if authorise is not None:
        authorise(current)
    checked_day("as_of", as_of)
    cutoff = end_of_day(as_of)
    until = []
    for domain_event in events:
        if domain_event.timestamp > cutoff:
            break
        until.append(domain_event)
    if not until:
        raise NotFound(f"{what} {aggregate_id} did not exist on {as_of.isoformat()}")
    aggregate = project_aggregate(None, until)
    assert isinstance(aggregate, cls)
    return aggregate
