"""Relay benchmarks: draining a backlog vs raw nats-py `publish_async`, and the lag from a
commit to the stream at a steady command rate vs a raw publish at the same rate.

Both sides of each pair run in this process against the same nats-server, interleaved.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from services.runtime import System
from shared.bus import connect, ensure_stream
from shared.contracts import STREAM
from shared.domain import Area, Meta
from shared.natsserver import EmbeddedNats
from shared.relay import PositionStore, Relay
from shared.settings import Settings, development_settings

META = Meta("bench", "case_manager", "bench", "bench")
WINDOW = 1000  # raw baseline: publish_async acknowledgements in flight at most


def _register(app: Any, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        app.register_child(
            given_name=f"G{i}",
            family_name="Bench",
            date_of_birth=date(2010, 1, 1),
            area=Area.BRISTOL,
            nhs_number=None,
            upn=None,
            meta=META,
        )


def _settings(folder: Path, nats: EmbeddedNats, name: str) -> Settings:
    return development_settings(folder / name).model_copy(
        update={"nats_url": nats.url, "nats_user": nats.user, "nats_password": nats.password}
    )


def quantile(values: list[float], q: int) -> float:
    """The q-th percentile (1..99)."""
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def _fresh_stream(js: JetStreamContext, settings: Settings) -> None:
    with contextlib.suppress(NotFoundError):  # no stream yet
        await js.delete_stream(STREAM)
    await ensure_stream(js, settings)


async def bench_drain(folder: Path, n: int, rounds: int) -> dict[str, Any]:
    """Relay a backlog of n stored events to a fresh stream vs `publish_async` of the same
    bytes (a window of WINDOW acks in flight, all awaited): events per second, ratio."""
    nats = EmbeddedNats(folder / "nats-drain", user="bench", password="bench-password")
    nats.start()
    try:
        settings = _settings(folder, nats, "drain-var")
        system = System.build(settings, ["referrals"])
        app = system.apps["referrals"]
        await asyncio.to_thread(_register, app, n)
        nc = await connect(settings, nats.url)
        js = nc.jetstream(publish_async_max_pending=WINDOW)
        contracts = system.plugins[0].contracts
        assert contracts is not None
        ecm, raw = [], []
        payloads: list[tuple[str, bytes]] = []
        for _round in range(rounds + 1):  # the first round warms up
            await _fresh_stream(js, settings)
            positions = PositionStore(system.ops)
            with system.ops.begin() as conn:
                conn.exec_driver_sql("DELETE FROM relay_positions")
                conn.exec_driver_sql("DELETE FROM stream_index")
            relay = Relay(
                app, contracts, js, positions, system.keys, batch_size=settings.relay_batch_size
            )
            await relay.resume()
            start = time.perf_counter()
            while await relay.publish_pending():
                pass
            elapsed = time.perf_counter() - start
            assert (await js.stream_info(STREAM)).state.messages == n
            if not payloads:
                payloads = [(m.subject, m.data or b"") for m in await _read_back(js, n)]
            await _fresh_stream(js, settings)
            start = time.perf_counter()
            futures = [
                await js.publish_async(subject, body, headers={"Nats-Msg-Id": f"raw:{i}"})
                for i, (subject, body) in enumerate(payloads)
            ]
            await asyncio.gather(*futures)
            baseline = time.perf_counter() - start
            assert (await js.stream_info(STREAM)).state.messages == n
            if _round:
                ecm.append(elapsed)
                raw.append(baseline)
        await nc.close()
        system.close()
    finally:
        nats.stop()
    ecm_s, raw_s = statistics.median(ecm), statistics.median(raw)
    return {
        "name": f"relay drain, {n} stored events (window {settings.relay_batch_size})",
        "n": n,
        "ecm_us_per_op": ecm_s / n * 1e6,
        "baseline_us_per_op": raw_s / n * 1e6,
        "ratio": ecm_s / raw_s,
        "ecm_events_per_s": n / ecm_s,
        "baseline_events_per_s": n / raw_s,
        "throughput_ratio": raw_s / ecm_s,
        "goal": "throughput >= 0.9x publish_async",
        "met": raw_s / ecm_s >= 0.9,
    }


async def _read_back(js: JetStreamContext, n: int) -> list[Any]:
    found: list[Any] = []
    seq = 0
    while len(found) < n:
        msg = await js.get_msg(STREAM, seq=seq + 1, subject="ecm.>", next=True)
        seq = msg.seq or seq + 1
        found.append(msg)
    return found


async def bench_lag(folder: Path, rate: int, seconds: float) -> dict[str, Any]:
    """At a steady `rate` of commands per second (one thread registering children), the
    time from each commit to its message reaching a JetStream consumer, p50 and p99; the
    baseline is a raw publish at the same rate to the same consumer."""
    nats = EmbeddedNats(folder / f"nats-lag-{rate}", user="bench", password="bench-password")
    nats.start()
    try:
        settings = _settings(folder, nats, f"lag-var-{rate}")
        system = System.build(settings, ["referrals"])
        app = system.apps["referrals"]
        nc = await connect(settings, nats.url)
        js = nc.jetstream()
        await ensure_stream(js, settings)
        contracts = system.plugins[0].contracts
        assert contracts is not None
        relay = Relay(
            app,
            contracts,
            js,
            PositionStore(system.ops),
            system.keys,
            batch_size=settings.relay_batch_size,
            poll_seconds=settings.relay_poll_seconds,
        )
        received: dict[str, float] = {}

        async def on_message(msg: Any) -> None:
            received[(msg.headers or {}).get("Nats-Msg-Id", "")] = time.perf_counter()

        sub = await js.subscribe("ecm.>", cb=on_message, ordered_consumer=True)
        stop = asyncio.Event()
        task = asyncio.create_task(relay.run(stop))
        committed: dict[str, float] = {}
        count = int(rate * seconds)

        def produce() -> None:
            interval, begin = 1.0 / rate, time.perf_counter()
            for i in range(count):
                delay = begin + i * interval - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                _register(app, 1, i)
                committed[f"referrals:{app.max_notification_id()}"] = time.perf_counter()

        thread = threading.Thread(target=produce)
        thread.start()
        await asyncio.to_thread(thread.join)
        deadline = time.perf_counter() + 30
        while len(received) < count and time.perf_counter() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        stop.set()
        await task
        ecm_ms = [(received[k] - t) * 1000 for k, t in committed.items() if k in received]
        sent: dict[str, float] = {}
        interval, begin = 1.0 / rate, time.perf_counter()
        for i in range(count):
            delay = begin + i * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            key = f"raw:{rate}:{i}"
            sent[key] = time.perf_counter()
            await js.publish_async("ecm.bench.raw", b"x" * 600, headers={"Nats-Msg-Id": key})
        deadline = time.perf_counter() + 30
        while not all(k in received for k in sent) and time.perf_counter() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        raw_ms = [(received[k] - t) * 1000 for k, t in sent.items() if k in received]
        await sub.unsubscribe()
        await nc.close()
        system.close()
    finally:
        nats.stop()
    p50, p99 = quantile(ecm_ms, 50), quantile(ecm_ms, 99)
    goal = p50 < 10 and p99 < 50
    return {
        "name": f"lag commit -> stream at {rate} commands/s",
        "n": len(ecm_ms),
        "ecm_us_per_op": p50 * 1000,
        "baseline_us_per_op": quantile(raw_ms, 50) * 1000,
        "ratio": p50 / max(quantile(raw_ms, 50), 1e-6),
        "ecm_p50_ms": p50,
        "ecm_p99_ms": p99,
        "baseline_p50_ms": quantile(raw_ms, 50),
        "baseline_p99_ms": quantile(raw_ms, 99),
        "lost": count - len(ecm_ms),
        "goal": "p50 < 10 ms, p99 < 50 ms",
        "met": goal and len(ecm_ms) == count,
    }


async def run_relay_benchmarks(folder: Path, quick: bool) -> list[dict[str, Any]]:
    """The relay rows of `make bench`."""
    rows = [await bench_drain(folder, 5_000 if quick else 20_000, 1 if quick else 3)]
    for rate in (50, 200):
        rows.append(await bench_lag(folder, rate, 3.0 if quick else 10.0))
    return rows


def print_goals(rows: list[dict[str, Any]]) -> None:
    """The latency and throughput rows as a markdown table: figure, baseline, goal, met."""
    print()
    print("| measure | ECM | raw baseline, same run | goal | met |")
    print("|---|---|---|---|---|")
    for row in rows:
        if "ecm_events_per_s" in row:
            ecm = f"{row['ecm_events_per_s']:,.0f} ev/s ({row['throughput_ratio']:.2f}x)"
            base = f"{row['baseline_events_per_s']:,.0f} ev/s"
        elif "ecm_p99_ms" in row:
            ecm = f"p50 {row['ecm_p50_ms']:.1f} / p99 {row['ecm_p99_ms']:.1f} ms"
            base = f"p50 {row['baseline_p50_ms']:.1f} / p99 {row['baseline_p99_ms']:.1f} ms"
        else:
            ecm = f"{row['ecm_cpu_percent']:.2f} % (node)"
            base = f"nats-server {row['nats_cpu_percent']:.2f} %"
        print(
            f"| {row['name']} | {ecm} | {base} | {row['goal']} | "
            f"{'met' if row['met'] else 'NOT met'} |"
        )
