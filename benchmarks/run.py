"""`make bench`: ECM Record's hot paths side by side with a plain baseline, as ratios.

Each pair runs in the same process, on the same machine, at the same time, so the ratio
holds on a noisy shared machine where absolute timings do not. Results go to
bench-results/latest.json and are printed as a table.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from benchmarks.evaluation import bench_export, bench_seed
from benchmarks.notices import run_notice_benchmarks
from benchmarks.rebuild import bench_rebuild, print_rebuild
from benchmarks.relay import print_goals, run_relay_benchmarks
from services.runtime import System
from shared.bus import connect, ensure_stream
from shared.domain import Area, Meta
from shared.natsserver import EmbeddedNats
from shared.relay import PositionStore, Relay
from shared.settings import Settings, development_settings

META = Meta("bench", "case_manager", "bench", "bench")
ROUNDS = 3


class PlainChild(Aggregate):
    """The baseline: the same fields, no encryption, no metadata transcoding."""

    @event("Registered")
    def __init__(self, given_name: str, family_name: str, date_of_birth: str, area: str) -> None:
        self.given_name = given_name


def bench_store(folder: Path, n: int) -> dict[str, Any]:
    """Registering children: ECM's store (per-child key + sealing) vs plain eventsourcing."""
    settings = development_settings(folder / "var")
    system = System.build(settings, ["referrals"])
    app = system.apps["referrals"]
    plain: Application[UUID] = Application(
        env={
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(folder / "plain.sqlite"),
        }
    )

    def ecm() -> float:
        start = time.perf_counter()
        for i in range(n):
            app.register_child(  # type: ignore[attr-defined]
                given_name=f"G{i}",
                family_name="Bench",
                date_of_birth=date(2010, 1, 1),
                area=Area.BRISTOL,
                nhs_number=None,
                upn=None,
                meta=META,
            )
        return time.perf_counter() - start

    def baseline() -> float:
        start = time.perf_counter()
        for i in range(n):
            plain.save(PlainChild(f"G{i}", "Bench", "2010-01-01", "bristol"))
        return time.perf_counter() - start

    result = pair("store: register a child", n, ecm, baseline)
    ids = [n_.originator_id for n_ in app.notifications(1, n)]
    plain_ids = [
        UUID(str(n_.originator_id)) for n_ in plain.recorder.select_notifications(start=1, limit=n)
    ]

    def ecm_read() -> float:
        start = time.perf_counter()
        for child_id in ids:
            app.get_child(child_id)  # type: ignore[attr-defined]
        return time.perf_counter() - start

    def plain_read() -> float:
        start = time.perf_counter()
        for child_id in plain_ids:
            plain.repository.get(child_id)
        return time.perf_counter() - start

    read = pair("store: read a child", len(ids), ecm_read, plain_read)
    system.close()
    return {"write": result, "read": read}


def pair(name: str, n: int, a: Callable[[], float], b: Callable[[], float]) -> dict[str, Any]:
    """Warm up, then run both sides ROUNDS times interleaved; per-op times and the ratio."""
    a(), b()
    times_a, times_b = [], []
    for _ in range(ROUNDS):
        times_a.append(a())
        times_b.append(b())
    ecm_s, base_s = statistics.median(times_a), statistics.median(times_b)
    return {
        "name": name,
        "n": n,
        "ecm_us_per_op": ecm_s / n * 1e6,
        "baseline_us_per_op": base_s / n * 1e6,
        "ratio": ecm_s / base_s,
    }


async def _children_on_a_stream(settings: Settings, nats: EmbeddedNats, n: int) -> Any:
    """The referrals service with n registered children, connected to `nats`'s stream."""
    system = System.build(settings, ["referrals"])
    app = system.apps["referrals"]
    for i in range(n):
        app.register_child(  # type: ignore[attr-defined]
            given_name=f"G{i}",
            family_name="Bench",
            date_of_birth=date(2010, 1, 1),
            area=Area.BRISTOL,
            nhs_number=None,
            upn=None,
            meta=META,
        )
    nc = await connect(settings, nats.url)
    js = nc.jetstream()
    await ensure_stream(js, settings)
    contracts = system.plugins[0].contracts
    assert contracts is not None
    return system, app, contracts, nc, js


async def bench_relay(folder: Path, n: int) -> dict[str, Any]:
    """Relaying stored events to JetStream vs publishing the same bytes with nats-py directly."""
    nats = EmbeddedNats(folder / "nats", user="bench", password="bench-password")
    nats.start()
    try:
        return await _relay_pair(nats, folder, n)
    finally:
        nats.stop()


