"""HTTP entrypoint of the governance service: audit trails, subject access, erasure, integrity."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from services.governance.audit import STORE, child_trail
from services.governance.erasure import child_is_known, erase_child
from services.governance.integrity import verify
from services.governance.sar import provide_subject_access, render_html
from services.plugin import Resources, resources_of
from shared.domain import RecordNotFound
from shared.fields import MULTI_LINE, SINGLE_LINE
from shared.http import meta_for, requires
from shared.policy import Principal

router = APIRouter(prefix="/api/v1/audit", tags=["governance"])


SystemDep = Annotated[Resources, Depends(resources_of)]


class Actor(BaseModel):
    """Who made a change."""

    id: str | None
    role: str | None


class AuditEvent(BaseModel):
    """One change to the child's record: who, when, what, why; personal values left out."""

    service: str
    notification_id: int
    aggregate_type: str
    aggregate_id: str
    aggregate_version: int
    event_type: str
    occurred_at: str
    actor: Actor
    reason: str | None
    correlation_id: str | None
    causation_id: str | None
    data: dict[str, Any] = Field(description="Non-personal facts of the change.")
    personal_fields: list[str] = Field(description="Personal fields changed (values omitted).")


class AuditTrail(BaseModel):
    """Every change to a child's record across the services, in store order."""

    child_id: UUID
    erased: bool
    events: list[AuditEvent]


class ErasureCreate(BaseModel):
    """Erase a child's personal data at the end of retention (cannot be undone)."""

    reason: Annotated[str, Field(min_length=3, max_length=2_000), MULTI_LINE] = Field(
        description="Why, e.g. the retention rule that applies."
    )


class ErasureOut(BaseModel):
    """What an erasure did."""

    child_id: UUID
    erasure_id: UUID
    key_destroyed: bool


class SarFormat(StrEnum):
    """How to return a subject access report."""

    JSON = "json"
    HTML = "html"


@router.get("/children/{child_id}", response_model=AuditTrail)
def audit_trail(
    child_id: UUID,
    system: SystemDep,
    principal: Annotated[Principal, Depends(requires("audit.read"))],
) -> AuditTrail:
    """Who changed what about the child, when and why (personal values are not shown).
    Built from the event stream: a change appears once the audit index has applied it."""
    if not child_is_known(system, child_id):  # not just any id that some event mentions
        raise RecordNotFound(f"child {child_id} not found")
    entries = child_trail(system.engine(STORE), system.contracts, child_id)
    return AuditTrail(
        child_id=child_id,
        erased=system.vault.is_erased(child_id),
        events=[AuditEvent.model_validate(e.as_dict()) for e in entries],
    )


@router.get(
    "/children/{child_id}/sar",
    response_model=None,
    responses={
        200: {
            "description": "The subject access report: JSON by default, HTML with format=html.",
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "text/html": {"schema": {"type": "string"}},
            },
        }
    },
)
def subject_access(
    child_id: UUID,
    request: Request,
    system: SystemDep,
    principal: Annotated[Principal, Depends(requires("audit.sar"))],
    format: Annotated[SarFormat, Query(description="json (default) or html")] = SarFormat.JSON,
    reason: Annotated[
        str | None, Query(max_length=2_000, description="The request's reference"), SINGLE_LINE
    ] = None,
) -> dict[str, Any] | HTMLResponse:
    """Everything held about the child, decrypted; the disclosure itself is recorded."""
    document = provide_subject_access(
        system, child_id, meta_for(principal, request, reason), datetime.now(UTC)
    )
    if format == SarFormat.HTML:
        return HTMLResponse(render_html(document))
    return document


@router.post("/children/{child_id}/erasure", response_model=ErasureOut)
def erase(
    child_id: UUID,
    body: ErasureCreate,
    request: Request,
    system: SystemDep,
    principal: Annotated[Principal, Depends(requires("audit.erase"))],
) -> ErasureOut:
    """Destroy the child's key: their personal data becomes unreadable everywhere."""
    done = erase_child(system, child_id, meta_for(principal, request, body.reason), date.today())
    return ErasureOut(
        child_id=done.child_id, erasure_id=done.erasure_id, key_destroyed=done.key_destroyed
    )


@router.get("/integrity")
def integrity(
    system: SystemDep,
    principal: Annotated[Principal, Depends(requires("audit.verify"))],
) -> dict[str, Any]:
    """Verify every store's hash chain and name the first event that does not match."""
    return verify(system).as_dict()
