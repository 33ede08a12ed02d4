"""What an operator sees: readiness, metrics, logs, NATS server lists, the connection budget."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Column, Engine, Index, Integer, MetaData, String, Table, text
from sqlalchemy.exc import ProgrammingError

from services.runtime import System, create_api, run_node
from shared.bus import connect
from shared.logs import configure_logging, correlation
from shared.natsserver import EmbeddedNats, free_port
from shared.settings import Settings, nats_servers
from shared.sql import make_engine
from tests.conftest import Tokens
from tests.harness import eventually, running_node, with_nats


def test_readiness_reports_nats_not_connected_when_no_node_runs(client: TestClient) -> None:
    answer = client.get("/health/ready")
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "unready"
    assert body["checks"] == {"database": "ok", "nats": "not connected"}
    assert set(body["relays"].values()) == {"standby"}  # no node runs here
    assert client.get("/health/live").status_code == 200


@pytest.mark.nats
async def test_readiness_goes_unready_while_nats_is_down_and_ready_when_it_is_back(
    settings: Settings, nats_server: EmbeddedNats
) -> None:
    async with running_node(settings, nats_server, ["referrals"]) as system:
        with TestClient(create_api(system)) as client:
            assert client.get("/health/ready").status_code == 200
            port = nats_server.port
            nats_server.kill()

            def unready() -> bool:
                answer = client.get("/health/ready")
                return answer.status_code == 503 and bool(answer.json()["checks"]["nats"] != "ok")

            await eventually(unready, timeout=10)
            nats_server.port = port
            nats_server.start()
            await eventually(lambda: client.get("/health/ready").status_code == 200, timeout=20)


def test_metrics_show_request_latency_by_route_template_never_by_record_id(
    client: TestClient, auth: Tokens
) -> None:
    missing = "00000000-0000-4000-8000-000000000001"
    client.get(f"/api/v1/children/{missing}", headers=auth("case_manager"))
    body = client.get("/metrics").text
    assert "ecm_http_request_duration_seconds_bucket" in body
    assert 'route="/api/v1/children/{child_id}"' in body
    assert missing not in body
    for name in (
        "ecm_relay_lag_events",
        "ecm_consumer_parked_messages",
        "ecm_nats_connected",
        "ecm_notice_deliveries_total",
        "ecm_erasures_total",
    ):
        assert name in body


def test_the_access_log_has_the_path_but_never_the_query_string(
    client: TestClient, auth: Tokens, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="ecm.access"):
        client.get(
            "/api/v1/referrals?family_name=Synthetic-Secret",
            headers=auth("psychologist"),
            params={"given_name": "Hidden"},
        )
    lines = [r for r in caplog.records if r.name == "ecm.access"]
    assert lines, "no access log line"
    line = lines[-1]
    assert line.getMessage().startswith("GET /api/v1/referrals 200 ")
    assert "Synthetic-Secret" not in line.getMessage() and "Hidden" not in line.getMessage()
    assert vars(line)["path"] == "/api/v1/referrals"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_production_logs_are_json_lines_carrying_the_correlation_id(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(json_lines=True, level="INFO")
    with correlation("corr-42\nforged line"):
        logging.getLogger("ecm.test").info("notice %s sent", "n-1")
    entry = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert entry["message"] == "notice n-1 sent"
    assert entry["correlation_id"] == "corr-42_forged_line"
    assert entry["level"] == "info" and entry["logger"] == "ecm.test"


def test_a_request_s_log_lines_carry_its_correlation_id_and_no_query_string(
    restore_logging: None, capsys: pytest.CaptureFixture[str], client: TestClient, auth: Tokens
) -> None:
    configure_logging(json_lines=True, level="INFO")
    answer = client.get(
        "/api/v1/referrals?limit=5&family_name=Hidden-Name",
        headers={**auth("psychologist"), "X-Correlation-Id": "corr-from-partner"},
    )
    assert answer.status_code == 200
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    access_lines = [line for line in lines if line["logger"] == "ecm.access"]
    assert access_lines[-1]["correlation_id"] == "corr-from-partner"
    assert access_lines[-1]["path"] == "/api/v1/referrals"
    assert access_lines[-1]["route"] == "/api/v1/referrals" and access_lines[-1]["status"] == 200
    assert not [line for line in lines if "Hidden-Name" in json.dumps(line)]


def test_development_logs_are_readable_lines(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(json_lines=False, level="INFO")
    with correlation("corr-7"):
        logging.getLogger("ecm.test").warning("relay behind")
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.endswith("WARNING ecm.test [corr-7] relay behind")


def test_a_comma_separated_nats_url_names_every_server(settings: Settings) -> None:
    listed = settings.model_copy(
        update={"nats_url": "nats://nats-1:4222, nats://nats-2:4222,nats://nats-3:4222"}
    )
    assert nats_servers(listed) == [
        "nats://nats-1:4222",
        "nats://nats-2:4222",
        "nats://nats-3:4222",
    ]
    assert nats_servers(settings) == [f"nats://127.0.0.1:{settings.nats_port}"]


@pytest.mark.nats
async def test_a_node_connects_through_a_server_list_whose_first_server_is_down(
    settings: Settings, nats_server: EmbeddedNats
) -> None:
    listed = f"nats://127.0.0.1:{free_port()},{nats_server.url}"
    configured = with_nats(settings, nats_server).model_copy(update={"nats_url": listed})
    nc = await connect(configured)
    assert nc.is_connected
    await nc.close()
    system = System.build(configured, ["referrals"])
    stop, ready = asyncio.Event(), asyncio.Event()
    node = asyncio.create_task(
        run_node(system, nats_url=listed, serve_api=False, stop=stop, ready=ready)
    )
    try:
        await asyncio.wait_for(ready.wait(), 30)  # relay connection and consumer broker both up
        assert system.bus is not None and system.bus.is_connected
    finally:
        stop.set()
        await node
        system.close()


@pytest.mark.postgres
def test_stores_on_postgresql_share_one_pool_and_stay_in_their_own_schemas(
    pg_settings: Settings,
) -> None:
    first, second = make_engine(pg_settings, "first"), make_engine(pg_settings, "second")
    assert first.pool is second.pool
    assert first.pool.size() == pg_settings.pg_pool_size  # type: ignore[attr-defined]
    with first.begin() as conn:
        conn.execute(text("CREATE TABLE only_here (n int)"))
        conn.execute(text("INSERT INTO only_here VALUES (1)"))
    with second.connect() as conn, pytest.raises(ProgrammingError):
        conn.execute(text("SELECT n FROM only_here"))
    for _ in range(3):  # the same pooled connection, switched back and forth
        with first.connect() as conn:
            assert conn.execute(text("SELECT n FROM only_here")).scalar() == 1
        with second.connect() as conn:
            assert conn.execute(text("SHOW search_path")).scalar() == pg_settings.pg_schema(
                "second"
            )


def test_each_service_store_gets_the_configured_pool_size(settings: Settings) -> None:
    sized = settings.model_copy(
        update={
            "postgres_url": "postgresql://ecm@db:5432/ecm",
            "pg_store_pool_size": 3,
            "pg_store_max_overflow": 1,
        }
    )
    env = sized.eventsourcing_env("referrals")
    assert env["POSTGRES_POOL_SIZE"] == "3" and env["POSTGRES_MAX_OVERFLOW"] == "1"


@pytest.mark.postgres
@pytest.mark.nats
def test_an_idle_ecm_serve_on_postgresql_stays_within_its_connection_budget(
    pg_settings: Settings, nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    app_name = f"ecm-budget-{uuid.uuid4().hex[:8]}"  # libpq tags every connection with it
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECM_")}
    env.update(
        {
            "PGAPPNAME": app_name,
            "ECM_DEV_MODE": "false",
            "ECM_DATA_DIR": str(tmp_path / "serve"),
            "ECM_SECRET_KEY": pg_settings.secret_key,
            "ECM_MASTER_KEY": pg_settings.master_key,
            "ECM_POSTGRES_URL": str(pg_settings.postgres_url),
            "ECM_PG_SCHEMA_PREFIX": pg_settings.pg_schema_prefix,
            "ECM_NATS_URL": nats_server.url,
            "ECM_NATS_USER": str(nats_server.user),
            "ECM_NATS_PASSWORD": str(nats_server.password),
            "ECM_API_PORT": str(port),
        }
    )
    serve = subprocess.Popen(
        [sys.executable, "-c", "from services.cli import main; main()", "serve", "referrals"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/health/ready").status_code == 200:
                    break
            time.sleep(0.2)
        else:
            raise AssertionError("ecm serve did not become ready")
        time.sleep(1)  # let the relay and consumers settle into idling
        with psycopg.connect(str(pg_settings.postgres_url)) as conn:
            held = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (app_name,)
            ).fetchone()
        assert held is not None and held[0] >= 1, "PGAPPNAME did not tag the connections"
        # Idle: the store pool's minimum plus at most the read-side pool's size (the relay's
        # leader lock is one of them), plus the wake-ups' own two (shared/wakeup.py: the
        # commit announcer's NOTIFY connection and the relay's LISTEN connection); with a pool
        # per schema an idle process held 10-18.
        wakeups = 2
        assert held[0] <= pg_settings.pg_store_pool_size + pg_settings.pg_pool_size + wakeups, held[
            0
        ]
        budget = (
            pg_settings.pg_pool_size
            + pg_settings.pg_max_overflow
            + pg_settings.pg_store_pool_size
            + pg_settings.pg_store_max_overflow
            + wakeups
        )
        assert held[0] <= budget
    finally:
        serve.send_signal(signal.SIGINT)
        _, errors = serve.communicate(timeout=30)
    assert serve.returncode == 0, errors


@pytest.mark.postgres
def test_processes_creating_the_same_tables_at_once_on_postgresql_all_succeed(
    pg_settings: Settings,
) -> None:
    engines = [make_engine(pg_settings, "race") for _ in range(6)]
    barrier = threading.Barrier(len(engines))
    failures: list[str] = []

    def create(engine: Engine) -> None:
        metadata = MetaData()
        Table(
            "positions",
            metadata,
            Column("service", String(64), primary_key=True),
            Column("position", Integer, nullable=False),
            Index("ix_position", "position"),
        )
        barrier.wait()
        try:
            metadata.create_all(engine)
        except Exception as e:
            failures.append(f"{type(e).__name__}: {e}")

    threads = [threading.Thread(target=create, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with engines[0].connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM positions")).scalar() == 0
