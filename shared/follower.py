"""Local followers: read models that tail their own service's notification log (the notice
index), under the same rule as every consumer: in log order, the effect and the position
committed in one transaction, concurrent followers serialised by the consumer lock."""

from __future__ import annotations

from collections.abc import Callable

from eventsourcing.persistence import Notification
from sqlalchemy import Connection

from shared.consumer import Tracker
from shared.store import EcmApplication

Apply = Callable[[Connection, Notification], None]


def follow(tracker: Tracker, app: EcmApplication, apply: Apply, batch_size: int) -> int:
    """Apply the next batch of `app`'s notification log; returns how many were applied."""
    with tracker.engine.begin() as conn:
        position = tracker.lock(conn).get(app.service, 0)
        notifications = app.notifications(position + 1, batch_size)
        for notification in notifications:
            apply(conn, notification)
        if notifications:
            tracker.save(conn, {app.service: notifications[-1].id})
        return len(notifications)


def catch_up(tracker: Tracker, app: EcmApplication, apply: Apply, batch_size: int) -> int:
    """Follow until the log is exhausted; returns how many were applied."""
    applied = 0
    while True:
        count = follow(tracker, app, apply, batch_size)
        applied += count
        if count < batch_size:
            return applied
