"""One `ecm up` per data folder: a lock file held for the life of the process."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

LOCK_NAME = "ecm.lock"
RUN_FILE = "run.json"


class FolderInUse(RuntimeError):
    """Another running process holds the data folder."""


class InstanceLock:
    """An exclusive `flock` on `<data>/ecm.lock`; the operating system drops it when we die."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise FolderInUse naming the holder's pid."""
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise FolderInUse(
                f"data folder {self.folder} is in use by another ecm process (pid {holder}); "
                "stop it first or choose another --data-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    @property
    def held(self) -> bool:
        """True while this process holds the lock."""
        return self._fd is not None

    def release(self) -> None:
        """Give the lock up (the file stays: removing it would race a new holder)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


def write_run_file(folder: Path, info: dict[str, Any]) -> Path:
    """Record where this process serves, with its pid, for other commands to find."""
    path = folder / RUN_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({**info, "pid": os.getpid()}))
    tmp.replace(path)
    return path


def remove_run_file(folder: Path) -> None:
    """Remove run.json only if this process wrote it; another instance's file is left alone."""
    path = folder / RUN_FILE
    try:
        owner = json.loads(path.read_text()).get("pid")
    except (OSError, ValueError):
        return
    if owner == os.getpid():
        path.unlink(missing_ok=True)
