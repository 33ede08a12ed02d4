"""The stream's history read back from the stores, in the order the stream holds it.

Each relay records where every notification it published sits on the stream (its stream
sequence), so the stores can be read in exactly the stream's order with the system stopped:
rebuilding a read model from the stores then gives what live consumption gave.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Mapping, Sequence

from sqlalchemy import func, select

from shared.consumer import Delivery, matches_any
from shared.contracts import ContractRegistry
from shared.relay import PositionStore, stream_index
from shared.store import EcmApplication

PAGE = 2000  # notifications read and decoded per query: large pages, one pass


def first_after(positions: PositionStore, service: str, after: int) -> int | None:
    """The first notification id of `service` published past stream sequence `after` (None
    when the relay published nothing of it past there)."""
    with positions.engine.connect() as conn:
        value = conn.execute(
            select(func.min(stream_index.c.notification_id)).where(
                stream_index.c.service == service, stream_index.c.seq > after
            )
        ).scalar()
    return int(value) if value is not None else None


def published(
    app: EcmApplication, registry: ContractRegistry, positions: PositionStore, after: int = 0
) -> Iterator[Delivery]:
    """Every message `app`'s relay published past stream sequence `after`, in stream order.

    Stops at the first notification the relay has not published yet: what follows is not on
    the stream, and a live consumer will receive it in its turn.
    """
    mapper = app.mapper
    start = 1
    if after > 0:  # start from the first notification past `after`, not from the beginning
        found = first_after(positions, app.service, after)
        if found is None:
            return
        start = found
    while True:
        notifications = app.notifications(start, PAGE)
        if not notifications:
            return
        sequences = positions.sequences(app.service, notifications[0].id, notifications[-1].id)
        for notification in notifications:
            event = mapper.to_sealed_domain_event(notification)  # type: ignore[attr-defined]
            envelope = registry.to_envelope(event, notification.id)
            if envelope is None:
                continue  # internal: never on the stream
            seq = sequences.get(notification.id)
            if seq is None:
                return
            if seq > after:
                yield Delivery(seq, envelope)
        start = notifications[-1].id + 1


def in_stream_order(
    apps: Mapping[str, EcmApplication],
    registries: Iterable[ContractRegistry],
    positions: PositionStore,
    subject: str | Sequence[str],
    after: int = 0,
) -> Iterator[Delivery]:
    """Every published message matching `subject` (or one of several), across services, by
    stream sequence."""
    patterns = (subject,) if isinstance(subject, str) else tuple(subject)
    by_service = {registry.service: registry for registry in registries}
    streams = [
        published(app, by_service[name], positions, after)
        for name, app in apps.items()
        if name in by_service
    ]
    for delivery in heapq.merge(*streams, key=lambda d: d.seq):
        if matches_any(patterns, delivery.envelope.subject):
            yield delivery


def batches(deliveries: Iterable[Delivery], size: int) -> Iterator[list[Delivery]]:
    """Deliveries in lists of at most `size`."""
    batch: list[Delivery] = []
    for delivery in deliveries:
        batch.append(delivery)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
