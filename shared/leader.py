"""One active relay per service and one active runner per consumer: a PostgreSQL advisory
lock, or a file lock on one machine."""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import Connection, Engine, text


class _Session:
    """One PostgreSQL session per engine holds every advisory lock of this process (a lock
    per relay and consumer would otherwise keep a pooled connection each)."""

    sessions: ClassVar[dict[int, _Session]] = {}
    guard: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.conn: Connection | None = None
        self.keys: set[int] = set()
        self.lock = threading.Lock()

    @classmethod
    def of(cls, engine: Engine) -> _Session:
        with cls.guard:
            return cls.sessions.setdefault(id(engine), cls(engine))

    def try_lock(self, key: int) -> bool:
        with self.lock:
            if key in self.keys:  # advisory locks are re-entrant in a session: not twice here
                return False
            if self.conn is None or self.conn.closed or self.conn.invalidated:
                self.conn, self.keys = self.engine.connect(), set()
            got = bool(
                self.conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
            )
            self.conn.commit()
            if got:
                self.keys.add(key)
            return got

    def alive(self, key: int) -> bool:
        """True while the session lives (a session-level advisory lock lives as long)."""
        with self.lock:
            if self.conn is None or key not in self.keys:
                return False
            try:
                self.conn.execute(text("SELECT 1"))
                self.conn.commit()
                return True
            except Exception:
                self.conn, self.keys = None, set()
                return False

    def unlock(self, key: int) -> None:
        with self.lock:
            if self.conn is None or key not in self.keys:
                return
            self.keys.discard(key)
            try:
                self.conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                self.conn.commit()
            finally:
                if not self.keys:
                    self.conn.close()
                    self.conn = None
                    self._forget()

    def _forget(self) -> None:
        """Drop this idle session from the registry, so its engine is not kept alive."""
        with _Session.guard:
            if not self.keys and _Session.sessions.get(id(self.engine)) is self:
                del _Session.sessions[id(self.engine)]


class LeaderLock:
    """Held by at most one process at a time; `acquire` never blocks."""

    def __init__(self, name: str, engine: Engine, folder: Path) -> None:
        self.name = name
        self.engine = engine
        self.folder = folder
        self._held: Any = None

    def acquire(self) -> bool:
        """Try to take the lock; True when this process holds it."""
        if self._held is not None:
            return True
        if self.engine.dialect.name == "postgresql":
            session = _Session.of(self.engine)
            if session.try_lock(self.key):
                self._held = session
                return True
            return False
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder / f"{self.name}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._held = fd
        return True

    def still_held(self) -> bool:
        """True while this process holds the lock (a dropped PostgreSQL session loses it)."""
        held = self._held
        if held is None:
            return False
        if isinstance(held, int):
            return True
        if held.alive(self.key):
            return True
        self._held = None
        return False

    @property
    def key(self) -> int:
        """The advisory lock key for this name."""
        return int.from_bytes(hashlib.sha256(self.name.encode()).digest()[:8], "big", signed=True)

    def release(self) -> None:
        """Give the lock up (also released by the operating system when the process dies)."""
        held, self._held = self._held, None
        if held is None:
            return
        if isinstance(held, int):
            fcntl.flock(held, fcntl.LOCK_UN)
            os.close(held)
        else:
            held.unlock(self.key)
