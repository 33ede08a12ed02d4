"""One consumption model for every consumer: strictly in stream order, effect and position
committed together, a failing message holding back the ones behind it.

A consumer is a *sink* (where its effects and its tracking live) fed by a *runner* (which
pulls from a durable JetStream consumer). The sink's tracking is the truth: for each upstream
service, the last notification id whose effect is committed, written in the same transaction
as the effect (a read model's SQL transaction, or an event store's recorder transaction with
an eventsourcing `Tracking` record). A message whose notification id is at or below that
position was applied already and changes nothing, whatever its stream sequence (a duplicate
republished past the dedup window included). The stream sequence of the last applied message
is kept too, as the cursor the runner restarts the JetStream consumer from.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from pydantic import ValidationError
from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    delete,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from shared import metrics, migrations
from shared.contracts import STREAM, Envelope
from shared.domain import ConcurrentWrite, MissingPrecondition
from shared.signing import KeyRing, Unauthentic

if TYPE_CHECKING:
    from nats.aio.msg import Msg

    from shared.leader import LeaderLock
    from shared.settings import Settings
    from shared.store import EcmApplication

log = logging.getLogger(__name__)
STREAM_CURSOR = "@stream"  # the source name under which the stream sequence is kept
REFUSED = ("unreadable:", "unauthentic:")  # parked never to be applied, not even on replay
CONFLICT_RETRIES = 20

metadata = MetaData()
positions = Table(
    "consumer_positions",
    metadata,
    Column("consumer", String(100), primary_key=True),
    Column("source", String(100), primary_key=True),  # an upstream service, or STREAM_CURSOR
    Column("position", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
parked = Table(
    "consumer_parked",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("consumer", String(100), nullable=False, index=True),
    Column("seq", Integer, nullable=False),
    Column("message_id", String(200), nullable=False),
    Column("subject", String(300), nullable=False),
    Column("payload", Text, nullable=False),
    Column("error", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("parked_at", DateTime(timezone=True), nullable=False),
    Column("replayed_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("consumer", "seq", name="uq_consumer_parked_seq"),
)
read_model_versions = Table(  # the version each read model's rows were built with
    "read_model_versions",
    metadata,
    Column("consumer", String(100), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("built_at", DateTime(timezone=True), nullable=False),
)


class Stopping(Exception):
    """The node stops while a message is held back: leave the batch unacknowledged."""


@dataclass(frozen=True)
class Delivery:
    """One message as a consumer applies it: its stream sequence and its envelope."""

    seq: int
    envelope: Envelope

    @property
    def source(self) -> str:
        """The upstream service the message speaks for."""
        return self.envelope.service


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` is one token, a final `>` is one or more."""
    want, have = pattern.split("."), subject.split(".")
    for index, token in enumerate(want):
        if token == ">":
            return len(have) > index
        if index >= len(have) or (token != "*" and token != have[index]):
            return False
    return len(want) == len(have)


def matches_any(patterns: Sequence[str], subject: str) -> bool:
    """True when `subject` matches one of the patterns."""
    return any(subject_matches(pattern, subject) for pattern in patterns)


def _insert(conn: Connection, table: Table) -> Any:
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


