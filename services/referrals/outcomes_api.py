"""HTTP entrypoint for offending outcomes: case managers record proven offences and breaches."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request, status
from pydantic import BaseModel, ConfigDict, Field

from services.referrals.api import App, Reason
from services.referrals.outcomes import Disposal, OffenceType, Outcomes
from shared.http import meta_for, requires
from shared.policy import Principal, check

router = APIRouter(prefix="/api/v1", tags=["outcomes"])


class OffenceCreate(BaseModel):
    """A proven offence or breach: when committed, when proven, what, and the outcome."""

    model_config = ConfigDict(extra="forbid")

    offence_type: OffenceType
    committed_on: date = Field(description="The date the offence was committed.")
    proven_on: date | None = Field(
        default=None, description="The date of the conviction or caution; null if not proven."
    )
    outcome: Disposal


class OffenceCorrection(BaseModel):
    """Corrected fields of an offence record, with the reason."""

    model_config = ConfigDict(extra="forbid")

    offence_type: OffenceType | None = None
    committed_on: date | None = None
    proven_on: date | None = None
    outcome: Disposal | None = None
    reason: Reason


class OffenceRetraction(BaseModel):
    """Why an offence record made in error is withdrawn."""

    model_config = ConfigDict(extra="forbid")

    reason: Reason


class OffenceRecorded(BaseModel):
    """The offence id and the outcomes record's version."""

    id: UUID
    version: int


class OffencePublic(BaseModel):
    """One offence record as it now stands."""

    id: UUID
    offence_type: OffenceType
    committed_on: date
    proven_on: date | None
    outcome: Disposal
    retracted: bool


def _scoped(app: App, principal: Principal, action: str, child_id: UUID) -> Outcomes:
    check(principal, action, app.get_child(child_id).area)
    return Outcomes(app)


@router.post(
    "/children/{child_id}/offences",
    status_code=status.HTTP_201_CREATED,
    response_model=OffenceRecorded,
)
def record_offence(
    child_id: UUID,
    body: OffenceCreate,
    request: Request,
    app: App,
    principal: Annotated[Principal, Depends(requires("outcome.record"))],
) -> OffenceRecorded:
    """Record a proven offence or breach of the child (dates checked; none in the future)."""
    outcomes = _scoped(app, principal, "outcome.record", child_id)
    offence_id = outcomes.record_offence(
        child_id,
        offence_type=body.offence_type,
        committed_on=body.committed_on,
        proven_on=body.proven_on,
        outcome=body.outcome,
        meta=meta_for(principal, request),
    )
    record = outcomes.get(child_id)
    return OffenceRecorded(id=offence_id, version=record.version if record else 0)


@router.get("/children/{child_id}/offences", response_model=list[OffencePublic])
def list_offences(
    child_id: UUID,
    app: App,
    principal: Annotated[Principal, Depends(requires("outcome.read"))],
) -> list[OffencePublic]:
    """Every offence record of the child, retracted ones marked."""
    record = _scoped(app, principal, "outcome.read", child_id).get(child_id)
    if record is None:
        return []
    return [
        OffencePublic(id=offence_id, **values)
        for offence_id, values in sorted(
            record.offences.items(), key=lambda kv: (kv[1]["committed_on"], kv[0])
        )
    ]


@router.post(
    "/children/{child_id}/offences/{offence_id}/corrections", response_model=OffenceRecorded
)
def correct_offence(
    child_id: UUID,
    offence_id: UUID,
    body: OffenceCorrection,
    request: Request,
    app: App,
    principal: Annotated[Principal, Depends(requires("outcome.record"))],
) -> OffenceRecorded:
    """Correct an offence record with a reason; the original stays in the history."""
    outcomes = _scoped(app, principal, "outcome.record", child_id)
    changes: dict[str, Any] = {
        name: getattr(body, name) for name in body.model_fields_set - {"reason"}
    }
    if "committed_on" in changes and changes["committed_on"] is None:
        changes.pop("committed_on")
    for name in ("offence_type", "outcome"):
        if name in changes and changes[name] is None:
            changes.pop(name)
    version = outcomes.correct_offence(
        child_id, offence_id, changes, meta_for(principal, request, body.reason)
    )
    return OffenceRecorded(id=offence_id, version=version)


@router.post(
    "/children/{child_id}/offences/{offence_id}/retraction", response_model=OffenceRecorded
)
def retract_offence(
    child_id: UUID,
    offence_id: UUID,
    body: OffenceRetraction,
    request: Request,
    app: App,
    principal: Annotated[Principal, Depends(requires("outcome.record"))],
) -> OffenceRecorded:
    """Withdraw an offence record made in error (it stays in the history, no longer counts)."""
    outcomes = _scoped(app, principal, "outcome.record", child_id)
    version = outcomes.retract_offence(
        child_id, offence_id, meta_for(principal, request, body.reason)
    )
    return OffenceRecorded(id=offence_id, version=version)
