"""Wire contracts of the governance service: erasures and subject access disclosures."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from services.governance.domain import ChildErasure, SubjectAccessDisclosure
from shared.contracts import Contract, ContractRegistry, Mapping, NotPersonal, event_class


class ChildErasedV1(Contract):
    """The child's key was destroyed: their personal data is unreadable everywhere from now.

    Read models holding anything derived from the child's personal data must drop it.
    """

    child_id: UUID
    erased_on: date
    key_destroyed: bool


class SubjectAccessProvidedV1(Contract):
    """Everything held about the child was disclosed in answer to a subject access request."""

    child_id: UUID
    produced_on: date
    events_disclosed: int
    services: list[NotPersonal]


REGISTRY = ContractRegistry(
    "governance",
    [
        Mapping(event_class(ChildErasure, "ErasureRecorded"), "ChildErased", ChildErasedV1),
        Mapping(
            event_class(SubjectAccessDisclosure, "SubjectAccessProvided"),
            "SubjectAccessProvided",
            SubjectAccessProvidedV1,
        ),
    ],
)