class Tracker:
    """Positions and parked messages of one consumer, kept in one SQL database."""

    def __init__(self, engine: Engine, consumer: str) -> None:
        self.engine = engine
        self.consumer = consumer
        migrations.ensure(engine, "tracking")

    def lock(self, conn: Connection) -> dict[str, int]:
        """Take the consumer's write lock in `conn` and return its positions by source."""
        now = datetime.now(UTC)
        conn.execute(
            _insert(conn, positions)
            .values(
                consumer=self.consumer,
                source=STREAM_CURSOR,
                position=0,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["consumer", "source"])
        )
        query = select(positions.c.source, positions.c.position).where(
            positions.c.consumer == self.consumer
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        else:  # SQLite: a write now makes this a write transaction, serialising writers
            conn.execute(
                update(positions)
                .where(
                    positions.c.consumer == self.consumer,
                    positions.c.source == STREAM_CURSOR,
                )
                .values(position=positions.c.position)
            )
        return {row.source: int(row.position) for row in conn.execute(query)}

    def save(self, conn: Connection, moved: dict[str, int]) -> None:
        """Write the positions that moved, in the caller's transaction."""
        now = datetime.now(UTC)
        for source, position in moved.items():
            stmt = _insert(conn, positions).values(
                consumer=self.consumer, source=source, position=position, updated_at=now
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["consumer", "source"],
                    set_={"position": position, "updated_at": now},
                )
            )

    def read(self, conn: Connection) -> dict[str, int]:
        """Every position of the consumer (its stream cursor under STREAM_CURSOR), in `conn`."""
        rows = conn.execute(
            select(positions.c.source, positions.c.position).where(
                positions.c.consumer == self.consumer
            )
        )
        return {row.source: int(row.position) for row in rows}

    def positions(self) -> dict[str, int]:
        """Every position of the consumer (its stream cursor under STREAM_CURSOR)."""
        with self.engine.connect() as conn:
            return self.read(conn)

    def park(
        self,
        conn: Connection,
        seq: int,
        message_id: str,
        subject: str,
        payload: str,
        error: str,
        attempts: int,
    ) -> None:
        """Keep a message that failed every attempt where an operator sees it."""
        conn.execute(
            _insert(conn, parked)
            .values(
                consumer=self.consumer,
                seq=seq,
                message_id=message_id,
                subject=subject,
                payload=payload,
                error=error[:4000],
                attempts=attempts,
                parked_at=datetime.now(UTC),
            )
            .on_conflict_do_nothing(index_elements=["consumer", "seq"])
        )

    def parked(self) -> list[dict[str, Any]]:
        """Parked messages not replayed yet, oldest first."""
        query = (
            select(parked)
            .where(parked.c.consumer == self.consumer, parked.c.replayed_at.is_(None))
            .order_by(parked.c.seq)
        )
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def forget(self, conn: Connection) -> None:
        """Drop every position (a rebuild starts from the beginning)."""
        conn.execute(delete(positions).where(positions.c.consumer == self.consumer))


def fresh(deliveries: Iterable[Delivery], at: dict[str, int]) -> Iterable[Delivery]:
    """The deliveries not applied yet, advancing `at` (positions by source) as it goes."""
    for delivery in deliveries:
        nid = delivery.envelope.notification_id
        if delivery.seq <= at.get(STREAM_CURSOR, 0):
            continue  # applied already: a redelivery
        if nid <= at.get(delivery.source, 0):
            at[STREAM_CURSOR] = delivery.seq  # a duplicate past the dedup window: move past it
            continue
        yield delivery
        at[delivery.source] = nid
        at[STREAM_CURSOR] = delivery.seq


class Sink(ABC):
    """Where a consumer's effects and its tracking are committed together."""

    name: str = ""
    subject: str = ""
    # The subjects the sink handles, when narrower than `subject`: its durable consumer then
    # filters on exactly these (JetStream filter_subjects), so nothing else is fetched.
    subjects: tuple[str, ...] = ()
    tracker: Tracker

    @property
    def filters(self) -> tuple[str, ...]:
        """The subject filters of the sink's durable consumer."""
        return self.subjects or (self.subject,)

    def position(self) -> int:
        """The stream sequence of the last message applied (0 before the first)."""
        return self.tracker.positions().get(STREAM_CURSOR, 0)

    @abstractmethod
    def commit(self, deliveries: Sequence[Delivery]) -> int:
        """Apply the deliveries not applied yet, in order, all or none; returns how many."""

    @abstractmethod
    def park(self, delivery: Delivery, error: str, attempts: int) -> None:
        """Set a message aside with its error and move past it, atomically."""

    @abstractmethod
    def replay(self, envelope: Envelope) -> None:
        """Apply a parked message again without moving the position."""

    def parked(self) -> list[dict[str, Any]]:
        """Parked messages not replayed yet."""
        return self.tracker.parked()

    def mark_replayed(self, parked_id: int) -> None:
        """A parked message went through on replay."""
        with self.engine_for_parking().begin() as conn:
            conn.execute(
                update(parked).where(parked.c.id == parked_id).values(replayed_at=datetime.now(UTC))
            )

    def engine_for_parking(self) -> Engine:
        """The database holding the parked messages."""
        return self.tracker.engine

    def consumer(self) -> Consumer:
        """This sink as a named durable consumer."""
        return Consumer(self)


