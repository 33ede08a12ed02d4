"""One active relay per service and one active runner per consumer: a PostgreSQL advisory
lock, or a file lock on one machine."""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text


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
            conn = self.engine.connect()
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar()
            conn.commit()
            if got:
                self._held = conn
                return True
            conn.close()
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
        try:  # a session-level advisory lock lives exactly as long as its session
            held.execute(text("SELECT 1"))
            held.commit()
            return True
        except Exception:
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
            held.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            held.commit()
            held.close()
