"""Benchmarks of the evaluation side: the cohort generator's rate, and an export of 10,000
children (measures, suppression, CSV, Parquet and the HTML report) against a plain dump."""

from __future__ import annotations

import csv
import io
import time
from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid5

from sqlalchemy import create_engine, select

from services.demo import seed
from services.evaluation import outputs
from services.evaluation.dataset import build
from services.evaluation.measures import Parameters, load_facts
from services.evaluation.projection import EvaluationProjection, children
from services.evaluation.projects import Project
from services.evaluation.service import store_history
from services.runtime import System
from shared.consumer import Delivery
from shared.contracts import Envelope
from shared.settings import development_settings

TODAY = date(2025, 12, 31)
ID_FIELDS = (
    "child_id",
    "referral_id",
    "intervention_id",
    "review_id",
    "offence_id",
    "transition_id",
    "meeting_id",
)


def bench_seed(folder: Path, n: int) -> tuple[System, dict[str, Any]]:
    """`ecm demo seed` through the real use cases: children per second."""
    system = System.build(development_settings(folder / "seed-var"))
    start = time.perf_counter()
    made = seed(system, n, seed_value=2019, years=3, today=TODAY)
    elapsed = time.perf_counter() - start
    return system, {
        "name": "demo seed (real use cases)",
        "n": n,
        "seconds": round(elapsed, 1),
        "children_per_second": round(n / elapsed, 1),
        "made": made,
    }


def _replicas(deliveries: list[Delivery], copies: int) -> list[Delivery]:
    """The same histories `copies` times over, under fresh ids (a large believable cohort)."""
    top: dict[str, int] = defaultdict(int)
    for d in deliveries:
        top[d.envelope.service] = max(top[d.envelope.service], d.envelope.notification_id)
    out = []
    for k in range(copies):
        for d in deliveries:
            e = d.envelope
            data = dict(e.data)
            for name in ID_FIELDS:
                if isinstance(data.get(name), str):
                    data[name] = str(uuid5(UUID(data[name]), str(k)))
            nid = k * top[e.service] + e.notification_id
            out.append(
                Envelope.model_validate(
                    {
                        **e.model_dump(),
                        "data": data,
                        "notification_id": nid,
                        "message_id": f"{e.service}:{nid}",
                        "aggregate_id": uuid5(e.aggregate_id, str(k)),
                        "child_id": uuid5(e.child_id, str(k)) if e.child_id else None,
                    }
                )
            )
    return [Delivery(seq, e) for seq, e in enumerate(out, start=1)]


def bench_export(system: System, folder: Path, n: int) -> dict[str, Any]:
    """An export of `n` children against writing the read model's child rows as plain CSV."""
    history = store_history(system)
    seeded = sum(d.envelope.event_type == "ChildRegistered" for d in history)
    copies = -(-n // seeded)
    engine = create_engine(f"sqlite:///{folder / 'evaluation-bench.sqlite'}")
    projection = EvaluationProjection(engine)
    replicas = _replicas(history, copies)
    for start in range(0, len(replicas), 2000):
        projection.commit(replicas[start : start + 2000])
    project = Project("bench", "Bench", datetime.now(UTC), "bench", b"b" * 32)
    params = Parameters("bench", date(2000, 1, 1), TODAY, TODAY, None, 5)

    started = time.perf_counter()
    export = build(load_facts(engine), params, project)
    files = outputs.files(export)
    ecm = time.perf_counter() - started

    started = time.perf_counter()
    buffer = io.StringIO()
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(children))]
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    baseline = time.perf_counter() - started
    cohort = len(export.tables["children"].rows)
    return {
        "name": f"evaluation export ({cohort} children)",
        "n": cohort,
        "ecm_us_per_op": ecm / cohort * 1e6,
        "baseline_us_per_op": baseline / cohort * 1e6,
        "ratio": ecm / baseline,
        "export_seconds": round(ecm, 2),
        "files": len(files),
        "bytes": sum(map(len, files.values())),
    }
