"""Backup and restore as an operator runs them, on a real `ecm up` and its data folder."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from shared.natsserver import free_port
from tests.e2e.test_up_operations import answers, environment, start_up, stop, wait_until

ECM = [sys.executable, "-c", "from services.cli import main; main()"]
pytestmark = pytest.mark.nats


def ecm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ECM, *args], env=environment(), capture_output=True, text=True, timeout=120
    )


def token(data: Path, role: str = "case_manager") -> dict[str, str]:
    extra = ["--area", "bristol"] if role == "case_manager" else []
    minted = ecm("token", "--user", f"{role}-1", "--role", role, *extra, "--data-dir", str(data))
    assert minted.returncode == 0, minted.stderr
    return {"Authorization": f"Bearer {minted.stdout.strip()}"}


def referrals_row(data: Path) -> dict[str, object]:
    status = ecm("status", "--json", "--data-dir", str(data))
    assert status.returncode == 0, status.stderr
    rows = json.loads(status.stdout)["services"]
    return next(r for r in rows if r["service"] == "referrals")


def test_a_backup_restored_into_an_empty_folder_serves_the_same_records(tmp_path: Path) -> None:
    source, copy, restored = tmp_path / "var", tmp_path / "backup", tmp_path / "restored"
    port = free_port()
    up = start_up(
        "--data-dir",
        str(source),
        "--port",
        str(port),
        "--nats-port",
        str(free_port()),
        env=environment(),
    )
    try:
        wait_until(lambda: answers(port), what="up")
        base = f"http://127.0.0.1:{port}/api/v1"
        child = httpx.post(
            f"{base}/children",
            headers=token(source),
            json={
                "given_name": "Backupina",
                "family_name": "Synthetic",
                "date_of_birth": "2011-02-03",
                "area": "bristol",
            },
        ).json()
        made = httpx.post(
            f"{base}/referrals",
            headers=token(source),
            json={
                "child_id": child["id"],
                "reason": "synthetic reason",
                "trauma_history": "synthetic",
                "expected_involvement_months": 6,
            },
        )
        assert made.status_code == 201, made.text
        wait_until(lambda: referrals_row(source)["published"] == 3, what="published")
        wait_until(
            lambda: httpx.get(f"{base}/referrals", headers=token(source)).json(),
            what="the referral list has the referral",
        )
        refused = ecm("backup", str(copy), "--data-dir", str(source))
        assert refused.returncode == 4, refused.stderr
        assert "needs the system stopped" in refused.stderr
    finally:
        up.send_signal(signal.SIGINT)
        up.communicate(timeout=30)

    taken = ecm("backup", str(copy), "--data-dir", str(source))
    assert taken.returncode == 0, taken.stderr
    manifest = json.loads((copy / "manifest.json").read_text())
    assert manifest["stores"][-1] == "keys.sqlite"  # keys after every event store
    assert manifest["master_key_included"] is True
    done = ecm("restore", str(copy), "--data-dir", str(restored))
    assert done.returncode == 0, done.stderr

    port = free_port()
    again = start_up(
        "--data-dir",
        str(restored),
        "--port",
        str(port),
        "--nats-port",
        str(free_port()),
        env=environment(),
    )
    try:
        wait_until(lambda: answers(port), what="restored up")
        base = f"http://127.0.0.1:{port}/api/v1"
        read = httpx.get(f"{base}/children/{child['id']}", headers=token(restored))
        assert read.status_code == 200, read.text
        assert read.json()["given_name"] == "Backupina"  # the child's key came back too
        listed = httpx.get(f"{base}/referrals", headers=token(restored)).json()
        assert [r["referral_id"] for r in listed] == [made.json()["id"]]  # the read model too
        row = referrals_row(restored)
        assert (row["stored"], row["published"], row["lag"]) == (3, 3, 0)
        auditor = token(restored, "auditor")["Authorization"].removeprefix("Bearer ")
        verified = ecm("verify", "--json", "--token", auditor, "--data-dir", str(restored))
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert json.loads(verified.stdout)["ok"] is True
    finally:
        output = stop(again)
    assert again.returncode == 0, output


def test_restore_refuses_a_folder_in_use_and_a_backup_changed_since_it_was_taken(
    tmp_path: Path,
) -> None:
    source, copy = tmp_path / "var", tmp_path / "backup"
    (source / "secrets").mkdir(parents=True)
    ecm("tick", "--data-dir", str(source))  # creates the stores
    assert ecm("backup", str(copy), "--data-dir", str(source)).returncode == 0

    occupied = ecm("restore", str(copy), "--data-dir", str(source))
    assert occupied.returncode == 1 and "is not empty" in occupied.stderr

    store = copy / "db" / "referrals-events.sqlite"
    store.write_bytes(store.read_bytes() + b"tampered")
    changed = ecm("restore", str(copy), "--data-dir", str(tmp_path / "new"))
    assert changed.returncode == 1
    assert "db/referrals-events.sqlite is missing or changed since the backup" in changed.stderr
    assert not (tmp_path / "new" / "db").exists()
