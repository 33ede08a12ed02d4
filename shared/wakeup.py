"""Wake-ups on commit: a service's background work (its relay, the delivery loop) waits for
its application to commit instead of polling a store that has not changed.

`notify(service)` is called by the application after every successful save (from any
thread); every waiter subscribed to that service, on any event loop, has its asyncio.Event
set. Waiters still poll, more slowly, as a fallback for writers in other processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator


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


def notify(service: str) -> None:
    """Called by `service`'s application after a successful save."""
    signal(service).notify()


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
