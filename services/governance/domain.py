"""Governance domain: the records a data protection officer's actions leave behind."""

from __future__ import annotations

from datetime import date
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from shared.domain import Clear, EcmAggregate, Invalid, Meta, register_stored_topics

ERASURE_NAMESPACE = uuid5(NAMESPACE_URL, "urn:ecm-record:governance:erasure")
MIN_REASON_LENGTH = 3


def _check_reason(meta: Meta, action: str) -> None:
    if not meta.reason or len(meta.reason.strip()) < MIN_REASON_LENGTH:
        raise Invalid(
            f"reason: {action} needs a reason of at least {MIN_REASON_LENGTH} characters",
            field="reason",
        )


class ChildErasure(EcmAggregate):
    """The child's personal data was erased (key destroyed); one record per child."""

    @staticmethod
    def create_id(child_id: UUID) -> UUID:
        """One erasure per child: the id follows from the child's id."""
        return uuid5(ERASURE_NAMESPACE, str(child_id))

    class ErasureRecorded(EcmAggregate.Created):
        child_id: UUID
        erased_on: date
        key_destroyed: bool
        meta: Meta

    @classmethod
    def record(
        cls, child_id: UUID, erased_on: date, key_destroyed: bool, meta: Meta
    ) -> ChildErasure:
        """Record an erasure, with its reason."""
        _check_reason(meta, "an erasure")
        return cls(child_id=child_id, erased_on=erased_on, key_destroyed=key_destroyed, meta=meta)

    @event(ErasureRecorded)
    def __init__(self, child_id: UUID, erased_on: date, key_destroyed: bool, meta: Meta) -> None:
        self.child_id = child_id
        self.erased_on = erased_on
        self.key_destroyed = key_destroyed
        self.erased_by = meta.actor_id
        self.reason = meta.reason


class SubjectAccessDisclosure(EcmAggregate):
    """Everything held about a child was disclosed in answer to a subject access request."""

    class SubjectAccessProvided(EcmAggregate.Created):
        child_id: UUID
        produced_on: date
        events_disclosed: int
        services: Clear[list[str]]
        meta: Meta

    @classmethod
    def record(
        cls,
        child_id: UUID,
        produced_on: date,
        events_disclosed: int,
        services: list[str],
        meta: Meta,
    ) -> SubjectAccessDisclosure:
        """Record a disclosure: when, how many events, from which services."""
        if events_disclosed < 0:
            raise Invalid("events_disclosed: must not be negative", field="events_disclosed")
        return cls(
            child_id=child_id,
            produced_on=produced_on,
            events_disclosed=events_disclosed,
            services=list(services),
            meta=meta,
        )

    @event(SubjectAccessProvided)
    def __init__(
        self,
        child_id: UUID,
        produced_on: date,
        events_disclosed: int,
        services: list[str],
        meta: Meta,
    ) -> None:
        self.child_id = child_id
        self.produced_on = produced_on
        self.events_disclosed = events_disclosed
        self.services = list(services)
        self.produced_by = meta.actor_id


# The topics these events are stored under: keep this module name if the classes move.
register_stored_topics("services.governance.domain", ChildErasure, SubjectAccessDisclosure)
