"""A node's relays and consumers running in a background thread, for synchronous tests (the
HTTP TestClient) whose reads come from the stream, such as the audit trail."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from uuid import UUID

from services.governance.audit import STORE, child_trail
from services.governance.history import HistoryEntry
from services.runtime import System, run_node
from shared.natsserver import EmbeddedNats
from tests.harness import with_nats

T = TypeVar("T")


@contextmanager
def node_in_thread(system: System, nats: EmbeddedNats) -> Iterator[System]:
    """Run `system`'s relays, consumers and background jobs until the block ends."""
    system.settings = with_nats(system.settings, nats)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    ready = threading.Event()
    failed: list[BaseException] = []

    async def main() -> None:
        started = asyncio.Event()
        task = asyncio.create_task(
            run_node(system, nats_url=nats.url, serve_api=False, stop=stop, ready=started)
        )
        await asyncio.wait(
            [task, asyncio.create_task(started.wait())], return_when=asyncio.FIRST_COMPLETED
        )
        ready.set()
        await task

    def run() -> None:
        try:
            loop.run_until_complete(main())
        except BaseException as e:  # reported to the test below
            failed.append(e)
            ready.set()

    thread = threading.Thread(target=run, name="test-node", daemon=True)
    thread.start()
    ready.wait(60)
    if failed:
        raise failed[0]
    try:
        yield system
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(60)
        loop.close()
        if failed:
            raise failed[0]


def wait_until(read: Callable[[], T], done: Callable[[T], bool], timeout: float = 30.0) -> T:
    """Read again until `done` says so (the stream's reads are eventually consistent)."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def audit_trail(
    system: System,
    child_id: UUID,
    *,
    at_least: int = 1,
    decrypt: bool = False,
    timeout: float = 30.0,
) -> list[HistoryEntry]:
    """The child's audit entries once the index holds at least `at_least` of them."""
    from shared.crypto import FieldCipher

    cipher = FieldCipher(system.vault) if decrypt else None
    return wait_until(
        lambda: child_trail(system.engine(STORE), system.contracts, child_id, cipher=cipher),
        lambda entries: len(entries) >= at_least,
        timeout,
    )


def settled_audit(system: System, child_id: UUID, **kwargs: Any) -> list[HistoryEntry]:
    """The child's audit entries once every published event of the stores is in the index."""
    from sqlalchemy import func, select

    from services.governance.audit import AuditIndex
    from shared.relay import PositionStore, stream_index

    sink = next(c.sink for c in system.consumers() if isinstance(c.sink, AuditIndex))

    def caught_up() -> bool:
        positions = PositionStore(system.ops)
        for name, app in system.apps.items():
            if positions.get(name) < (app.recorder.max_notification_id() or 0):
                return False  # the relay has not published everything yet
        with system.ops.connect() as conn:
            last = conn.execute(select(func.max(stream_index.c.seq))).scalar() or 0
        return sink.position() >= last

    wait_until(caught_up, bool, kwargs.pop("timeout", 30.0))
    return audit_trail(system, child_id, at_least=0, **kwargs)
