"""Rebuilding a read model from the stores (`ecm rebuild`), side by side with eventsourcing's
own runner loop (a ProcessApplication pulling and processing the same number of events with a
tracking record each) and with a raw read + decode of the store's notification log."""

from __future__ import annotations

import asyncio
import resource
import time
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.system import ProcessApplication

from services.referrals.domain import Consent
from services.runtime import System
from shared.bus import connect, ensure_stream
from shared.domain import Area, Meta
from shared.natsserver import EmbeddedNats
from shared.relay import PositionStore, Relay
from shared.settings import development_settings

META = Meta("bench", "case_manager", "bench", "bench")
GOAL_EVENTS_PER_S = 20_000.0


class PlainReferral(Aggregate):
    """The baseline's events: the same kind of fields, plain eventsourcing."""

    @event("Made")
    def __init__(self, child_id: str, area: str, months: int) -> None:
        self.child_id = child_id
        self.consent: str | None = None

    @event("ConsentRecorded")
    def record_consent(self, consent: str) -> None:
        self.consent = consent


class Follower(ProcessApplication[UUID]):
    """eventsourcing's runner loop: each event processed with its own tracking record."""

    seen = 0

    def policy(self, domain_event: Any, processing_event: Any) -> None:
        self.seen += 1


def _populate(system: System, events: int) -> int:
    """Children registered, referred and consented until the store holds `events` events."""
    app: Any = system.apps["referrals"]
    written = 0
    i = 0
    while written < events:
        child = app.register_child(
            given_name=f"G{i}",
            family_name="Bench",
            date_of_birth=date(2010, 1, 1),
            area=Area.BRISTOL,
            nhs_number=None,
            upn=None,
            meta=META,
        )
        referral = app.refer(
            child_id=child,
            case_manager_id="bench",
            reason="bench",
            trauma_history="none",
            expected_involvement_months=6,
            meta=META,
        )
        app.record_consent(referral, Consent.GIVEN, "parent", META)
        written = app.recorder.max_notification_id() or 0
        i += 1
    return written


async def _publish(system: System, nats: EmbeddedNats) -> None:
    settings = system.settings
    nc = await connect(settings, nats.url)
    js = nc.jetstream()
    await ensure_stream(js, settings)
    contracts = system.plugins[0].contracts
    assert contracts is not None
    relay = Relay(
        system.apps["referrals"],
        contracts,
        js,
        PositionStore(system.ops),
        system.keys,
        batch_size=500,
    )
    while await relay.publish_pending():
        pass
    await nc.close()


def bench_rebuild(folder: Path, events: int) -> dict[str, Any]:
    """`ecm rebuild referrals-list` over a store of `events` events vs the baselines."""
    from services import rebuild as rebuilding

    nats = EmbeddedNats(folder / "nats-rebuild", user="bench", password="bench-password")
    nats.start()
    settings = development_settings(folder / "rebuild-var").model_copy(
        update={"nats_url": nats.url, "nats_user": "bench", "nats_password": "bench-password"}
    )
    system = System.build(settings, ["referrals"])
    try:
        n = _populate(system, events)
        asyncio.run(_publish(system, nats))
    finally:
        nats.stop()
    consumer = next(c for c in system.consumers() if c.name == "referrals-list")
    app = system.apps["referrals"]

    start = time.perf_counter()
    applied = rebuilding.rebuild(system, consumer)
    ecm_s = time.perf_counter() - start
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert applied > 0 and not rebuilding.check(system, consumer)

    start = time.perf_counter()
    decoded, page_start = 0, 1
    while notifications := app.notifications(page_start, 1000):
        for notification in notifications:
            app.mapper.to_sealed_domain_event(notification)  # type: ignore[attr-defined]
            decoded += 1
        page_start = notifications[-1].id + 1
    raw_s = time.perf_counter() - start
    system.close()

    plain: Application[UUID] = Application(
        env={
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(folder / "rebuild-plain.sqlite"),
        }
    )
    stored = 0
    while stored < n:
        referral = PlainReferral(f"child-{stored}", "bristol", 6)
        referral.record_consent("given")
        plain.save(referral)
        stored += 2
    follower = Follower(
        env={
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(folder / "rebuild-follower.sqlite"),
        }
    )
    follower.follow(plain.name, plain.notification_log)
    start = time.perf_counter()
    follower.pull_and_process(plain.name)
    runner_s = time.perf_counter() - start
    assert follower.seen == stored
    ecm_rate, runner_rate = n / ecm_s, stored / runner_s
    return {
        "name": "rebuild: a read model from the stores",
        "n": n,
        "ecm_us_per_op": ecm_s / n * 1e6,
        "baseline_us_per_op": runner_s / stored * 1e6,
        "ratio": (ecm_s / n) / (runner_s / stored),
        "ecm_events_per_s": ecm_rate,
        "runner_loop_events_per_s": runner_rate,
        "raw_read_decode_events_per_s": decoded / raw_s,
        "rss_mb": rss_mb,
        "meets_target": ecm_rate >= GOAL_EVENTS_PER_S and ecm_rate >= 2 * runner_rate,
    }


def print_rebuild(row: dict[str, Any]) -> None:
    """One line for the rebuild pair."""
    print(
        f"rebuild of {row['n']} events: {row['ecm_events_per_s']:,.0f} ev/s; eventsourcing "
        f"runner loop {row['runner_loop_events_per_s']:,.0f} ev/s; raw log read + decode "
        f"{row['raw_read_decode_events_per_s']:,.0f} ev/s; peak RSS {row['rss_mb']:.0f} MB "
        f"(goal >= 20,000 ev/s and >= 2x the runner loop, RSS < 512 MB: "
        f"{'met' if row['meets_target'] else 'NOT met'})"
    )


if __name__ == "__main__":
    import sys
    import tempfile

    size = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    with tempfile.TemporaryDirectory() as tmp:
        print_rebuild(bench_rebuild(Path(tmp), size))