async def _relay_pair(nats: EmbeddedNats, folder: Path, n: int) -> dict[str, Any]:
    settings: Settings = development_settings(folder / "relay-var").model_copy(
        update={"nats_url": nats.url, "nats_user": "bench", "nats_password": "bench-password"}
    )
    system, app, contracts, nc, js = await _children_on_a_stream(settings, nats, n)
    times_ecm, times_base = [], []
    payload = None
    for round_ in range(ROUNDS):
        positions = PositionStore(system.ops)
        with system.ops.begin() as conn:
            conn.exec_driver_sql("DELETE FROM relay_positions")
        await js.delete_stream("ECM")  # a fresh stream: no dedup hits, every round writes
        await ensure_stream(js, settings)
        relay = Relay(app, contracts, js, positions, system.keys, batch_size=500)
        relay.position = 0
        start = time.perf_counter()
        while await relay.publish_pending():
            pass
        times_ecm.append(time.perf_counter() - start)
        if payload is None:
            msg = await js.get_last_msg("ECM", "ecm.referrals.>")
            payload = msg.data or b""
        assert (await js.stream_info("ECM")).state.messages == n
        await js.delete_stream("ECM")
        await ensure_stream(js, settings)
        start = time.perf_counter()
        for i in range(n):
            await js.publish(
                "ecm.bench.raw", payload, stream="ECM", headers={"Nats-Msg-Id": f"raw:{round_}:{i}"}
            )
        times_base.append(time.perf_counter() - start)
    await nc.close()
    system.close()
    ecm_s, base_s = statistics.median(times_ecm), statistics.median(times_base)
    return {
        "name": "relay: store -> JetStream (acked)",
        "n": n,
        "ecm_us_per_op": ecm_s / n * 1e6,
        "baseline_us_per_op": base_s / n * 1e6,
        "ratio": ecm_s / base_s,
    }


async def bench_consumer(folder: Path, n: int) -> dict[str, Any]:
    """A read model consuming n messages in order (apply + commit + ack) vs a raw nats-py
    fetch-and-ack loop over the same messages."""
    nats = EmbeddedNats(folder / "nats-consumer", user="bench", password="bench-password")
    nats.start()
    try:
        return await _consumer_pair(nats, folder, n)
    finally:
        nats.stop()


async def _consumer_pair(nats: EmbeddedNats, folder: Path, n: int) -> dict[str, Any]:
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    from services.referrals.projections import ReferralListProjection
    from shared.consumer import Runner
    from shared.sql import make_engine

    settings: Settings = development_settings(folder / "consumer-var").model_copy(
        update={"nats_url": nats.url, "nats_user": "bench", "nats_password": "bench-password"}
    )
    system, app, contracts, nc, js = await _children_on_a_stream(settings, nats, n)
    relay = Relay(app, contracts, js, PositionStore(system.ops), system.keys, batch_size=500)
    while await relay.publish_pending():
        pass
    last = (await js.stream_info("ECM")).state.last_seq
    times_ecm, times_base = [], []
    for round_ in range(ROUNDS + 1):  # the first round warms up
        sink = ReferralListProjection(make_engine(settings, f"bench-read-{round_}"))
        runner = Runner(sink.consumer(), js, settings, system.keys)
        stop = asyncio.Event()
        start = time.perf_counter()
        task = asyncio.create_task(runner.run(stop))
        while sink.position() < last:  # noqa: ASYNC110 (polling the committed position)
            await asyncio.sleep(0.001)
        elapsed = time.perf_counter() - start
        stop.set()
        await task
        sub = await js.pull_subscribe(
            "ecm.referrals.>",
            durable=f"raw-{round_}",
            stream="ECM",
            config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL),
        )
        begin, acked = time.perf_counter(), 0
        while acked < n:
            for msg in await sub.fetch(settings.consumer_batch_size, timeout=5):
                await msg.ack()
                acked += 1
        raw = time.perf_counter() - begin
        if round_:
            times_ecm.append(elapsed)
            times_base.append(raw)
    await nc.close()
    system.close()
    ecm_s, base_s = statistics.median(times_ecm), statistics.median(times_base)
    return {
        "name": "consumer: apply in order + commit + ack",
        "n": n,
        "ecm_us_per_op": ecm_s / n * 1e6,
        "baseline_us_per_op": base_s / n * 1e6,
        "ratio": ecm_s / base_s,
        "ecm_events_per_s": n / ecm_s,
        "baseline_events_per_s": n / base_s,
    }


