"""The audit trail and subject access read the child's own entries of the audit index: the
rows they read do not grow with other children's events (counted, not timed)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event

from services.referrals.application import ReferralsApplication
from services.referrals.domain import Consent
from services.runtime import System, create_api
from shared.domain import Area, Meta
from shared.natsserver import EmbeddedNats
from tests.conftest import Tokens
from tests.live import node_in_thread, settled_audit

CM = Meta("cm-1", "case_manager", "c-1", "c-1")
OTHERS = 40


def child_with_referral(system: System, name: str) -> UUID:
    """A child, a referral and its consent: four events in the referrals store."""
    app = system.app(ReferralsApplication)
    child: UUID = app.register_child(
        given_name=name,
        family_name="Synthetic",
        date_of_birth=date(2011, 2, 3),
        area=Area.BRISTOL,
        nhs_number=None,
        upn=None,
        meta=CM,
    )
    referral = app.refer(
        child_id=child,
        case_manager_id="cm-1",
        reason="synthetic",
        trauma_history="synthetic",
        expected_involvement_months=9,
        meta=CM,
    )
    app.record_consent(referral, Consent.GIVEN, "carer", CM)
    return child


class RowsRead:
    """Every SELECT any SQLAlchemy engine of the system runs, and the rows it returns."""

    def __init__(self, engines: list[Engine]) -> None:
        self.engines = engines
        self.selects: list[tuple[Engine, str, Any]] = []

    @contextmanager
    def counting(self) -> Iterator[RowsRead]:
        listeners = []
        for engine in self.engines:

            def record(
                _conn: Any,
                _cursor: Any,
                statement: str,
                parameters: Any,
                _context: Any,
                _many: bool,
                engine: Engine = engine,
            ) -> None:
                if statement.lstrip().upper().startswith("SELECT"):
                    self.selects.append((engine, statement, parameters))

            event.listen(engine, "before_cursor_execute", record)
            listeners.append((engine, record))
        try:
            yield self
        finally:
            for engine, record in listeners:
                event.remove(engine, "before_cursor_execute", record)

    def rows(self) -> int:
        """The rows those SELECTs return (run again: the data has not changed since)."""
        total = 0
        for engine, statement, parameters in self.selects:
            with engine.connect() as conn:
                total += len(conn.exec_driver_sql(statement, parameters).all())
        return total


class StoreReads:
    """Events and notifications the event stores hand back (each recorder's read methods,
    observed: they still do the reading)."""

    def __init__(self, system: System, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        for app in system.every_store().values():
            for method in ("select_events", "select_notifications"):
                real = getattr(app.recorder, method)

                def counted(*args: Any, _real: Any = real, **kwargs: Any) -> Any:
                    found = _real(*args, **kwargs)
                    self.count += len(found)
                    return found

                monkeypatch.setattr(app.recorder, method, counted)


def engines_of(system: System) -> list[Engine]:
    return [system.ops, system.vault.engine, *system.engines.values()]


def audit_rows(
    system: System,
    stores: StoreReads,
    client: TestClient,
    auth: Tokens,
    child: UUID,
    path: str = "",
) -> tuple[int, int, int]:
    """SQL rows and stored events read to answer one audit request, and the events it
    returned."""
    counter = RowsRead(engines_of(system))
    stores.count = 0
    with counter.counting():
        response = client.get(f"/api/v1/audit/children/{child}{path}", headers=auth("auditor"))
    assert response.status_code == 200, response.text
    return counter.rows(), stores.count, len(response.json()["events"])


def test_an_audit_reads_as_many_rows_with_one_other_child_as_with_many(
    system: System, nats_server: EmbeddedNats, auth: Tokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Measured with the node stopped, so that only the request's own reads are counted, and
    # without the key cache, so that a cache hit does not change the count by chance.
    system.vault.cache_seconds = 0.0
    stores = StoreReads(system, monkeypatch)
    with node_in_thread(system, nats_server):
        first = child_with_referral(system, "Amara")
        child_with_referral(system, "Other")
        settled_audit(system, first)
    with TestClient(create_api(system)) as client:
        alone = audit_rows(system, stores, client, auth, first)
        sar_alone = audit_rows(system, stores, client, auth, first, "/sar")

    with node_in_thread(system, nats_server):
        for n in range(OTHERS):
            child_with_referral(system, f"Other{n}")
        later = child_with_referral(system, "Birgit")  # the same history as the first child
        settled_audit(system, later)
    with TestClient(create_api(system)) as client:
        crowded = audit_rows(system, stores, client, auth, later)
        sar_crowded = audit_rows(system, stores, client, auth, later, "/sar")

    recorder: Any = system.app(ReferralsApplication).recorder
    assert recorder.max_notification_id() == (OTHERS + 3) * 4  # the store grew 20-fold
    assert alone[2] == crowded[2] == 4 and alone[0] > 0 and alone[1] > 0
    assert crowded == alone
    assert sar_crowded == sar_alone
