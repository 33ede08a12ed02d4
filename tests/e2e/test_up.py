"""`ecm up` as a user runs it: serves the API, publishes to JetStream, Ctrl-C stops everything."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from shared.natsserver import free_port

ECM = [sys.executable, "-c", "from services.cli import main; main()"]


def ecm(*args: str, data: Path) -> str:
    result = subprocess.run(
        [*ECM, *args, "--data-dir", str(data)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


def wait_for(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {timeout}s")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_ecm_up_serves_publishes_and_stops_every_process_on_ctrl_c(tmp_path: Path) -> None:
    data = tmp_path / "var"
    port, nats_port = free_port(), free_port()
    up = subprocess.Popen(
        [*ECM, "up", "--data-dir", str(data), "--port", str(port), "--nats-port", str(nats_port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/health")
        token = ecm(
            "token", "--user", "cm-1", "--role", "case_manager", "--area", "bristol", data=data
        ).strip()
        headers = {"Authorization": f"Bearer {token}"}
        base = f"http://127.0.0.1:{port}/api/v1"
        child = httpx.post(
            f"{base}/children",
            headers=headers,
            json={
                "given_name": "Synthetic",
                "family_name": "Uptest",
                "date_of_birth": "2011-04-05",
                "area": "bristol",
            },
        ).json()
        made = httpx.post(
            f"{base}/referrals",
            headers=headers,
            json={
                "child_id": child["id"],
                "reason": "synthetic reason",
                "trauma_history": "synthetic",
                "expected_involvement_months": 6,
            },
        )
        assert made.status_code == 201, made.text
        deadline = time.monotonic() + 20
        while True:
            status = ecm("status", data=data)
            row = next(line for line in status.splitlines() if "referrals " in line)
            cells = [c.strip() for c in row.split("│") if c.strip()]
            if cells[1:3] == ["3", "3"] or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert cells[:5] == ["referrals", "3", "3", "3", "0"], status
        assert (data / "run.json").exists()
        nats_pid = int((data / "nats" / "nats-server.pid").read_text())
        assert alive(nats_pid)
    finally:
        up.send_signal(signal.SIGINT)
        output, _ = up.communicate(timeout=30)
    assert up.returncode == 0, output
    assert "ECM Record is up" in output and "stopped" in output
    assert not alive(nats_pid)
    assert not (data / "run.json").exists()