def _synthetic_identity(rng: Any, i: int) -> dict[str, Any]:
    """A synthetic child: made-up names, a valid-looking NHS number and UPN."""
    from stdnum.gb import upn

    syllables = [
        "var",
        "thor",
        "pen",
        "dle",
        "mar",
        "wick",
        "ost",
        "ley",
        "bram",
        "fen",
        "hal",
        "sto",
        "quin",
        "ridge",
        "mo",
        "ton",
    ]
    family = "".join(rng.choice(syllables) for _ in range(3)).capitalize()
    given = "".join(rng.choice(syllables) for _ in range(2)).capitalize()
    while True:
        digits = [rng.randrange(10) for _ in range(9)]
        check = 11 - sum(d * w for d, w in zip(digits, range(10, 1, -1), strict=True)) % 11
        if check != 10:
            nhs_number = "".join(map(str, digits)) + str(check % 11)
            break
    body = f"801{i:08d}1"
    born = date(2006, 1, 1).toordinal() + rng.randrange(365 * 10)
    return {
        "given_name": given,
        "family_name": family,
        "date_of_birth": date.fromordinal(born),
        "nhs_number": nhs_number,
        "upn": upn.calc_check_digit(body) + body,
    }


def bench_search(folder: Path, n: int, queries: int) -> dict[str, Any]:
    """Finding a child at n children: GET /children through the keyed blind indexes (HTTP,
    auth, opening the names) vs a plaintext SQL lookup on an indexed table; p50 and p99."""
    import random
    from datetime import UTC, datetime
    from uuid import uuid4

    from fastapi.testclient import TestClient
    from sqlalchemy import Column, Date, MetaData, String, Table, insert, select

    from services.children.index import Searcher, bound_index
    from services.children.search import search_key
    from services.runtime import create_api
    from shared.auth import mint_token
    from shared.consumer import Delivery
    from shared.contracts import Actor, Envelope
    from shared.crypto import FieldCipher
    from shared.domain import Role
    from shared.sql import make_engine

    settings = development_settings(folder / "search-var")
    system = System.build(settings, ["referrals", "children"])
    cipher = FieldCipher(system.vault)
    projection = bound_index(Searcher(cipher, search_key(settings)))(system.engine("children-read"))
    plain_meta = MetaData()
    plain = Table(
        "plain_children",
        plain_meta,
        Column("child_id", String(36), primary_key=True),
        *(
            Column(c, String(200), index=True)
            for c in ("given_name", "family_name", "nhs_number", "upn")
        ),
        Column("date_of_birth", Date, index=True),
    )
    plain_engine = make_engine(settings, "plain-read")
    plain_meta.create_all(plain_engine)
    rng = random.Random(13)
    people: list[dict[str, Any]] = []
    from services.referrals.contracts import REGISTRY as REFERRALS

    registered = REFERRALS.sealed_event("ChildRegistered")
    batch: list[Delivery] = []
    now = datetime.now(UTC)
    for i in range(1, n + 1):
        person = _synthetic_identity(rng, i)
        child = uuid4()
        person["child_id"] = str(child)
        people.append(person)
        data = {
            k: cipher.seal(child, k, v, event=registered)
            for k, v in person.items()
            if k != "child_id"
        }
        batch.append(
            Delivery(
                i,
                Envelope(
                    message_id=f"referrals:{i}",
                    service="referrals",
                    event_type="ChildRegistered",
                    event_version=1,
                    notification_id=i,
                    aggregate_id=child,
                    aggregate_version=1,
                    child_id=child,
                    occurred_at=now,
                    actor=Actor(id="bench", role="case_manager"),
                    reason=None,
                    correlation_id="bench",
                    causation_id="bench",
                    data={**data, "area": list(Area)[i % 4].value},
                ),
            )
        )
        if len(batch) == 500:
            projection.commit(batch)
            batch = []
    if batch:
        projection.commit(batch)
    with plain_engine.begin() as conn:
        conn.execute(insert(plain), people)
    keys = ["family_name", "given_name", "date_of_birth", "nhs_number", "upn"]
    asked = []
    for q in range(queries):
        person, key = rng.choice(people), keys[q % len(keys)]
        value = person[key]
        if key == "family_name":
            value = value[: rng.randrange(3, 7)]
        asked.append((key, str(value)))
    token = mint_token(settings, "psy-bench", Role.PSYCHOLOGIST, None)
    headers = {"Authorization": f"Bearer {token}"}
    ecm_ms: list[float] = []
    with TestClient(create_api(system)) as client:
        for key, value in asked[:20]:  # warm up
            client.get("/api/v1/children", params={key: value}, headers=headers)
        for key, value in asked:
            start = time.perf_counter()
            response = client.get("/api/v1/children", params={key: value}, headers=headers)
            ecm_ms.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200 and response.json()["total"] >= 1, response.text
    plain_ms: list[float] = []
    with plain_engine.connect() as conn:
        for key, value in asked:
            column = plain.c[key]
            where = (
                column.like(f"{value}%")
                if key == "family_name"
                else (column == (date.fromisoformat(value) if key == "date_of_birth" else value))
            )
            start = time.perf_counter()
            rows = conn.execute(select(plain).where(where).limit(50)).all()
            plain_ms.append((time.perf_counter() - start) * 1000)
            assert rows
    system.close()
    plain_engine.dispose()

    def p(values: list[float], q: float) -> float:
        return statistics.quantiles(values, n=100)[int(q) - 1]

    ecm_p99, base_p99 = p(ecm_ms, 99), p(plain_ms, 99)
    return {
        "name": f"search: find a child at {n} children",
        "n": queries,
        "ecm_us_per_op": statistics.median(ecm_ms) * 1000,
        "baseline_us_per_op": statistics.median(plain_ms) * 1000,
        "ratio": statistics.median(ecm_ms) / statistics.median(plain_ms),
        "ecm_p50_ms": p(ecm_ms, 50),
        "ecm_p99_ms": ecm_p99,
        "baseline_p99_ms": base_p99,
        "target_p99_ms": 50.0,
        "meets_target": ecm_p99 < 50.0,
    }


