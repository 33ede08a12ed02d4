"""The outbox relay: tails a service's notification log and publishes it to JetStream."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from eventsourcing.persistence import Notification
from nats.js import JetStreamContext
from nats.js.api import PubAck
from nats.js.errors import APIError, NotFoundError
from sqlalchemy import Column, DateTime, Engine, Integer, MetaData, String, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from shared import metrics, migrations
from shared.contracts import STREAM, ContractRegistry, Envelope, subject_for
from shared.leader import LeaderLock
from shared.signing import KeyRing
from shared.store import EcmApplication
from shared.wakeup import wait_for, woken_by_commits

log = logging.getLogger(__name__)
ALARM_POLL_SECONDS = 2.0
BATCH_NOT_ENABLED = 10174  # JetStream: the stream does not allow atomic batch publishing
WRONG_LAST_SEQUENCE, DUPLICATE_IN_BATCH = 10071, 10201
RACED = (WRONG_LAST_SEQUENCE, DUPLICATE_IN_BATCH)  # what a racing relay's publish gets
MAX_BATCH = 1000  # JetStream's limit on the messages of one atomic batch
metadata = MetaData()
relay_positions = Table(
    "relay_positions",
    metadata,
    Column("service", String(64), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
relay_alarms = Table(
    "relay_alarms",
    metadata,
    Column("service", String(64), primary_key=True),
    Column("reason", String(2000), nullable=False),
    Column("raised_at", DateTime(timezone=True), nullable=False),
)
stream_index = Table(
    "stream_index",
    metadata,
    Column("service", String(64), primary_key=True),
    Column("notification_id", Integer, primary_key=True),
    Column("seq", Integer, nullable=False),
)


class PositionStore:
    """Each relay's last published notification id, saved after the stream acknowledged."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        migrations.ensure(engine, "ops")

    def get(self, service: str) -> int:
        """The saved position (0 before the first publish)."""
        with self.engine.connect() as conn:
            value = conn.execute(
                select(relay_positions.c.position).where(relay_positions.c.service == service)
            ).scalar()
        return int(value or 0)

    def save(self, service: str, position: int, published: Sequence[tuple[int, int]] = ()) -> None:
        """Save a position (upsert; never moves backwards) and where each published
        notification sits on the stream, as (notification id, stream sequence) pairs."""
        values = {"service": service, "position": position, "updated_at": datetime.now(UTC)}
        dialect = self.engine.dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert(relay_positions).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["service"],
            set_={"position": position, "updated_at": values["updated_at"]},
            where=relay_positions.c.position < position,
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)
            if published:
                conn.execute(
                    insert(stream_index)
                    .values(
                        [
                            {"service": service, "notification_id": nid, "seq": seq}
                            for nid, seq in published
                        ]
                    )
                    .on_conflict_do_nothing(index_elements=["service", "notification_id"])
                )

    def alarm(self, service: str) -> str | None:
        """Why the relay of `service` stopped publishing, if it did."""
        with self.engine.connect() as conn:
            value = conn.execute(
                select(relay_alarms.c.reason).where(relay_alarms.c.service == service)
            ).scalar()
        return str(value) if value is not None else None

    def raise_alarm(self, service: str, reason: str) -> None:
        """Record that the relay of `service` stopped publishing, and why."""
        dialect = self.engine.dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        with self.engine.begin() as conn:
            conn.execute(
                insert(relay_alarms)
                .values(
                    service=service,
                    reason=reason[:2000],
                    raised_at=datetime.now(UTC),
                )
                .on_conflict_do_nothing(index_elements=["service"])
            )

    def clear_alarm(self, service: str) -> bool:
        """An operator has dealt with the cause; True when there was an alarm."""
        with self.engine.begin() as conn:
            return (
                conn.execute(
                    relay_alarms.delete().where(relay_alarms.c.service == service)
                ).rowcount
                > 0
            )

    def seq_of(self, service: str, notification_id: int) -> int | None:
        """The stream sequence of a published notification, if the index has it."""
        with self.engine.connect() as conn:
            value = conn.execute(
                select(stream_index.c.seq).where(
                    stream_index.c.service == service,
                    stream_index.c.notification_id == notification_id,
                )
            ).scalar()
        return int(value) if value is not None else None

    def sequences(self, service: str, start: int, stop: int) -> dict[int, int]:
        """Stream sequences of the notifications `start`..`stop` (inclusive) of `service`."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(stream_index.c.notification_id, stream_index.c.seq).where(
                    stream_index.c.service == service,
                    stream_index.c.notification_id.between(start, stop),
                )
            )
            return {int(r.notification_id): int(r.seq) for r in rows}


class RelayAlarm(Exception):
    """Something on the stream claims to speak for this service but is not its store's event."""


