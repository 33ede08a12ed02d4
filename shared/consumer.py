"""Consumers: durable pull subscriptions, explicit ack, retry with backoff, park, replay."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from faststream.middlewares import AckPolicy
from faststream.nats import ConsumerConfig, JStream, NatsBroker, NatsMessage, PullSub
from nats.js.api import AckPolicy as JsAckPolicy
from nats.js.api import DeliverPolicy
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
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from shared.contracts import STREAM, Envelope
from shared.settings import Settings

log = logging.getLogger(__name__)
metadata = MetaData()
processed = Table(
    "consumer_processed",
    metadata,
    Column("consumer", String(100), primary_key=True),
    Column("message_id", String(200), primary_key=True),
    Column("processed_at", DateTime(timezone=True), nullable=False),
)
parked = Table(
    "parked_messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("consumer", String(100), nullable=False, index=True),
    Column("message_id", String(200), nullable=False),
    Column("subject", String(300), nullable=False),
    Column("payload", Text, nullable=False),
    Column("error", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("parked_at", DateTime(timezone=True), nullable=False),
    Column("replayed_at", DateTime(timezone=True), nullable=True),
)

Handler = Callable[[Envelope], None]


class Ledger:
    """What each consumer has processed and what it parked, in the consumer's own store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)

    @staticmethod
    def seen(conn: Connection, consumer: str, message_id: str) -> bool:
        """True when `consumer` already committed `message_id`."""
        row = conn.execute(
            select(processed.c.message_id).where(
                processed.c.consumer == consumer, processed.c.message_id == message_id
            )
        ).first()
        return row is not None

    @staticmethod
    def mark(conn: Connection, consumer: str, message_id: str) -> None:
        """Record `message_id` as processed, in the caller's transaction."""
        conn.execute(
            insert(processed).values(
                consumer=consumer, message_id=message_id, processed_at=datetime.now(UTC)
            )
        )

    def processed_count(self, consumer: str) -> int:
        """How many messages `consumer` has committed."""
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(processed).where(
                        processed.c.consumer == consumer
                    )
                ).scalar_one()
            )

    def park(self, consumer: str, message_id: str, subject: str, payload: str, error: str,
             attempts: int) -> None:
        """Keep a message that failed every retry where an operator sees it."""
        with self.engine.begin() as conn:
            conn.execute(
                insert(parked).values(
                    consumer=consumer, message_id=message_id, subject=subject, payload=payload,
                    error=error[:4000], attempts=attempts, parked_at=datetime.now(UTC),
                )
            )

    def parked(self, consumer: str | None = None) -> list[dict[str, Any]]:
        """Parked messages not yet replayed."""
        query = select(parked).where(parked.c.replayed_at.is_(None)).order_by(parked.c.id)
        if consumer:
            query = query.where(parked.c.consumer == consumer)
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def mark_replayed(self, parked_id: int) -> None:
        """The parked message was processed by a replay."""
        with self.engine.begin() as conn:
            conn.execute(
                update(parked).where(parked.c.id == parked_id).values(replayed_at=datetime.now(UTC))
            )


@dataclass
class Consumer:
    """One durable consumer: a name, a subject filter, and an idempotent handler."""

    name: str
    subject: str
    handle: Handler
    ledger: Ledger
    reset: Callable[[], None] | None = None


class SqlProjection:
    """A read model whose update and tracking commit in one transaction."""

    name: str = ""
    subject: str = ""

    def __init__(self, engine: Engine, ledger: Ledger) -> None:
        self.engine = engine
        self.ledger = ledger

    def apply(self, conn: Connection, envelope: Envelope) -> None:
        """Update the read model for one message (inside the caller's transaction)."""
        raise NotImplementedError

    def __call__(self, envelope: Envelope) -> None:
        try:
            with self.engine.begin() as conn:
                if self.ledger.seen(conn, self.name, envelope.message_id):
                    return
                self.apply(conn, envelope)
                self.ledger.mark(conn, self.name, envelope.message_id)
        except IntegrityError:
            # A concurrent delivery of the same message won the race: already applied.
            with self.engine.connect() as conn:
                if not self.ledger.seen(conn, self.name, envelope.message_id):
                    raise

    tables: tuple[Table, ...] = ()

    def reset(self) -> None:
        """Empty the read model and forget what was processed, to rebuild from the stream."""
        with self.engine.begin() as conn:
            for table in reversed(self.tables):
                conn.execute(delete(table))
            conn.execute(delete(processed).where(processed.c.consumer == self.name))

    def consumer(self) -> Consumer:
        """This projection as a consumer."""
        return Consumer(self.name, self.subject, self, self.ledger, self.reset)


def backoff_for(settings: Settings, attempt: int) -> float:
    """Delay before redelivery after the given (1-based) failed attempt."""
    steps = settings.consumer_backoff_seconds or [1.0]
    return steps[min(attempt, len(steps)) - 1]


async def process(consumer: Consumer, settings: Settings, msg: NatsMessage) -> None:
    """Handle one delivery: ack on success, nak with backoff on error, park at the last try."""
    raw = msg.raw_message
    attempts = raw.metadata.num_delivered if raw.metadata else 1
    payload = msg.body.decode(errors="replace")
    message_id = (msg.headers or {}).get("Nats-Msg-Id", f"seq:{raw.metadata.sequence.stream}")
    try:
        envelope = Envelope.model_validate_json(msg.body)
        await asyncio.to_thread(consumer.handle, envelope)
    except Exception as error:
        final = isinstance(error, ValidationError) or attempts >= settings.consumer_max_deliver
        if final:
            log.error("consumer %s: parking %s after %d attempts: %r",
                      consumer.name, message_id, attempts, error)
            await asyncio.to_thread(consumer.ledger.park, consumer.name, message_id,
                                    raw.subject, payload, repr(error), attempts)
            await msg.ack()
        else:
            log.warning("consumer %s: %s failed (attempt %d): %r",
                        consumer.name, message_id, attempts, error)
            await msg.nack(delay=backoff_for(settings, attempts))
        return
    await msg.ack()


def attach(broker: NatsBroker, consumer: Consumer, settings: Settings) -> None:
    """Subscribe `consumer` on `broker` as a durable pull consumer with explicit ack."""

    async def on_message(msg: NatsMessage) -> None:
        await process(consumer, settings, msg)

    on_message.__name__ = f"consume_{consumer.name.replace('-', '_')}"
    broker.subscriber(
        consumer.subject,
        stream=JStream(STREAM, declare=False),
        durable=consumer.name,
        pull_sub=PullSub(batch_size=20, timeout=1.0),
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.MANUAL,
        config=ConsumerConfig(
            durable_name=consumer.name,
            ack_policy=JsAckPolicy.EXPLICIT,
            ack_wait=60,
            max_deliver=-1,  # we park after our own count; the server must never drop
        ),
        title=consumer.name,
    )(on_message)


def replay_parked(consumer: Consumer) -> list[tuple[int, str]]:
    """Run each parked message of `consumer` through its handler again; returns failures."""
    failures: list[tuple[int, str]] = []
    for row in consumer.ledger.parked(consumer.name):
        try:
            consumer.handle(Envelope.model_validate_json(row["payload"]))
        except Exception as error:
            failures.append((row["id"], repr(error)))
            continue
        consumer.ledger.mark_replayed(row["id"])
    return failures