class SqlProjection(Sink):
    """A read model in SQL: its rows and its positions commit in one transaction.

    Its tables are not migrated: raise `version` when their shape or meaning changes, and
    the node rebuilds the read model from the stores at start (services/migrate.py).
    """

    tables: tuple[Table, ...] = ()
    version: int = 1

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.tracker = Tracker(engine, self.name)
        for table_metadata in {table.metadata for table in self.tables}:
            table_metadata.create_all(engine)
        if self.built_version() is None:
            # Never recorded: either brand new, or built before read models had versions
            # (their shape then is version 1). Either way the rows match that version.
            self.record_version(1 if self.tracker.positions() else self.version)

    def built_version(self) -> int | None:
        """The version the rows were built with (None before it was first recorded)."""
        with self.engine.connect() as conn:
            value = conn.execute(
                select(read_model_versions.c.version).where(
                    read_model_versions.c.consumer == self.name
                )
            ).scalar()
        return int(value) if value is not None else None

    def is_current(self) -> bool:
        """True when the rows were built by this version of the read model."""
        return self.built_version() == self.version

    def record_version(self, version: int | None = None, conn: Connection | None = None) -> None:
        """Record that the rows are built with `version` (this class's by default)."""
        values = {
            "version": self.version if version is None else version,
            "built_at": datetime.now(UTC),
        }
        with contextlib.ExitStack() as stack:
            c = conn if conn is not None else stack.enter_context(self.engine.begin())
            c.execute(
                _insert(c, read_model_versions)
                .values(consumer=self.name, **values)
                .on_conflict_do_update(index_elements=["consumer"], set_=values)
            )

    def reset(self) -> None:
        """Drop and recreate the read model's tables in their current shape, emptied, and
        forget its positions (the caller rebuilds it from the stores)."""
        with self.engine.begin() as conn:
            self.tracker.lock(conn)
            for table in reversed(self.tables):
                table.drop(conn, checkfirst=True)
            for table in self.tables:
                table.create(conn)
            self.tracker.forget(conn)

    @abstractmethod
    def apply(self, conn: Connection, envelope: Envelope) -> None:
        """Change the read model for one message, in the caller's transaction."""

    def commit(self, deliveries: Sequence[Delivery]) -> int:
        with self.engine.begin() as conn:
            at = self.tracker.lock(conn)
            before = dict(at)
            applied = 0
            for delivery in fresh(deliveries, at):
                self.apply(conn, delivery.envelope)
                applied += 1
            self.tracker.save(conn, {k: v for k, v in at.items() if before.get(k) != v})
        return applied

    def park(self, delivery: Delivery, error: str, attempts: int) -> None:
        with self.engine.begin() as conn:
            at = self.tracker.lock(conn)
            before = dict(at)
            for _ in fresh([delivery], at):
                self.tracker.park(
                    conn,
                    delivery.seq,
                    delivery.envelope.message_id,
                    delivery.envelope.subject,
                    delivery.envelope.model_dump_json(),
                    error,
                    attempts,
                )
            self.tracker.save(conn, {k: v for k, v in at.items() if before.get(k) != v})

    def replay(self, envelope: Envelope) -> None:
        with self.engine.begin() as conn:
            self.tracker.lock(conn)
            self.apply(conn, envelope)


def require(result: Any, what: str) -> None:
    """Raise MissingPrecondition when an UPDATE touched no row."""
    if result.rowcount == 0:
        raise MissingPrecondition(f"{what} is not in the read model yet")