async def last_published(js: JetStreamContext, service: str) -> tuple[int, bytes | None, int]:
    """The notification id, body and stream sequence of the last message the stream holds
    for `service` (0, None, 0 when there is none)."""
    try:
        msg = await js.get_last_msg(STREAM, subject_for(service, ">"))
    except NotFoundError:
        return 0, None, 0
    msg_id = (msg.headers or {}).get("Nats-Msg-Id", "")
    prefix = f"{service}:"
    if not msg_id.startswith(prefix) or not msg_id[len(prefix) :].isdigit():
        raise RelayAlarm(
            f"the stream's last message on {subject_for(service, '>')} has the "
            f"id {msg_id!r}, which is not one this relay publishes"
        )
    return int(msg_id[len(prefix) :]), msg.data, msg.seq or 0


class Relay:
    """Publishes every stored event of one service exactly once, in order."""

    def __init__(
        self,
        app: EcmApplication,
        registry: ContractRegistry,
        js: JetStreamContext,
        positions: PositionStore,
        keys: KeyRing,
        *,
        batch_size: int = 200,
        poll_seconds: float = 0.2,
        leader: LeaderLock | None = None,
        atomic: bool = True,
        ack_timeout: float = 5.0,
    ) -> None:
        self.app = app
        self.registry = registry
        self.js = js
        self.positions = positions
        self.keys = keys
        self.service = app.service
        self.batch_size = min(batch_size, MAX_BATCH)
        self.poll_seconds = poll_seconds
        self.position = 0
        self.last_seq = 0  # the stream sequence of this service's last message
        self.wakeup = asyncio.Event()
        self.leader = leader
        self.atomic = atomic  # publish each window as one atomic batch
        self.ack_timeout = ack_timeout

    async def resume(self) -> int:
        """Start after both the saved position and the last message already on the stream.

        The stream's last message covers a relay that was down longer than the dedup
        window after publishing but before saving its position.
        """
        alarm = await asyncio.to_thread(self.positions.alarm, self.service)
        if alarm is not None:
            raise RelayAlarm(alarm)
        saved = await asyncio.to_thread(self.positions.get, self.service)
        on_stream, body, self.last_seq = await last_published(self.js, self.service)
        if on_stream > saved:
            await self._check_is_ours(on_stream, body)
        self.position = max(saved, on_stream)
        if on_stream > saved:
            published = await self._published_after(saved, on_stream)
            await asyncio.to_thread(self.positions.save, self.service, on_stream, published)
        return self.position

    def _message(self, notification: Notification) -> tuple[Envelope, bytes] | None:
        """The envelope and exact body this relay publishes for a stored notification."""
        event = self.app.mapper.to_sealed_domain_event(notification)  # type: ignore[attr-defined]
        envelope = self.registry.to_envelope(event, notification.id)
        if envelope is None:
            return None
        return envelope, envelope.model_dump_json().encode()

    async def _check_is_ours(self, nid: int, body: bytes | None) -> None:
        """The stream's last message for this service must be the stored event it claims to
        be: never move past the store, never trust an id header alone."""
        stored = await asyncio.to_thread(self.app.notifications, nid, 1)
        if not stored or stored[0].id != nid:
            raise RelayAlarm(
                f"the stream claims {self.service}:{nid}, but the store holds no "
                "such event (a forged or foreign message)"
            )
        message = self._message(stored[0])
        if message is None or message[1] != body:
            raise RelayAlarm(
                f"the stream's message {self.service}:{nid} is not the stored "
                "event of that id (a forged message)"
            )

    async def _published_after(self, saved: int, on_stream: int) -> list[tuple[int, int]]:
        """Where the notifications published but not recorded (a crash between the stream's
        acknowledgement and the save) sit on the stream, read back from the stream."""
        start = 0
        if saved:
            known = await asyncio.to_thread(self.positions.seq_of, self.service, saved)
            start = known or 0
        found: list[tuple[int, int]] = []
        subject, prefix = subject_for(self.service, ">"), f"{self.service}:"
        while True:
            try:
                msg = await self.js.get_msg(STREAM, seq=start + 1, subject=subject, next=True)
            except NotFoundError:
                return found
            start = msg.seq or start + 1
            msg_id = (msg.headers or {}).get("Nats-Msg-Id", "")
            if msg_id.startswith(prefix):
                nid = int(msg_id[len(prefix) :])
                if nid > saved:
                    found.append((nid, start))
                if nid >= on_stream:
                    return found

    async def publish_pending(self) -> int:
        """Publish one window of unpublished events; returns how many notifications it covered.

        The window goes out as one JetStream atomic batch (ADR-50): its messages are sent
        without waiting for each acknowledgement, and the server stores all of them, in
        order and on consecutive stream sequences, or none. The batch's first message
        carries the expected-last-subject-sequence guard, so two relays can never
        interleave, and a failure anywhere in the window leaves nothing of it on the stream:
        never a gap, never a reorder. A refused batch (a racing relay, a message id already
        taken, a server that forgot the batch) is resolved the careful way: resume from what
        the stream holds, then publish one event at a time with every check of
        `_publish_sequential`.
        """
        notifications = await asyncio.to_thread(
            self.app.notifications, self.position + 1, self.batch_size
        )
        if not notifications:
            return 0
        window: list[tuple[int, Envelope, bytes]] = []
        for notification in notifications:
            message = self._message(notification)
            if message is None:
                # An internal event (no wire contract): stays in the store, not on the bus.
                log.debug("no contract for %s; not published", notification.topic)
            else:
                window.append((notification.id, *message))
        if self.atomic and len(window) > 1:
            try:
                published = await self._publish_batch(window)
            except APIError as refused:
                if refused.err_code == BATCH_NOT_ENABLED:
                    log.warning(
                        "relay %s: the stream does not allow atomic batches; "
                        "publishing one event at a time",
                        self.service,
                    )
                    self.atomic = False
                else:
                    log.info(
                        "relay %s: batch refused (%s); resuming from the stream",
                        self.service,
                        refused.description,
                    )
                    await self.resume()
                return await self._publish_sequential(
                    await asyncio.to_thread(
                        self.app.notifications, self.position + 1, self.batch_size
                    )
                )
            self.position = notifications[-1].id
            await asyncio.to_thread(self.positions.save, self.service, self.position, published)
            metrics.RELAY_PUBLISHED.labels(self.service).inc(len(published))
            return len(notifications)
        return await self._publish_sequential(notifications)

    async def _publish_batch(
        self, window: Sequence[tuple[int, Envelope, bytes]]
    ) -> list[tuple[int, int]]:
        """Send `window` as one atomic batch; (notification id, stream sequence) pairs once
        the server committed it. APIError when the server refused the batch (nothing of it
        is stored); a timeout leaves it unknown, for `resume` to read from the stream."""
        nc = self.js._nc
        batch_id = uuid4().hex
        answer: dict[str, Any] = {}
        last = len(window)
        for number, (_nid, envelope, body) in enumerate(window, start=1):
            headers = {
                "Nats-Msg-Id": envelope.message_id,
                "Nats-Expected-Stream": STREAM,
                "Nats-Batch-Id": batch_id,
                "Nats-Batch-Sequence": str(number),
                **self.keys.headers(self.service, body),
            }
            if number == 1:
                headers["Nats-Expected-Last-Subject-Sequence"] = str(self.last_seq)
                headers["Nats-Expected-Last-Subject-Sequence-Subject"] = subject_for(
                    self.service, ">"
                )
            if number == last:
                headers["Nats-Batch-Commit"] = "1"
            if number in (1, last):
                # The first message opens the batch (an empty reply, or an error at once);
                # the commit's reply is the batch's acknowledgement.
                reply = await nc.request(
                    envelope.subject, body, timeout=self.ack_timeout, headers=headers
                )
                if reply.data:
                    answer = json.loads(reply.data)
                    if "error" in answer:
                        raise APIError.from_error(answer["error"])
            else:
                await nc.publish(envelope.subject, body, headers=headers)
        ack = PubAck.from_response(answer)
        if ack.batch_size != last or not ack.seq:
            raise RuntimeError(
                f"batch {batch_id}: acknowledged {ack.batch_size} messages of {last}"
            )
        self.last_seq = ack.seq
        first = ack.seq - last + 1  # a committed batch sits on consecutive sequences
        return [(nid, first + i) for i, (nid, _e, _b) in enumerate(window)]

    async def _publish_sequential(self, notifications: Sequence[Notification]) -> int:
        """Publish one event at a time, each acknowledged before the next is sent."""
        published: list[tuple[int, int]] = []
        for notification in notifications:
            message = self._message(notification)
            if message is None:
                log.debug("no contract for %s; not published", notification.topic)
            else:
                envelope, body = message
                # Optimistic concurrency on the service's subjects: a publish lands only if the
                # stream's last message for this service is the one this relay knows, so two
                # relays can never interleave.
                ack = await self.js.publish(
                    envelope.subject,
                    body,
                    stream=STREAM,
                    timeout=self.ack_timeout,
                    headers={
                        "Nats-Msg-Id": envelope.message_id,
                        "Nats-Expected-Last-Subject-Sequence": str(self.last_seq),
                        "Nats-Expected-Last-Subject-Sequence-Subject": subject_for(
                            self.service, ">"
                        ),
                        **self.keys.headers(self.service, body),
                    },
                )
                if ack.duplicate:
                    await self._check_duplicate(envelope, body, ack.seq, published)
                else:
                    self.last_seq = ack.seq
                published.append((notification.id, ack.seq))
            self.position = notification.id
        if notifications:
            await asyncio.to_thread(self.positions.save, self.service, self.position, published)
            metrics.RELAY_PUBLISHED.labels(self.service).inc(len(published))
        return len(notifications)

    async def _check_duplicate(
        self, envelope: Envelope, body: bytes, seq: int, published: list[tuple[int, int]]
    ) -> None:
        """JetStream took an event this relay had not published for a duplicate: only
        benign if the stream already holds exactly this event (another relay raced us)."""
        held = await self.js.get_msg(STREAM, seq=seq)
        if held.data != body:
            if published:  # keep what was published before the alarm
                await asyncio.to_thread(
                    self.positions.save, self.service, published[-1][0], published
                )
            raise RelayAlarm(
                f"{envelope.message_id} was refused as a duplicate of stream "
                f"message {seq}, which is not this event: someone published "
                "under this service's message ids"
            )

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until `stop` is set; retries after errors (NATS down, store busy)."""
        while not stop.is_set():
            if self.leader is not None and not await asyncio.to_thread(self.leader.acquire):
                log.info("relay %s: another process relays; standing by", self.service)
                await _sleep_or_stop(stop, 2.0)
                continue
            metrics.RELAY_LEADER.labels(self.service).set(1)
            try:
                await self._publish_until(stop)  # returns when stopped or leadership lost
            finally:
                metrics.RELAY_LEADER.labels(self.service).set(0)
                if self.leader is not None:
                    self.leader.release()

    async def _publish_until(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self._retrying(self.resume, stop)
                await self._publishing(stop)
                return
            except RelayAlarm as alarm:
                log.error(
                    "relay %s: ALARM, publishing stopped: %s (see `ecm status`; once "
                    "resolved: `ecm relay-alarm clear %s`)",
                    self.service,
                    alarm,
                    self.service,
                )
                await asyncio.to_thread(self.positions.raise_alarm, self.service, str(alarm))
                while (
                    not stop.is_set()
                    and await asyncio.to_thread(self.positions.alarm, self.service) is not None
                ):
                    await _sleep_or_stop(stop, ALARM_POLL_SECONDS)

    async def _publishing(self, stop: asyncio.Event) -> None:
        # Woken when the application commits (in this process, or on PostgreSQL in any); the
        # poll is the fallback.
        async with woken_by_commits(self.app.settings, self.service, self.wakeup):
            await self._publishing_woken(stop)

    async def _publishing_woken(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if self.leader is not None and not await asyncio.to_thread(self.leader.still_held):
                log.error("relay %s: lost its leader lock; standing by", self.service)
                return
            self.wakeup.clear()  # before reading: a commit from now on wakes the next round
            try:
                published = await self.publish_pending()
            except RelayAlarm:
                raise
            except Exception as error:
                published = 0
                if isinstance(error, APIError) and error.err_code in RACED:
                    # Another relay published first (the leader lock was lost or bypassed):
                    # not a fault; start again from what the stream holds.
                    log.info(
                        "relay %s: %s; resuming from the stream", self.service, error.description
                    )
                else:
                    log.exception("relay %s: publish failed; retrying", self.service)
                    await _sleep_or_stop(stop, 1.0)
                try:
                    await self.resume()
                except RelayAlarm:
                    raise
                except Exception:
                    log.debug("relay %s: cannot resume yet", self.service)
                continue
            with contextlib.suppress(Exception):  # a metric never stops the relay
                stored = await asyncio.to_thread(self.app.max_notification_id)
                metrics.RELAY_LAG.labels(self.service).set(max(stored - self.position, 0))
            if published < self.batch_size:
                await wait_for(self.wakeup, stop, self.poll_seconds)

    async def _retrying(self, step: object, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await step()  # type: ignore[operator]
                return
            except RelayAlarm:
                raise
            except Exception:
                log.exception("relay %s: cannot resume yet; retrying", self.service)
                await _sleep_or_stop(stop, 1.0)


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