def main() -> None:
    """Run every benchmark and print the table (`--quick`: smaller runs of the pairs that
    support it)."""
    quick = "--quick" in sys.argv[1:]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        store = bench_store(folder, 300)
        relay = asyncio.run(bench_relay(folder, 1000))
        consumer = asyncio.run(bench_consumer(folder, 2000))
        rebuilt = bench_rebuild(folder, 10_000 if quick else 100_000)
        search = bench_search(folder, 10_000, 500)
        seeder, seeding = bench_seed(folder, 200 if quick else 1000)
        try:
            export = bench_export(seeder, folder, 1000 if quick else 10_000)
        finally:
            seeder.close()
        from benchmarks.web import run as bench_web

        page = bench_web(folder)
        latency = asyncio.run(run_relay_benchmarks(folder, quick))
        latency += asyncio.run(run_notice_benchmarks(folder, quick))
    rows = [store["write"], store["read"], relay, consumer, rebuilt, search, export, page, *latency]
    out = Path("bench-results")
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps([*rows, seeding], indent=2))
    print(f"{'benchmark':40} {'n':>6} {'ECM µs/op':>11} {'baseline µs/op':>15} {'ratio':>7}")
    for row in rows:
        print(
            f"{row['name']:40} {row['n']:>6} {row['ecm_us_per_op']:>11.1f} "
            f"{row['baseline_us_per_op']:>15.1f} {row['ratio']:>7.2f}"
        )
    print(
        "baselines: plain eventsourcing on SQLite (no encryption); raw nats-py js.publish; "
        "raw nats-py fetch-and-ack; eventsourcing's runner loop (ProcessApplication "
        "pull_and_process); plaintext SQL lookup on an indexed table"
    )
    print_rebuild(rebuilt)
    print(
        f"search p99: {search['ecm_p99_ms']:.1f} ms over HTTP (target < 50 ms: "
        f"{'met' if search['meets_target'] else 'NOT met'}); plaintext SQL p99 "
        f"{search['baseline_p99_ms']:.2f} ms"
    )
    print(
        f"evaluation export: {export['n']} children in {export['export_seconds']} s "
        f"({export['files']} files, {export['bytes'] // 1024} KiB; baseline: the read model's "
        "child rows as plain CSV)"
    )
    print(
        f"demo seed: {seeding['n']} children in {seeding['seconds']} s "
        f"({seeding['children_per_second']} children/s through the real use cases)"
    )
    print(
        f"child page p99: {page['ecm_p99_ms']:.1f} ms with 500 events (target < 200 ms: "
        f"{'met' if page['meets_target'] else 'NOT met'}); baseline: the timeline API call"
    )
    print_goals(latency)


if __name__ == "__main__":
    main()
