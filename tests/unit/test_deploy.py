"""The scale-out files in deploy/ agree with the code and with development."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from services.registry import SERVICE_NAMES
from shared.natsserver import nats_server_binary

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
COMPOSE = (DEPLOY / "compose.yaml").read_text()


def development_nats_version() -> str:
    out = subprocess.run(
        [str(nats_server_binary()), "--version"], capture_output=True, text=True, check=True
    ).stdout
    found = re.search(r"v(\d+\.\d+\.\d+)", out)
    assert found, out
    return found.group(1)


def test_compose_runs_every_service_as_its_own_process_with_a_healthcheck() -> None:
    for service in SERVICE_NAMES:
        assert f'command: ["ecm", "serve", "{service}"]' in COMPOSE, service
    assert "/health/ready" in COMPOSE
    assert COMPOSE.count("healthcheck:") >= 3  # ecm services, postgres, nats
    assert "condition: service_healthy" in COMPOSE


def test_compose_runs_the_nats_version_development_runs() -> None:
    images = set(re.findall(r"image: nats:([\w.\-]+)", COMPOSE))
    assert images == {f"{development_nats_version()}-alpine"}


def test_compose_lists_every_cluster_node_in_ecm_nats_url() -> None:
    url = re.search(r"ECM_NATS_URL: (\S+)", COMPOSE)
    assert url is not None
    assert url.group(1).split(",") == [f"nats://nats-{n}:4222" for n in (1, 2, 3)]


@pytest.mark.parametrize("node", [1, 2, 3])
def test_each_cluster_node_configuration_is_valid_for_the_development_nats_server(
    node: int,
) -> None:
    env = {**os.environ, "ECM_NATS_USER": "ecm", "ECM_NATS_PASSWORD": "synthetic"}
    env |= {
        f"ECM_NATS_PASSWORD_{name.upper()}": f"synthetic-{name}"
        for name in (*SERVICE_NAMES, "operator")
    }
    result = subprocess.run(
        [str(nats_server_binary()), "-c", str(DEPLOY / "nats" / f"nats-{node}.conf"), "-t"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_cluster_users_are_the_ones_the_code_grants(tmp_path: Path) -> None:
    from services.runtime import System
    from shared.natsauth import cluster_users
    from shared.settings import development_settings

    system = System.build(development_settings(tmp_path / "var"))
    try:
        expected = cluster_users(system.nats_services())
    finally:
        system.close()
    assert (DEPLOY / "nats" / "users.conf").read_text() == expected


def test_each_service_connects_to_the_cluster_as_its_own_user_with_its_own_keys() -> None:
    for service in SERVICE_NAMES:
        after = COMPOSE.split(f'command: ["ecm", "serve", "{service}"]')[1]
        block = re.split(r"\n  [a-z]", after)[0]
        assert f"ECM_NATS_USER: ecm-{service}" in block, service
        assert f"${{ECM_NATS_PASSWORD_{service.upper()}}}" in block, service
        assert f"./signing/{service}:/run/ecm/signing:ro" in block, service
