"""Erasure at the end of retention: destroy the child's key, then record that it was done."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING
from uuid import UUID

from services.governance.application import GovernanceApplication
from services.governance.domain import MIN_REASON_LENGTH
from services.referrals.domain import Child
from shared.domain import Conflict, Invalid, Meta, NotFound, RecordNotFound
from shared.metrics import ERASURES

if TYPE_CHECKING:
    from services.plugin import Resources


@dataclass(frozen=True)
class ErasureDone:
    """What an erasure did."""

    child_id: UUID
    erasure_id: UUID
    key_destroyed: bool


def governance(system: Resources) -> GovernanceApplication:
    """The governance application (its own store, opened here if this process lacks it)."""
    app = system.every_store()["governance"]
    assert isinstance(app, GovernanceApplication)
    return app


def child_is_known(system: Resources, child_id: UUID) -> bool:
    """True when the child was registered (or at least ever had a key)."""
    referrals = system.every_store().get("referrals")
    if referrals is not None:
        try:
            referrals.load(Child, child_id, "child")
        except NotFound:
            pass
        else:
            return True
    return system.vault.is_erased(child_id) or system.vault.key_for(child_id) is not None


def erase_child(system: Resources, child_id: UUID, meta: Meta, today: date) -> ErasureDone:
    """Destroy the child's key and record the erasure; a rerun finishes a half-done erasure.

    The key goes first: once it is destroyed the personal data is unreadable whatever happens
    next, and a rerun records the erasure if recording failed.
    """
    if not meta.reason or len(meta.reason.strip()) < MIN_REASON_LENGTH:
        raise Invalid(
            f"reason: an erasure needs a reason of at least {MIN_REASON_LENGTH} characters",
            field="reason",
        )
    app = governance(system)
    if app.erasure_of(child_id) is not None:
        raise Conflict(f"child_id: child {child_id} was already erased", field="child_id")
    if not child_is_known(system, child_id):
        raise RecordNotFound(f"child {child_id} not found")
    destroyed = system.vault.erase(child_id)
    if destroyed:
        ERASURES.inc()
    erasure_id = app.record_erasure(child_id, today, destroyed, meta)
    return ErasureDone(child_id=child_id, erasure_id=erasure_id, key_destroyed=destroyed)
