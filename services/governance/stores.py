"""Every service's store, whichever services this process serves (audits span them all)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from services.registry import all_plugins

if TYPE_CHECKING:
    from services.runtime import System

_lock = threading.Lock()
KEY = "governance:all-stores"


def all_stores(system: System) -> System:
    """`system` if it opens every store; otherwise a full System kept beside it for audits."""
    names = {p.name for p in all_plugins() if p.application is not None}
    if names <= set(system.apps):
        return system
    with _lock:
        full = system.extras.get(KEY)
        if full is None:
            from services.runtime import System

            full = System.build(system.settings)
            system.extras[KEY] = full
        return full


def close_all_stores(system: System) -> None:
    """Close the full System opened for audits, if any."""
    full = system.extras.pop(KEY, None)
    if full is not None:
        full.close()
