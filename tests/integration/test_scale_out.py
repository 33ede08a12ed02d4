"""Scale-out as deployed: PostgreSQL, a 3-node JetStream cluster and one process per copy."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import nats.errors
import pytest

from shared.auth import mint_token
from shared.bus import connect
from shared.contracts import STREAM
from shared.domain import Area, Role
from shared.natsserver import free_port
from shared.settings import Settings
from tests.cluster import NatsCluster

pytestmark = [pytest.mark.postgres, pytest.mark.nats, pytest.mark.scaleout]
ECM = [sys.executable, "-c", "from services.cli import main; main()"]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    nodes = NatsCluster(tmp_path / "nats")
    nodes.start()
    yield nodes
    nodes.stop()


def environment(settings: Settings, cluster: NatsCluster, data: Path) -> dict[str, str]:
    from services.registry import all_plugins
    from shared.signing import make_service_folders

    signing = data.parent / "signing"  # what `ecm signing-keys` makes for an operator
    make_service_folders(
        signing,
        [p.name for p in all_plugins() if p.contracts is not None],
        [p.name for p in all_plugins() if p.contracts is None],
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECM_")}
    env.update(
        {
            "ECM_SIGNING_KEYS_DIR": str(signing / "referrals"),
            "ECM_DEV_MODE": "false",
            "ECM_DATA_DIR": str(data),
            "ECM_SECRET_KEY": settings.secret_key,
            "ECM_MASTER_KEY": settings.master_key,
            "ECM_POSTGRES_URL": str(settings.postgres_url),
            "ECM_PG_SCHEMA_PREFIX": settings.pg_schema_prefix,
            "ECM_NATS_URL": cluster.urls,
            "ECM_NATS_USER": cluster.user,
            "ECM_NATS_PASSWORD": cluster.password,
            "ECM_STREAM_REPLICAS": "3",
            "ECM_RELAY_POLL_SECONDS": "0.05",
            "ECM_LOG_LEVEL": "WARNING",
        }
    )
    return env


def serve(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*ECM, "serve", "referrals", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )


def ready(port: int, timeout: float = 120) -> None:  # a fresh cluster can take a while
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"port {port} not ready in {timeout}s")


async def jetstream_ready(settings: Settings, cluster: NatsCluster) -> None:
    configured = settings.model_copy(
        update={
            "nats_url": cluster.urls,
            "nats_user": cluster.user,
            "nats_password": cluster.password,
        }
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            nc = await connect(configured, reconnect=False)
            try:
                await nc.jetstream().account_info()
                return
            finally:
                await nc.close()
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def stream_state(settings: Settings, cluster: NatsCluster) -> tuple[str, list[str]]:
    """The stream leader's name and every message id, once the stream answers (failover)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return await _stream_state(settings, cluster)
        except nats.errors.Error:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def _stream_state(settings: Settings, cluster: NatsCluster) -> tuple[str, list[str]]:
    configured = settings.model_copy(
        update={
            "nats_url": cluster.urls,
            "nats_user": cluster.user,
            "nats_password": cluster.password,
        }
    )
    nc = await connect(configured)
    try:
        js = nc.jetstream()
        info = await js.stream_info(STREAM)
        ids = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(STREAM, seq)
            ids.append((msg.headers or {}).get("Nats-Msg-Id", ""))
        leader = info.cluster.leader if info.cluster else ""
        return str(leader), ids
    finally:
        await nc.close()


def test_a_journey_under_load_survives_losing_the_stream_leader_and_a_service_process(
    pg_settings: Settings, cluster: NatsCluster, tmp_path: Path
) -> None:
    asyncio.run(jetstream_ready(pg_settings, cluster))
    env = environment(pg_settings, cluster, tmp_path / "data")
    log = tmp_path / "serve.log"
    ports = [free_port(), free_port()]
    processes = [serve(env, port, log) for port in ports]  # at once, as compose starts them
    headers = {
        "Authorization": "Bearer "
        + mint_token(pg_settings, "cm-1", Role.CASE_MANAGER, Area.BRISTOL)
    }
    statuses: list[int] = []
    referrals: list[str] = []

    def journey(i: int) -> None:
        """Register a child and refer them, through whichever copy answers."""
        for attempt in range(60):
            port = ports[(i + attempt) % 2]
            try:
                child = httpx.post(
                    f"http://127.0.0.1:{port}/api/v1/children",
                    headers=headers,
                    timeout=15,
                    json={
                        "given_name": f"Scale{i}",
                        "family_name": "Synthetic",
                        "date_of_birth": "2011-02-03",
                        "area": "bristol",
                    },
                )
                statuses.append(child.status_code)
                if child.status_code != 201:
                    time.sleep(0.5)
                    continue
                made = httpx.post(
                    f"http://127.0.0.1:{port}/api/v1/referrals",
                    headers=headers,
                    timeout=15,
                    json={
                        "child_id": child.json()["id"],
                        "reason": "synthetic",
                        "trauma_history": "synthetic",
                        "expected_involvement_months": 6,
                    },
                )
                statuses.append(made.status_code)
                if made.status_code == 201:
                    referrals.append(made.json()["id"])
                    return
            except httpx.HTTPError:
                pass  # that copy is down: try the other
            time.sleep(0.5)
        raise AssertionError(f"journey {i} never acknowledged")

    try:
        for port in ports:
            ready(port)
        with ThreadPoolExecutor(4) as pool:
            first = list(pool.map(journey, range(15)))
            leader, _ = asyncio.run(stream_state(pg_settings, cluster))
            cluster.kill(cluster.node(leader))
            processes[0].send_signal(signal.SIGKILL)
            processes[0].wait()
            second = list(pool.map(journey, range(15, 30)))
            new_leader, _ = asyncio.run(stream_state(pg_settings, cluster))
            assert new_leader not in ("", leader)  # the stream failed over meanwhile
            cluster.start(cluster.node(leader))
            processes[0] = serve(env, ports[0], log)
            ready(ports[0])
            third = list(pool.map(journey, range(30, 40)))
        assert len(first + second + third) == len(set(referrals)) == 40
        assert not [s for s in statuses if s >= 500], (statuses, log.read_text()[-3000:])

        def settled() -> dict[str, object]:
            out = subprocess.run(
                [
                    *ECM,
                    "status",
                    "--json",
                    "--token",
                    mint_token(pg_settings, "admin-1", Role.ADMIN, None),
                ],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            ).stdout
            return next(r for r in json.loads(out)["services"] if r["service"] == "referrals")

        deadline = time.monotonic() + 60
        while (row := settled())["lag"] != 0 or row["published"] != row["stored"]:
            assert time.monotonic() < deadline, row
            time.sleep(0.5)
        _, ids = asyncio.run(stream_state(pg_settings, cluster))
        ours = [i for i in ids if i.startswith("referrals:")]
        assert len(ours) == len(set(ours)) == row["stored"]  # every event on the stream, once
        for port in ports:
            deadline = time.monotonic() + 60
            while True:
                listed = httpx.get(
                    f"http://127.0.0.1:{port}/api/v1/referrals",
                    headers=headers,
                    params={"limit": 500},
                    timeout=15,
                ).json()
                if {r["referral_id"] for r in listed} >= set(referrals):
                    break
                assert time.monotonic() < deadline, "read model is missing referrals"
                time.sleep(0.5)
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