class ApplicationSink(Sink):
    """A process manager: its effects are events in its service's store, saved with an
    eventsourcing Tracking record per upstream service in the same recorder transaction."""

    def __init__(
        self,
        name: str,
        subject: str,
        app: EcmApplication,
        handle: Callable[[Envelope], object],
        engine: Engine,
        subjects: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.subject = subject
        self.subjects = subjects
        self.app = app
        self.handle = handle
        self.tracker = Tracker(engine, name)

    def tracking_name(self, source: str) -> str:
        """The eventsourcing application name this consumer's tracking of `source` uses."""
        return f"{self.name}/{source}"

    def _applied(self, source: str) -> int:
        return self.app.recorder.max_tracking_id(self.tracking_name(source)) or 0  # type: ignore[attr-defined]

    def commit(self, deliveries: Sequence[Delivery]) -> int:
        applied = 0
        for delivery in deliveries:
            nid = delivery.envelope.notification_id
            if nid <= self._applied(delivery.source):
                continue
            self._apply(delivery)
            applied += 1
        if deliveries:
            self._save_cursor(deliveries[-1].seq)
        return applied

    def _apply(self, delivery: Delivery) -> None:
        """Run the handler; its saves and the tracking record commit together. A concurrent
        writer on the same aggregate (a user's command) is a retry, not a failed delivery."""
        source, nid = delivery.source, delivery.envelope.notification_id
        for _ in range(CONFLICT_RETRIES):
            try:
                self.app.process(
                    self.tracking_name(source), nid, lambda: self.handle(delivery.envelope)
                )
                return
            except ConcurrentWrite:
                if nid <= self._applied(source):
                    return  # another instance applied it meanwhile
        raise ConcurrentWrite(
            f"{self.name}: message {delivery.envelope.message_id} kept conflicting"
        )

    def _save_cursor(self, seq: int) -> None:
        with self.tracker.engine.begin() as conn:
            at = self.tracker.lock(conn)
            if seq > at.get(STREAM_CURSOR, 0):
                self.tracker.save(conn, {STREAM_CURSOR: seq})

    def position(self) -> int:
        return self.tracker.positions().get(STREAM_CURSOR, 0)

    def park(self, delivery: Delivery, error: str, attempts: int) -> None:
        source, nid = delivery.source, delivery.envelope.notification_id
        if nid <= self._applied(source):
            return
        with self.tracker.engine.begin() as conn:
            self.tracker.lock(conn)
            self.tracker.park(
                conn,
                delivery.seq,
                delivery.envelope.message_id,
                delivery.envelope.subject,
                delivery.envelope.model_dump_json(),
                error,
                attempts,
            )
        # Parked first, then moved past: a crash between parks it again (idempotent by seq).
        self.app.process(self.tracking_name(source), nid, lambda: None)
        self._save_cursor(delivery.seq)

    def replay(self, envelope: Envelope) -> None:
        for _ in range(CONFLICT_RETRIES):
            try:
                self.app.process(None, 0, lambda: self.handle(envelope))
                return
            except ConcurrentWrite:
                continue
        raise ConcurrentWrite(f"{self.name}: replay of {envelope.message_id} kept conflicting")


@dataclass
class Consumer:
    """A named durable consumer: a subject filter and the sink its messages go to."""

    sink: Sink

    @property
    def name(self) -> str:
        """The durable consumer's name (also the name of its tracking)."""
        return self.sink.name

    @property
    def subject(self) -> str:
        """The subject filter."""
        return self.sink.subject

    @property
    def filters(self) -> tuple[str, ...]:
        """The subject filters (several when the sink handles several subjects)."""
        return self.sink.filters

    @property
    def rebuildable(self) -> bool:
        """True for read models (a process manager's effects are history, not a view)."""
        return isinstance(self.sink, SqlProjection)


def backoff_for(settings: Settings, attempt: int) -> float:
    """Delay before the next try after the given (1-based) failed attempt."""
    steps = settings.consumer_backoff_seconds or [1.0]
    return steps[min(attempt, len(steps)) - 1]


class Runner:
    """Feeds one consumer from its durable pull consumer, strictly in stream order.

    A batch is fetched and committed in one go when it applies cleanly; otherwise its
    messages are applied one by one, and the failing one is retried with backoff while the
    messages behind it wait (kept in progress on the server). After its last attempt it is
    parked (a log line at error level, `ecm parked list`), and the consumer moves on.
    """

    def __init__(
        self,
        consumer: Consumer,
        js: JetStreamContext,
        settings: Settings,
        keys: KeyRing,
        leader: LeaderLock | None = None,
    ) -> None:
        self.consumer = consumer
        self.keys = keys
        self.leader = leader
        self.sink = consumer.sink
        self.js = js
        self.settings = settings
        self.batch_size = settings.consumer_batch_size
        self.applied = 0
        self.parked = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set, starting over from the sink's position after errors.

        In order means one active runner per consumer: other processes stand by until the
        leader lock is free, and a runner that loses the lock stops consuming at once.
        """
        try:
            while not stop.is_set():
                if self.leader is not None and not await asyncio.to_thread(self.leader.acquire):
                    await _sleep_or_stop(stop, 1.0)
                    continue
                try:
                    await self._consume(stop)
                except Exception:
                    log.exception(
                        "consumer %s: stopped on an error; starting again from its "
                        "committed position",
                        self.consumer.name,
                    )
                    await _sleep_or_stop(stop, 1.0)
        finally:
            if self.leader is not None:
                self.leader.release()

    async def _leading(self) -> bool:
        return self.leader is None or await asyncio.to_thread(self.leader.still_held)

    async def subscribe(self) -> JetStreamContext.PullSubscription:
        """(Re)create the durable consumer at the committed position (see _subscribe)."""
        parked_now = len(await asyncio.to_thread(self.sink.parked))
        metrics.CONSUMER_PARKED.labels(self.consumer.name).set(parked_now)
        return await self._subscribe()

    async def _subscribe(self) -> JetStreamContext.PullSubscription:
        """(Re)create the durable consumer at the sink's committed position.

        The sink, not the server, knows what is applied: starting the durable consumer just
        after that position means nothing unacknowledged by an earlier process (killed
        mid-batch) can ever be delivered behind a later message.
        """
        position = await asyncio.to_thread(self.sink.position)
        name = self.consumer.name
        with contextlib.suppress(NotFoundError):
            await self.js.delete_consumer(STREAM, name)
        filters = self.consumer.filters
        config = ConsumerConfig(
            durable_name=name,
            filter_subject=filters[0] if len(filters) == 1 else None,
            filter_subjects=list(filters) if len(filters) > 1 else None,
            ack_policy=AckPolicy.ALL,  # one ack per batch, sent after its commit
            ack_wait=60,
            max_deliver=-1,  # the runner parks after its own count; the server never drops
            max_ack_pending=max(self.batch_size * 2, 1000),
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=position + 1,
        )
        await self.js.add_consumer(STREAM, config)
        return await self.js.pull_subscribe_bind(durable=name, stream=STREAM)

    async def _consume(self, stop: asyncio.Event) -> None:
        sub = await self.subscribe()
        try:
            while not stop.is_set():
                try:
                    messages = await sub.fetch(self.batch_size, timeout=1.0)
                except (TimeoutError, NatsTimeoutError):
                    continue
                if not await self._leading():
                    log.error("consumer %s: lost its leader lock; standing by", self.consumer.name)
                    return
                try:
                    await self.handle_batch(messages, stop)
                except Stopping:
                    return
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def handle_batch(self, messages: list[Msg], stop: asyncio.Event) -> None:
        """Apply a fetched batch in order, then acknowledge it."""
        deliveries: list[tuple[Msg, Delivery | str]] = []
        for msg in messages:
            deliveries.append((msg, self._delivery(msg)))
        good = [d for _, d in deliveries if isinstance(d, Delivery)]
        if len(good) == len(deliveries):
            try:
                self.applied += await asyncio.to_thread(self.sink.commit, good)
            except Exception:
                await self._one_by_one(deliveries, stop)
        else:
            await self._one_by_one(deliveries, stop)
        if messages:  # AckPolicy.ALL: the last message acknowledges the whole batch
            await messages[-1].ack()
        if messages and messages[-1].metadata.num_pending is not None:
            metrics.CONSUMER_LAG.labels(self.consumer.name).set(messages[-1].metadata.num_pending)

    def _delivery(self, msg: Msg) -> Delivery | str:
        """The message as a delivery, or why it must never be applied."""
        try:
            envelope = Envelope.model_validate_json(msg.data)
        except ValidationError:
            return f"{REFUSED[0]} not an ECM envelope"
        try:
            self.keys.verify(msg.subject, msg.headers, msg.data, envelope)
        except Unauthentic as error:
            return f"{REFUSED[1]} {error}"
        return Delivery(msg.metadata.sequence.stream, envelope)

    async def _one_by_one(
        self, deliveries: list[tuple[Msg, Delivery | str]], stop: asyncio.Event
    ) -> None:
        for index, (msg, delivery) in enumerate(deliveries):
            waiting = [m for m, _ in deliveries[index:]]
            if isinstance(delivery, str):
                await self._park_refused(msg, delivery)
                continue
            attempt = 0
            while True:
                attempt += 1
                try:
                    self.applied += await asyncio.to_thread(self.sink.commit, [delivery])
                    break
                except Exception as error:
                    if attempt >= self.settings.consumer_max_deliver:
                        log.error(
                            "consumer %s: parking %s (stream seq %d) after %d attempts: %s",
                            self.consumer.name,
                            delivery.envelope.message_id,
                            delivery.seq,
                            attempt,
                            _describe(error),
                        )
                        await asyncio.to_thread(self.sink.park, delivery, _describe(error), attempt)
                        self.parked += 1
                        metrics.CONSUMER_PARKED.labels(self.consumer.name).inc()
                        break
                    log.warning(
                        "consumer %s: %s failed (attempt %d), holding back %d "
                        "message(s) behind it: %s",
                        self.consumer.name,
                        delivery.envelope.message_id,
                        attempt,
                        len(waiting) - 1,
                        _describe(error),
                    )
                    for held in waiting:
                        with contextlib.suppress(Exception):
                            await held.in_progress()
                    await _sleep_or_stop(stop, backoff_for(self.settings, attempt))
                    if stop.is_set():
                        raise Stopping from None

    async def _park_refused(self, msg: Msg, reason: str) -> None:
        """Set aside a message that must never be applied (unreadable or unauthentic)."""
        seq = msg.metadata.sequence.stream
        message_id = (msg.headers or {}).get("Nats-Msg-Id", f"seq:{seq}")
        log.error(
            "consumer %s: refusing message %s (stream seq %d): %s",
            self.consumer.name,
            message_id,
            seq,
            reason,
        )
        engine = self.sink.engine_for_parking()

        def park() -> None:
            with engine.begin() as conn:
                at = self.sink.tracker.lock(conn)
                self.sink.tracker.park(
                    conn,
                    seq,
                    message_id[:200],
                    msg.subject[:300],
                    msg.data.decode(errors="replace"),
                    reason,
                    1,
                )
                if seq > at.get(STREAM_CURSOR, 0):
                    self.sink.tracker.save(conn, {STREAM_CURSOR: seq})

        await asyncio.to_thread(park)
        self.parked += 1
        metrics.CONSUMER_PARKED.labels(self.consumer.name).inc()


def _describe(error: Exception) -> str:
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}"


def replay_parked(consumer: Consumer) -> list[tuple[int, str]]:
    """Run each parked message of `consumer` through its sink again; returns failures."""
    failures: list[tuple[int, str]] = []
    for row in consumer.sink.parked():
        if str(row["error"]).startswith(REFUSED):
            failures.append((row["id"], f"refused, never applied: {row['error']}"))
            continue
        try:
            consumer.sink.replay(Envelope.model_validate_json(row["payload"]))
        except Exception as error:
            failures.append((row["id"], _describe(error)))
            continue
        consumer.sink.mark_replayed(row["id"])
    return failures


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
