"""Governance use cases: record an erasure, record a subject access disclosure."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from services.governance.domain import ChildErasure, SubjectAccessDisclosure
from shared.domain import Conflict, Meta
from shared.store import EcmApplication


class GovernanceApplication(EcmApplication):
    """The governance service's event-sourced application (no personal data of its own)."""

    service = "governance"

    def erasure_of(self, child_id: UUID) -> ChildErasure | None:
        """The record of the child's erasure, if they were erased."""
        try:
            erasure: object = self.repository.get(ChildErasure.create_id(child_id))
        except AggregateNotFoundError:
            return None
        return erasure if isinstance(erasure, ChildErasure) else None

    def record_erasure(
        self, child_id: UUID, erased_on: date, key_destroyed: bool, meta: Meta
    ) -> UUID:
        """Record that the child's key was destroyed; a child is erased once."""
        if self.erasure_of(child_id) is not None:
            raise Conflict(f"child_id: child {child_id} was already erased", field="child_id")
        erasure = ChildErasure.record(child_id, erased_on, key_destroyed, meta)
        self.save_all(erasure)
        return erasure.id

    def record_subject_access(
        self,
        child_id: UUID,
        produced_on: date,
        events_disclosed: int,
        services: list[str],
        meta: Meta,
    ) -> UUID:
        """Record that everything held about the child was disclosed, by whom and when."""
        disclosure = SubjectAccessDisclosure.record(
            child_id, produced_on, events_disclosed, services, meta
        )
        self.save_all(disclosure)
        return disclosure.id
