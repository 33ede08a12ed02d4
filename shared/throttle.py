"""Failed authentications are rate-limited per client: a token guesser is slowed to a trickle.

A sliding window per client address, in memory (per process: each API process limits on its
own). Only failures count; over the limit the client is answered 429 with Retry-After before
its token is even looked at.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from threading import Lock

MAX_CLIENTS = 10_000  # bounded memory: the clients failing longest ago are forgotten first


class TooManyFailedAuthentications(Exception):
    """The client failed to authenticate too often lately."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed authentications: retry after {retry_after} s")
        self.retry_after = retry_after


class FailedAuthentications:
    """At most `limit` failed authentications per client in any `window` seconds."""

    def __init__(
        self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = Lock()

    def check(self, client: str) -> None:
        """Raise TooManyFailedAuthentications while `client` is over the limit."""
        now = self.clock()
        with self._lock:
            failures = self._failures.get(client)
            if failures is None:
                return
            while failures and failures[0] <= now - self.window:
                failures.popleft()
            if not failures:
                del self._failures[client]
                return
            if len(failures) >= self.limit:
                wait = max(1, int(failures[0] + self.window - now + 0.999))
                raise TooManyFailedAuthentications(wait)

    def failed(self, client: str) -> None:
        """Count one failed authentication of `client`."""
        with self._lock:
            failures = self._failures.setdefault(client, deque())
            failures.append(self.clock())
            self._failures.move_to_end(client)
            while len(self._failures) > MAX_CLIENTS:
                self._failures.popitem(last=False)
