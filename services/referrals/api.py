"""HTTP entrypoint of the referrals service: thin routes over ReferralsApplication."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, status
from pydantic import AfterValidator, BaseModel, Field

from services.plugin import resources_of
from services.referrals import projections
from services.referrals.application import ReferralsApplication
from services.referrals.domain import (
    MAX_INVOLVEMENT_MONTHS,
    MIN_INVOLVEMENT_MONTHS,
    Child,
    Consent,
    Referral,
    ReferralStatus,
)
from shared.domain import Area, Forbidden, Invalid, Role
from shared.fields import (
    MULTI_LINE,
    SINGLE_LINE,
    SINGLE_LINE_DOC,
    AsOfDay,
    DateOfBirth,
    ExpectedVersion,
    Timestamp,
    check_date_of_birth,
    check_multi_line_text,
    check_single_line_text,
    iso_date,
)
from shared.http import meta_for, requires
from shared.identifiers import clean_nhs_number, clean_upn
from shared.policy import Principal, check
from shared.store import Authorise, load_as_of

router = APIRouter(prefix="/api/v1", tags=["referrals"])

MAX_TEXT = 10_000
MAX_NAME = 200
Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT), MULTI_LINE]
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME), SINGLE_LINE, SINGLE_LINE_DOC]
Reason = Annotated[str, Field(min_length=3, max_length=2_000), MULTI_LINE]
NhsNumber = Annotated[str, AfterValidator(clean_nhs_number)]
MAX_OFFSET = 1_000_000  # far beyond any real list; keeps the value inside a database integer
Upn = Annotated[str, AfterValidator(clean_upn)]


def referrals(request: Request) -> ReferralsApplication:
    """The referrals application of this process."""
    return resources_of(request).app(ReferralsApplication)


App = Annotated[ReferralsApplication, Depends(referrals)]


class ChildCreate(BaseModel):
    """Register a child (personal fields are encrypted under the child's own key)."""

    given_name: Name
    family_name: Name
    date_of_birth: DateOfBirth
    area: Area
    nhs_number: NhsNumber | None = None
    upn: Upn | None = None


def _date_of_birth(value: Any) -> date:
    """A corrected date of birth: the same rule as when registering."""
    try:
        day = date.fromisoformat(iso_date(value))
        return check_date_of_birth(day)
    except (TypeError, ValueError) as e:
        raise ValueError(f"date_of_birth {e}") from None


def _name(field: str, value: Any) -> str:
    """A corrected name: the same rule as when registering."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{field} must be non-empty text")
    if len(value) > MAX_NAME:
        raise ValueError(f"{field} must be at most {MAX_NAME} characters")
    try:
        return check_single_line_text(value)
    except ValueError as e:
        raise ValueError(f"{field} {e}") from None


def _area(value: Any) -> Area:
    try:
        return Area(value)
    except ValueError:
        raise ValueError(f"area must be one of {', '.join(Area)}") from None


class Created(BaseModel):
    """The id of what was created and its version."""

    id: UUID
    version: int


class Version(BaseModel):
    """The version after a change."""

    id: UUID
    version: int


class ChildPublic(BaseModel):
    """A child's current record, as the caller may see it."""

    id: UUID
    version: int
    given_name: str | None
    family_name: str | None
    date_of_birth: date | None
    area: Area
    nhs_number: str | None
    upn: str | None
    open_referral_id: UUID | None
    referral_ids: list[UUID]
    disputed: dict[str, str]
    erased: bool


class ReferralCreate(BaseModel):
    """Refer a registered child to ECM."""

    child_id: UUID
    reason: Text
    trauma_history: Text
    expected_involvement_months: int = Field(
        ge=MIN_INVOLVEMENT_MONTHS,
        le=MAX_INVOLVEMENT_MONTHS,
        description="Expected YJS involvement; ECM needs at least six months.",
    )
    expected_version: ExpectedVersion = Field(default=None, description="The child's version.")


class ReferralPublic(BaseModel):
    """A referral as it stands."""

    id: UUID
    version: int
    child_id: UUID
    area: Area
    case_manager_id: str
    reason: str | None
    trauma_history: str | None
    expected_involvement_months: int | None
    status: ReferralStatus
    consent: Consent | None
    outcome_reason: str | None


class ConsentCreate(BaseModel):
    """Record consent to formulation."""

    consent: Consent
    given_by: Name = Field(description="Who gave, refused or withdrew consent.")
    expected_version: ExpectedVersion = None


class Decision(StrEnum):
    """Outcome of screening."""

    ACCEPT = "accept"
    CONSULTATION = "consultation"
    DECLINE = "decline"


class ScreeningCreate(BaseModel):
    """Screen a referral; declining needs a reason."""

    decision: Decision
    reason: Reason | None = None
    expected_version: ExpectedVersion = None


class ReasonCreate(BaseModel):
    """A change that needs a reason."""

    reason: Reason
    expected_version: ExpectedVersion = None


def _correction_value(value: Any) -> Any:
    """A corrected value is text, a whole number or null; text must be storable Unicode."""
    if isinstance(value, bool) or not (value is None or isinstance(value, str | int)):
        raise ValueError("must be text, a whole number or null")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("must be valid Unicode text (it holds a lone surrogate)") from None
    return value


class CorrectionCreate(BaseModel):
    """Correct one field; a new event, the original stays for audit."""

    field: str = Field(min_length=1, max_length=64)
    value: Annotated[Any, AfterValidator(_correction_value)] = Field(
        description="The corrected value: text, a whole number, or null to clear an optional field."
    )
    reason: Reason
    expected_version: ExpectedVersion = None


class DisputeCreate(BaseModel):
    """Flag a field whose accuracy is disputed."""

    field: str = Field(min_length=1, max_length=64)
    reason: Reason
    expected_version: ExpectedVersion = None


def _may(principal: Principal, action: str) -> Authorise[Child | Referral]:
    """Decides where a child or referral is loaded whether the caller may `action` it in its
    area, so a route loads its record once."""

    def authorise(record: Child | Referral) -> None:
        check(principal, action, record.area)

    return authorise


def child_public(child: Child, erased: bool) -> ChildPublic:
    """The public view of a child."""
    return ChildPublic(
        id=child.id,
        version=child.version,
        given_name=child.given_name,
        family_name=child.family_name,
        date_of_birth=child.date_of_birth,
        area=child.area,
        nhs_number=child.nhs_number,
        upn=child.upn,
        open_referral_id=child.open_referral_id,
        referral_ids=list(child.referral_ids),
        disputed=dict(child.disputed),
        erased=erased,
    )


def referral_public(referral: Referral) -> ReferralPublic:
    """The public view of a referral."""
    return ReferralPublic(
        id=referral.id,
        version=referral.version,
        child_id=referral.child_id,
        area=referral.area,
        case_manager_id=referral.case_manager_id,
        reason=referral.reason,
        trauma_history=referral.trauma_history,
        expected_involvement_months=referral.expected_involvement_months,
        status=referral.status,
        consent=referral.consent,
        outcome_reason=referral.outcome_reason,
    )


@router.post("/children", status_code=status.HTTP_201_CREATED, response_model=Created)
def register_child(
    body: ChildCreate,
    request: Request,
    app: App,
    principal: Annotated[Principal, Depends(requires("child.register"))],
) -> Created:
    """Register a child under a new pseudonymous id."""
    if principal.role == Role.CASE_MANAGER and principal.area != body.area:
        raise Forbidden("forbidden")
    child_id = app.register_child(
        given_name=body.given_name,
        family_name=body.family_name,
        date_of_birth=body.date_of_birth,
        area=body.area,
        nhs_number=body.nhs_number,
        upn=body.upn,
        meta=meta_for(principal, request),
    )
    return Created(id=child_id, version=1)


@router.get("/children/{child_id}", response_model=ChildPublic)
def get_child(
    child_id: UUID,
    app: App,
    principal: Annotated[Principal, Depends(requires("child.read"))],
    as_of: Annotated[
        AsOfDay | None, Query(description="Show the record as it stood that day")
    ] = None,
) -> ChildPublic:
    """The child's record, now or as it stood on a past date."""
    may = _may(principal, "child.read")
    child = (
        app.get_child(child_id, may)
        if as_of is None
        else load_as_of(app, Child, child_id, "child", as_of, may)
    )
    return child_public(child, app.vault.is_erased(child_id))


@router.post("/children/{child_id}/corrections", response_model=Version)
def correct_child(
    child_id: UUID,
    body: CorrectionCreate,
    request: Request,
    app: App,
    principal: Annotated[Principal, Depends(requires("child.correct"))],
) -> Version:
    """Correct a field of the child's record with a reason."""
    value = body.value
    if body.field == "nhs_number" and value is not None:
        value = _clean("value", clean_nhs_number, value)
    elif body.field == "upn" and value is not None:
        value = _clean("value", clean_upn, value)
    elif body.field == "date_of_birth":
        value = _clean("value", _date_of_birth, value)
    elif body.field == "area":
        value = _clean("value", _area, value)
    elif body.field in ("given_name", "family_name"):
        value = _clean("value", lambda v: _name(body.field, v), value)
    version = app.correct_child(
        child_id,
        body.field,
        value,
        meta_for(principal, request, body.reason),
        body.expected_version,
        _may(principal, "child.correct"),
    )
    return Version(id=child_id, version=version)


@router.post("/children/{child_id}/disputes", response_model=Version)
def flag_dispute(
    child_id: UUID,
    body: DisputeCreate,
    request: Request,
    app: App,
    principal: Annotated[Principal, Depends(requires("child.dispute"))],
) -> Version:
    """Flag a field whose accuracy is disputed, until it is corrected."""
    version = app.flag_dispute(
        child_id,
        body.field,
        meta_for(principal, request, body.reason),
        body.expected_version,
        _may(principal, "child.dispute"),
    )
    return Version(id=child_id, version=version)


@router.post("/referrals", status_code=status.HTTP_201_CREATED, response_model=Created)
def make_referral(
    body: ReferralCreate,
    request: Request,
    app: App,
    principal: Annotated[Principal, Depends(requires("referral.create"))],
) -> Created:
    """Refer a registered child to ECM (one open referral per child)."""
    referral_id = app.refer(
        child_id=body.child_id,
        case_manager_id=principal.user_id,
        reason=body.reason,
        trauma_history=body.trauma_history,
        expected_involvement_months=body.expected_involvement_months,
        meta=meta_for(principal, request),
        expected_version=body.expected_version,
        authorise=_may(principal, "referral.create"),
    )
    return Created(id=referral_id, version=1)


class ReferralSummary(BaseModel):
    """A row of the referral list (no personal data)."""

    referral_id: UUID
    child_id: UUID
    area: Area
    case_manager_id: str
    status: ReferralStatus
    consent: Consent | None
    expected_involvement_months: int
    referred_at: Timestamp
    updated_at: Timestamp


@router.get("/referrals", response_model=list[ReferralSummary])
def list_referrals(
    request: Request,
    principal: Annotated[Principal, Depends(requires("referral.read"))],
    area: Annotated[Area | None, Query()] = None,
    status_: Annotated[ReferralStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[ReferralSummary]:
    """Referrals newest first; case managers see their own area only. Eventually consistent."""
    if principal.role == Role.CASE_MANAGER:
        if area is not None and area != principal.area:
            raise Forbidden("forbidden")
        area = principal.area
    rows = projections.list_referrals(
        resources_of(request).engine("referrals-read"),
        area=area,
        status=status_,
        limit=limit,
        offset=offset,
    )
    return [ReferralSummary.model_validate(row) for row in rows]


@router.get("/referrals/{referral_id}", response_model=ReferralPublic)
def get_referral(
    referral_id: UUID,
    app: App,
    principal: Annotated[Principal, Depends(requires("referral.read"))],
    as_of: Annotated[AsOfDay | None, Query(description="Show it as it stood that day")] = None,
) -> ReferralPublic:
    """The referral, now or as it stood on a past date."""
    may = _may(principal, "referral.read")
    referral = (
        app.get_referral(referral_id, may)
        if as_of is None
        else load_as_of(app, Referral, referral_id, "referral", as_of, may)
    )
    return referral_public(referral)


@router.post("/referrals/{referral_id}/consent", response_model=Version)
def record_consent(
    referral_id: UUID,
    body: ConsentCreate,
    request: Request,
    app: App,
    principal: Annotated[Principal, Depends(requires("referral.consent"))],
) -> Version:
    """Record consent to formulation as given, refused or withdrawn."""
    version = app.record_consent(
        referral_id,
        body.consent,
        body.given_by,
        meta_for(principal, request),
        body.expected_version,
        _may(principal, "referral.consent"),
    )
    return Version(id=referral_id, version=version)


@router.post("/referrals/{referral_id}/screening", response_model=Version)
def screen(
    referral_id: UUID,
    body: ScreeningCreate,
    request: Request,
    app: App,
    principal: Annotated[Principal, Depends(requires("referral.screen"))],
) -> Version:
    """Screen: accept for formulation, offer a consultation, or decline with a reason."""
    meta = meta_for(principal, request, body.reason)
    may = _may(principal, "referral.screen")
    if body.decision == Decision.ACCEPT:
        version = app.accept(referral_id, meta, body.expected_version, may)
    elif body.decision == Decision.CONSULTATION:
        version = app.offer_consultation(referral_id, meta, body.expected_version, may)
    else:
        if not body.reason:
            raise _invalid("reason", "declining a referral needs a reason")
        version = app.decline(referral_id, meta, body.expected_version, may)
    return Version(id=referral_id, version=version)


@router.post("/referrals/{referral_id}/withdrawal", response_model=Version)
def withdraw(
    referral_id: UUID,
    body: ReasonCreate,
    request: Request,
    app: App,
    principal: Annotated[Principal, Depends(requires("referral.withdraw"))],
) -> Version:
    """Withdraw the referral with a reason."""
    version = app.withdraw(
        referral_id,
        meta_for(principal, request, body.reason),
        body.expected_version,
        _may(principal, "referral.withdraw"),
    )
    return Version(id=referral_id, version=version)


@router.post("/referrals/{referral_id}/closure", response_model=Version)
def close_referral(
    referral_id: UUID,
    body: ReasonCreate,
    request: Request,
    app: App,
    principal: Annotated[Principal, Depends(requires("referral.close"))],
) -> Version:
    """Close an accepted referral or a consultation when ECM's work ends."""
    version = app.close_referral(
        referral_id,
        meta_for(principal, request, body.reason),
        body.expected_version,
        _may(principal, "referral.close"),
    )
    return Version(id=referral_id, version=version)


@router.post("/referrals/{referral_id}/corrections", response_model=Version)
def correct_referral(
    referral_id: UUID,
    body: CorrectionCreate,
    request: Request,
    app: App,
    principal: Annotated[Principal, Depends(requires("referral.correct"))],
) -> Version:
    """Correct a field of the referral with a reason."""
    text = body.value if body.field in ("reason", "trauma_history") else None
    if isinstance(text, str) and len(text) > MAX_TEXT:
        raise _invalid("value", f"{body.field} must be at most {MAX_TEXT} characters")
    if isinstance(text, str):
        _clean("value", check_multi_line_text, text)
    version = app.correct_referral(
        referral_id,
        body.field,
        body.value,
        meta_for(principal, request, body.reason),
        body.expected_version,
        _may(principal, "referral.correct"),
    )
    return Version(id=referral_id, version=version)


def _invalid(field: str, rule: str) -> Exception:
    return Invalid(f"{field}: {rule}", field=field)


def _clean(field: str, cleaner: Any, value: Any) -> Any:
    try:
        return cleaner(value)
    except (ValueError, TypeError) as e:
        raise _invalid(field, str(e) or "is not valid") from None
