"""`ecm up` as an operator runs it: configuration, one instance per folder, nats-server's life."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared.natsserver import EmbeddedNats, free_port, is_nats_server, read_pid

ECM = [sys.executable, "-c", "from services.cli import main; main()"]
pytestmark = pytest.mark.nats


def environment(**values: str) -> dict[str, str]:
    """This process's environment without any ECM_ setting, in dev mode, plus `values`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECM_")}
    return {**env, "ECM_DEV_MODE": "true", **values}


def start_up(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*ECM, "up", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def wait_until(check: object, timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"{what} not met within {timeout}s")


def answers(port: int, path: str = "/health/live") -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def dead(pid: int) -> bool:
    return not is_nats_server(pid)


def stop(process: subprocess.Popen[str]) -> str:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=30)
    return output


@pytest.fixture
def ports() -> Iterator[tuple[int, int]]:
    yield free_port(), free_port()


def test_ecm_up_takes_its_data_folder_and_ports_from_the_environment(
    tmp_path: Path, ports: tuple[int, int]
) -> None:
    api_port, nats_port = ports
    data = tmp_path / "from-env"
    up = start_up(
        env=environment(
            ECM_DATA_DIR=str(data), ECM_API_PORT=str(api_port), ECM_NATS_PORT=str(nats_port)
        )
    )
    try:
        wait_until(lambda: answers(api_port), what="API on the ECM_API_PORT")
        run = json.loads((data / "run.json").read_text())
        assert run["api_url"] == f"http://127.0.0.1:{api_port}"
        assert run["nats_url"] == f"nats://127.0.0.1:{nats_port}"
        assert listening(nats_port)
        assert is_nats_server(read_pid(data / "nats" / "nats-server.pid") or 0)
    finally:
        output = stop(up)
    assert up.returncode == 0, output
    assert not (data / "run.json").exists()


def test_an_option_overrides_the_environment(tmp_path: Path, ports: tuple[int, int]) -> None:
    api_port, nats_port = ports
    env_port = free_port()
    up = start_up(
        "--data-dir",
        str(tmp_path / "var"),
        "--port",
        str(api_port),
        env=environment(ECM_API_PORT=str(env_port), ECM_NATS_PORT=str(nats_port)),
    )
    try:
        wait_until(lambda: answers(api_port), what="API on the --port")
        assert not listening(env_port)
        assert listening(nats_port)
    finally:
        output = stop(up)
    assert up.returncode == 0, output


def test_a_second_ecm_up_on_a_folder_in_use_is_refused_and_leaves_the_first_alone(
    tmp_path: Path, ports: tuple[int, int]
) -> None:
    api_port, nats_port = ports
    data = tmp_path / "var"
    first = start_up(
        "--data-dir",
        str(data),
        "--port",
        str(api_port),
        "--nats-port",
        str(nats_port),
        env=environment(),
    )
    try:
        wait_until(lambda: answers(api_port), what="first instance up")
        second = subprocess.run(
            [
                *ECM,
                "up",
                "--data-dir",
                str(data),
                "--port",
                str(free_port()),
                "--nats-port",
                str(free_port()),
            ],
            env=environment(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 4, second.stdout + second.stderr
        assert "is in use by another ecm process" in second.stderr
        assert f"pid {first.pid}" in second.stderr
        assert json.loads((data / "run.json").read_text())["pid"] == first.pid
        assert answers(api_port)
    finally:
        output = stop(first)
    assert first.returncode == 0, output


def test_ecm_up_refuses_a_nats_port_held_by_a_listener_it_did_not_start(
    tmp_path: Path, ports: tuple[int, int]
) -> None:
    api_port, nats_port = ports
    with socket.socket() as foreign:
        foreign.bind(("127.0.0.1", nats_port))
        foreign.listen()
        result = subprocess.run(
            [
                *ECM,
                "up",
                "--data-dir",
                str(tmp_path / "var"),
                "--port",
                str(api_port),
                "--nats-port",
                str(nats_port),
            ],
            env=environment(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "already in use by a process this data folder did not start" in result.stderr
    assert "is up" not in result.stdout
    assert not answers(api_port)


def test_ecm_up_stops_the_orphaned_nats_server_of_its_folder_before_starting_its_own(
    tmp_path: Path, ports: tuple[int, int]
) -> None:
    api_port, nats_port = ports
    data = tmp_path / "var"
    orphan = EmbeddedNats(data / "nats", port=nats_port, user="ecm", password="left-behind")
    orphan.start()
    assert orphan.process is not None
    orphan_pid = orphan.process.pid
    up = start_up(
        "--data-dir",
        str(data),
        "--port",
        str(api_port),
        "--nats-port",
        str(nats_port),
        env=environment(),
    )
    try:
        wait_until(lambda: answers(api_port), what="up after stopping the orphan")
        assert orphan.process.poll() is not None
        assert read_pid(data / "nats" / "nats-server.pid") not in (None, orphan_pid)
    finally:
        output = stop(up)
        orphan.stop()
    assert up.returncode == 0, output


def test_a_dead_nats_server_is_restarted_and_a_sigkill_of_ecm_up_leaves_none_running(
    tmp_path: Path, ports: tuple[int, int]
) -> None:
    api_port, nats_port = ports
    data = tmp_path / "var"
    pid_file = data / "nats" / "nats-server.pid"
    up = start_up(
        "--data-dir",
        str(data),
        "--port",
        str(api_port),
        "--nats-port",
        str(nats_port),
        env=environment(),
    )
    try:
        wait_until(lambda: answers(api_port), what="up")
        first = read_pid(pid_file)
        assert first is not None and is_nats_server(first)
        os.kill(first, signal.SIGKILL)
        wait_until(
            lambda: read_pid(pid_file) not in (None, first) and listening(nats_port),
            what="nats-server restarted",
        )
        second = read_pid(pid_file)
        assert second is not None and is_nats_server(second)
        wait_until(lambda: answers(api_port, "/health/ready"), what="ready again")
        up.send_signal(signal.SIGKILL)
        up.wait(10)
        wait_until(lambda: dead(second), timeout=10, what="nats-server gone with ecm up")
        assert not listening(nats_port)
    finally:
        if up.poll() is None:
            up.kill()
        up.communicate(timeout=10)
