"""Which tables a role's migrations answer for (used by env.py and the model check)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import MetaData


def include_object(target: MetaData | None, role: str) -> Callable[..., bool]:
    """Compare only the role's own tables: a database also holds read models, other roles'
    tables and eventsourcing's recorder tables, none of which this role migrates."""
    own = set(target.tables) if target is not None else set()

    def include(_obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if type_ == "table":
            return name in own
        return True

    return include
