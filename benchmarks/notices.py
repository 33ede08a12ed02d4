"""Notice benchmarks: from a queued notice (the notifications consumer committing a
ReviewScheduled) to the email at a local SMTP server (aiosmtpd), vs raw SMTP to the same
server; and the idle CPU of a running node (relays, consumers, delivery loop, nats-server).
"""

from __future__ import annotations

import asyncio
import os
import smtplib
import statistics
import threading
import time
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from aiosmtpd.controller import Controller

from benchmarks.relay import quantile
from services.notifications.application import NotificationsApplication
from services.notifications.consumers import NoticeConsumer
from services.notifications.delivery import run_delivery
from services.notifications.domain import Channel
from services.notifications.settings import NotifySettings
from services.referrals.application import ReferralsApplication
from services.runtime import System, run_node
from shared.consumer import Delivery
from shared.contracts import Actor, Envelope
from shared.domain import Area, Meta
from shared.natsserver import EmbeddedNats, free_port
from shared.settings import development_settings
from shared.vocabulary import Agency

STAFF = Meta("bench-sp", "senior_practitioner", "bench", "bench")


class _Arrivals:
    """An aiosmtpd handler noting when each message arrived."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.arrived = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.times.append(time.perf_counter())
        self.arrived.set()
        return "250 Message accepted for delivery"


def _review_scheduled(
    app: NotificationsApplication, child: UUID, contact: UUID, nid: int
) -> Envelope:
    """ReviewScheduled as the reviews service publishes it (venue and link sealed)."""
    event = "ReviewCase.ReviewScheduled"
    starts = "2027-09-15T10:00:00+00:00"
    return Envelope(
        message_id=f"reviews:{nid}",
        service="reviews",
        event_type="ReviewScheduled",
        event_version=1,
        notification_id=nid,
        aggregate_id=uuid4(),
        aggregate_version=1,
        child_id=child,
        occurred_at=datetime.now(UTC),
        actor=Actor(id="bench-sp", role="senior_practitioner"),
        reason=None,
        correlation_id=f"bench-{nid}",
        causation_id=f"bench-{nid}",
        data={
            "child_id": str(child),
            "review_id": str(uuid4()),
            "starts_at": starts,
            "due_on": starts[:10],
            "venue": app.cipher.seal(child, "venue", "Room 4, Synthetic House", event=event),
            "online_link": app.cipher.seal(
                child, "online_link", "https://meet.example.org/bench", event=event
            ),
            "invitees": [{"agency": Agency.EDUCATION.value, "contact_id": str(contact)}],
        },
    )


async def bench_notices(folder: Path, n: int) -> dict[str, Any]:
    """Queue n notices one at a time (each waits for its email), with the delivery loop
    running at its default (fallback) poll; p50/p99 from queued to received."""
    arrivals = _Arrivals()
    port = free_port()
    controller = Controller(arrivals, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings = development_settings(folder / "notices-var")
        system = System.build(settings, ["referrals", "notifications"])
        app = system.apps["notifications"]
        assert isinstance(app, NotificationsApplication)
        app.notify_settings = NotifySettings(
            public_base_url="https://ecm.example.org",
            team_contact="ecm-team@example.org",
            webhook_secret="bench-webhook-secret-0123456789",
            smtp_port=port,
            smtp_starttls=False,
        )
        contact = app.register_partner(
            agency=Agency.EDUCATION,
            name="Pat Bench",
            email="pat.bench@partner.example.org",
            webhook_url=None,
            preferred_channel=Channel.EMAIL,
            webhook_secret=None,
            meta=STAFF,
        )
        child: UUID = system.app(ReferralsApplication).register_child(
            given_name="Synthetic",
            family_name="Bench",
            date_of_birth=date(2011, 2, 3),
            area=Area.BRISTOL,
            nhs_number=None,
            upn=None,
            meta=STAFF,
        )
        sink = NoticeConsumer(app).sink(app.reads)
        stop = asyncio.Event()
        task = asyncio.create_task(run_delivery(system, stop))
        await asyncio.sleep(0.5)  # the loop is idle, waiting
        ecm_ms: list[float] = []
        for i in range(1, n + 1):
            arrivals.arrived.clear()
            message = _review_scheduled(app, child, contact, 1000 + i)
            start = time.perf_counter()
            await asyncio.to_thread(sink.commit, [Delivery(sink.position() + 1, message)])
            if not await asyncio.to_thread(arrivals.arrived.wait, 30):
                raise RuntimeError(f"notice {i} was not sent within 30 s")
            ecm_ms.append((arrivals.times[-1] - start) * 1000)
        stop.set()
        await task
        system.close()
        raw_ms: list[float] = []
        for i in range(n):
            arrivals.arrived.clear()
            email = EmailMessage()
            email["From"], email["To"] = "ecm@example.org", "pat.bench@partner.example.org"
            email["Subject"] = f"ECM review meeting {i}"
            email.set_content("A review meeting is scheduled.\n" * 10)
            start = time.perf_counter()
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
                smtp.send_message(email)
            arrivals.arrived.wait(10)
            raw_ms.append((arrivals.times[-1] - start) * 1000)
    finally:
        controller.stop()
    p50, p99 = quantile(ecm_ms, 50), quantile(ecm_ms, 99)
    return {
        "name": "notice queued -> email at SMTP server",
        "n": n,
        "ecm_us_per_op": p50 * 1000,
        "baseline_us_per_op": quantile(raw_ms, 50) * 1000,
        "ratio": p50 / quantile(raw_ms, 50),
        "ecm_p50_ms": p50,
        "ecm_p99_ms": p99,
        "baseline_p50_ms": quantile(raw_ms, 50),
        "baseline_p99_ms": quantile(raw_ms, 99),
        "goal": "p99 < 500 ms",
        "met": p99 < 500,
    }


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def bench_idle_cpu(folder: Path, seconds: float) -> dict[str, Any]:
    """A node with every service's relay, consumers and the delivery loop, idle: CPU of
    this process and of nats-server, as a percentage of one core."""
    nats = EmbeddedNats(folder / "nats-idle", user="bench", password="bench-password")
    nats.start()
    try:
        settings = development_settings(folder / "idle-var").model_copy(
            update={"nats_url": nats.url, "nats_user": nats.user, "nats_password": nats.password}
        )
        system = System.build(settings)
        stop, ready = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(
            run_node(system, nats_url=nats.url, serve_api=False, stop=stop, ready=ready)
        )
        await asyncio.wait_for(ready.wait(), 60)
        await asyncio.sleep(2.0)  # settled
        assert nats.process is not None
        ours, theirs = time.process_time(), _cpu_seconds(nats.process.pid)
        begin = time.perf_counter()
        await asyncio.sleep(seconds)
        wall = time.perf_counter() - begin
        ecm = (time.process_time() - ours) / wall * 100
        server = (_cpu_seconds(nats.process.pid) - theirs) / wall * 100
        stop.set()
        await task
        system.close()
    finally:
        nats.stop()
    total = ecm + server
    return {
        "name": f"idle CPU over {seconds:.0f} s (node + nats-server)",
        "n": 1,
        "ecm_us_per_op": ecm,
        "baseline_us_per_op": server,
        "ratio": ecm / max(server, 1e-6),
        "ecm_cpu_percent": ecm,
        "nats_cpu_percent": server,
        "total_cpu_percent": total,
        "goal": "idle CPU < 2 %",
        "met": total < 2.0,
    }


async def run_notice_benchmarks(folder: Path, quick: bool) -> list[dict[str, Any]]:
    """The notice rows of `make bench`."""
    return [
        await bench_notices(folder, 20 if quick else 100),
        await bench_idle_cpu(folder, 5.0 if quick else 10.0),
    ]


def median(values: list[float]) -> float:
    """The median (for callers that want one figure)."""
    return statistics.median(values)
