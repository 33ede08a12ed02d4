"""Wake-ups on commit: a service's background work (its relay, the delivery loop) waits for
its application to commit instead of polling a store that has not changed.

`notify(service)` is called by the application after every successful save (from any
thread); every waiter subscribed to that service, on any event loop, has its asyncio.Event
set. On PostgreSQL the commit is also announced with NOTIFY on a channel per service (sent
from a background thread, after the commit), and `woken_by_commits` LISTENs there, so a
writer in another process wakes the waiter too. Waiters still poll, more slowly, as a
fallback (a lost connection, a missed notification).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import queue
import threading
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.settings import Settings

log = logging.getLogger(__name__)


class Signal:
    """One service's commit signal: thread-safe to raise, awaited on asyncio event loops."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._lock = threading.Lock()
        self._waiters: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Event]] = {}

    def notify(self) -> None:
        """The service committed: wake every waiter (cheap when there is none)."""
        with self._lock:
            waiters = list(self._waiters.values())
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # its loop closed meanwhile
                loop.call_soon_threadsafe(event.set)

    @contextlib.contextmanager
    def subscribed(self, event: asyncio.Event | None = None) -> Iterator[asyncio.Event]:
        """While inside, `event` (a new one by default) is set on each commit of the service.
        Must be entered on the event loop that awaits it."""
        loop = asyncio.get_running_loop()
        event = event if event is not None else asyncio.Event()
        key = id(event)
        with self._lock:
            self._waiters[key] = (loop, event)
        try:
            yield event
        finally:
            with self._lock:
                self._waiters.pop(key, None)

    @property
    def waiting(self) -> int:
        """How many waiters are subscribed."""
        with self._lock:
            return len(self._waiters)


_signals: dict[str, Signal] = {}
_signals_lock = threading.Lock()


def signal(service: str) -> Signal:
    """The commit signal of `service` in this process."""
    with _signals_lock:
        found = _signals.get(service)
        if found is None:
            found = _signals[service] = Signal(service)
        return found


def notify(service: str, settings: Settings | None = None) -> None:
    """Called by `service`'s application after a successful save: wakes this process's
    waiters and, on PostgreSQL, announces the commit to other processes."""
    signal(service).notify()
    if settings is not None and settings.postgres_url:
        _announcer(settings.postgres_url).announce(channel(settings, service))


def channel(settings: Settings, service: str) -> str:
    """The PostgreSQL notification channel of `service`'s commits (per deployment)."""
    return f"{settings.pg_schema_prefix}ecm_commit_{service}"[:63]


class _Announcer:
    """Sends NOTIFY for commits from a daemon thread, coalescing what piled up meanwhile
    (each NOTIFY is sent after the commits it announces, so none is lost by coalescing)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.pending: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.queued = self.done = 0
        self.progress = threading.Condition()
        threading.Thread(target=self._run, name="ecm-commit-notify", daemon=True).start()
        atexit.register(self.flush)  # a short-lived writer (a CLI command) still announces

    def announce(self, name: str) -> None:
        with self.progress:
            self.queued += 1
        self.pending.put(name)

    def flush(self, timeout: float = 2.0) -> bool:
        """Wait until every announcement so far was sent (or given up); True if so."""
        with self.progress:
            target = self.queued
            return self.progress.wait_for(lambda: self.done >= target, timeout)

    def _run(self) -> None:
        import psycopg

        conn: psycopg.Connection[object] | None = None
        while True:
            batch = [self.pending.get()]
            with contextlib.suppress(queue.Empty):
                while True:
                    batch.append(self.pending.get_nowait())
            names = set(batch)
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(_libpq_url(self.url), autocommit=True)
                for name in sorted(names):
                    conn.execute("SELECT pg_notify(%s, '')", (name,))
            except psycopg.Error as error:  # the waiters' poll covers a missed wake-up
                log.warning("commit notification not sent: %s", error)
                conn = None
            with self.progress:
                self.done += len(batch)
                self.progress.notify_all()


_announcers: dict[str, _Announcer] = {}


def _announcer(url: str) -> _Announcer:
    with _signals_lock:
        found = _announcers.get(url)
        if found is None:
            found = _announcers[url] = _Announcer(url)
        return found


def _libpq_url(url: str) -> str:
    """A SQLAlchemy-style URL (postgresql+psycopg://) as libpq takes it."""
    scheme, rest = url.split("://", 1)
    return f"postgresql://{rest}" if scheme.startswith("postgres") else url


@contextlib.asynccontextmanager
async def woken_by_commits(
    settings: Settings, service: str, event: asyncio.Event | None = None
) -> AsyncIterator[asyncio.Event]:
    """`event` is set on each commit of `service`: in this process, and on PostgreSQL in
    any process (LISTEN, reconnecting after errors)."""
    with signal(service).subscribed(event) as woken:
        if not settings.postgres_url:
            yield woken
            return
        listener = asyncio.create_task(
            _listen(settings.postgres_url, channel(settings, service), woken)
        )
        try:
            yield woken
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener


async def _listen(url: str, name: str, woken: asyncio.Event) -> None:
    import psycopg
    from psycopg import sql

    while True:
        try:
            async with await psycopg.AsyncConnection.connect(
                _libpq_url(url), autocommit=True
            ) as conn:
                await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(name)))
                woken.set()  # anything committed before the LISTEN is picked up once
                async for _note in conn.notifies():
                    woken.set()
        except psycopg.Error as error:
            log.warning("LISTEN %s failed (%s); polling until it reconnects", name, error)
            await asyncio.sleep(2.0)


async def wait_for(event: asyncio.Event, stop: asyncio.Event, seconds: float) -> bool:
    """Wait until `event` or `stop` is set, at most `seconds` (the fallback poll);
    True when woken by `event`."""
    if event.is_set() or stop.is_set():
        return event.is_set()
    waiters = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    return event.is_set()
