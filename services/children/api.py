"""HTTP entrypoint of the children read side: find a child, their whole story, the queues."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AfterValidator, BaseModel, Field
from sqlalchemy import Engine

from services.children import index, timeline
from services.children.binding import open_bound
from services.children.index import ChildFilter, ChildStatus, Queue
from services.children.search import SearchKey, query_digest, search_key
from services.plugin import Resources, resources_of
from shared.crypto import FieldCipher
from shared.domain import Area, Forbidden, Invalid, RecordNotFound, Role
from shared.fields import checked_day
from shared.http import Problem, requires
from shared.identifiers import clean_nhs_number, clean_upn
from shared.policy import ECM_STAFF, Principal, check, may

router = APIRouter(prefix="/api/v1", tags=["children"])
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not authenticated"},
    403: {"model": Problem, "description": "The role may not do this, or another area"},
    404: {"model": Problem, "description": "No such child (or one of another area)"},
    422: {"model": Problem, "description": "Bad input: the field at fault is named"},
}
MAX_OFFSET = 1_000_000
NhsNumber = Annotated[str, AfterValidator(clean_nhs_number)]
Upn = Annotated[str, AfterValidator(clean_upn)]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]


class ChildSummary(BaseModel):
    """A child in a list: where they stand across services and what needs doing."""

    child_id: UUID
    area: Area
    status: ChildStatus
    given_name: str | None
    family_name: str | None
    date_of_birth: date | None
    referral_id: UUID | None
    referral_status: str | None
    consent: str | None
    referred_at: datetime | None
    screened_at: datetime | None
    case_manager_id: str | None
    psychologist_id: str | None
    worker_id: str | None
    stage: int | None
    stage_label: str | None
    meeting_at: datetime | None
    meeting_held_on: date | None
    report_issued_on: date | None
    review_due_on: date | None
    review_overdue: bool
    last_review_on: date | None
    closed_on: date | None
    safety_net_until: date | None
    erased_on: date | None
    attention: int = Field(description="0 needs attention first (overdue review) ... 8 last")


class ChildPage(BaseModel):
    """A page of children and how many match in all."""

    items: list[ChildSummary]
    total: int
    limit: int
    offset: int


class QueueCount(BaseModel):
    """How many children wait in one queue."""

    count: int
    by_area: dict[str, int]
    by_worker: dict[str, int]


class TimelineItemOut(BaseModel):
    """One item of the child's whole story."""

    kind: timeline.ItemKind
    event_type: str
    service: str
    item_key: str | None
    on: date | None = Field(
        description="When it happened (null: an age with no known date of birth)"
    )
    precision: str
    recorded_at: datetime
    recorded_by: dict[str, str]
    reason: str | None
    stage_in_force: int | None
    movement: str | None = Field(description="For stage assessments: up, same or down")
    details: dict[str, Any]
    withheld: bool


class TimelinePage(BaseModel):
    """A page of the child's story and how many items match in all."""

    child_id: UUID
    as_of: datetime | None
    items: list[TimelineItemOut]
    total: int
    limit: int
    offset: int


def _system(request: Request) -> Resources:
    return resources_of(request)


def _engine(system: Resources, store: str, _tables: Any) -> Engine:
    # The read models' tables exist from start-up (the runtime prepares every projection).
    return system.engine(store)


def _cipher(system: Resources) -> FieldCipher:
    return FieldCipher(system.vault)


def _search_key(system: Resources) -> bytes:
    return search_key(system.settings)


def _areas(principal: Principal, area: Area | None) -> tuple[str, ...] | None:
    if principal.role == Role.CASE_MANAGER:
        if area is not None and area != principal.area:
            raise Forbidden("forbidden")
        return (str(principal.area),)
    return (str(area),) if area is not None else None


def _opened(cipher: FieldCipher, row: dict[str, Any], column: str) -> Any:
    if row.get(column) is None:
        return None
    return open_bound(cipher, row["child_id"], row[column])


def _summary(cipher: FieldCipher, row: dict[str, Any]) -> ChildSummary:
    values = dict(row)
    for column in index.SEALED_COLUMNS:
        values[column] = _opened(cipher, row, column)
    return ChildSummary.model_validate(values)


@router.get("/children", response_model=ChildPage, responses=ERRORS)
def list_children(
    request: Request,
    principal: Annotated[Principal, Depends(requires("child.list"))],
    area: Annotated[Area | None, Query()] = None,
    status: Annotated[ChildStatus | None, Query()] = None,
    worker: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    mine: Annotated[bool, Query(description="Only children the caller works with")] = False,
    stage: Annotated[int | None, Query(ge=1, le=6)] = None,
    queue: Annotated[Queue | None, Query()] = None,
    family_name: Annotated[
        str | None,
        Query(
            min_length=2,
            max_length=200,
            description="Starts with (case, accents and hyphens ignored)",
        ),
    ] = None,
    given_name: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    date_of_birth: Annotated[date | None, Query()] = None,
    nhs_number: Annotated[NhsNumber | None, Query()] = None,
    upn: Annotated[Upn | None, Query()] = None,
    as_of: Annotated[
        str | None,
        Query(max_length=40, description="A date or an ISO date-time: the list as it stood"),
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> ChildPage:
    """Children within the caller's scope, what needs attention first. Eventually consistent.

    Searches by name, date of birth, NHS number or UPN look up keyed blind indexes: the
    values themselves are never stored by the read side.
    """
    system = _system(request)
    key = _search_key(system)
    digests: list[tuple[SearchKey, str]] = []
    searched: list[tuple[str, SearchKey, str | date | None]] = [
        ("family_name", SearchKey.FAMILY_NAME_PREFIX, family_name),
        ("given_name", SearchKey.GIVEN_NAME, given_name),
        ("date_of_birth", SearchKey.DATE_OF_BIRTH, date_of_birth),
        ("nhs_number", SearchKey.NHS_NUMBER, nhs_number),
        ("upn", SearchKey.UPN, upn),
    ]
    for name, kind, value in searched:
        if value is None:
            continue
        try:
            digests.append((kind, query_digest(key, kind, value)))
        except ValueError as e:
            raise Invalid(f"{name}: {e}", field=name) from None
    if mine and worker is not None and worker != principal.user_id:
        raise Invalid("worker: give either mine=true or another worker, not both", field="worker")
    filters = ChildFilter(
        areas=_areas(principal, area),
        status=status,
        worker=principal.user_id if mine else worker,
        stage=stage,
        queue=queue,
        digests=tuple(digests),
    )
    engine = _engine(system, index.STORE, index.metadata)
    moment = parse_as_of(as_of)
    today = moment.date() if moment is not None else date.today()
    rows, total = index.list_children(
        engine, filters, today=today, limit=limit, offset=offset, as_of=moment
    )
    cipher = _cipher(system)
    return ChildPage(
        items=[_summary(cipher, r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.get("/queues", response_model=dict[Queue, QueueCount], responses=ERRORS)
def queues(
    request: Request,
    principal: Annotated[Principal, Depends(requires("queue.read"))],
    area: Annotated[Area | None, Query()] = None,
) -> dict[str, QueueCount]:
    """How many children wait in each queue (screening, meetings to schedule, reports due,
    reviews due and overdue), by area and by worker; list them with GET /children?queue=."""
    system = _system(request)
    engine = _engine(system, index.STORE, index.metadata)
    counts = index.queue_counts(engine, _areas(principal, area), date.today())
    return {name: QueueCount.model_validate(value) for name, value in counts.items()}


def parse_as_of(value: str | None) -> datetime | None:
    """A date (the end of that day, UTC) or a date-time (UTC when no offset is given)."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            day = checked_day("as_of", date.fromisoformat(value))
            return datetime.combine(day, datetime.max.time(), UTC)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(
            "as_of: must be a date (YYYY-MM-DD) or a date-time (ISO 8601)", field="as_of"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment > datetime.now(UTC):
        raise Invalid("as_of: must not be in the future", field="as_of")
    return moment


@router.get("/children/{child_id}/timeline", response_model=TimelinePage, responses=ERRORS)
def child_timeline(
    child_id: UUID,
    request: Request,
    principal: Annotated[Principal, Depends(requires("child.timeline"))],
    as_of: Annotated[
        str | None,
        Query(max_length=40, description="A date or an ISO date-time: the story as it stood then"),
    ] = None,
    kind: Annotated[list[timeline.ItemKind] | None, Query()] = None,
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
    include_retracted: Annotated[bool, Query()] = False,
    limit: Limit = 200,
    offset: Offset = 0,
) -> TimelinePage:
    """The child's whole story across services, in the order it happened. Eventually
    consistent; personal values opened for callers allowed to read them."""
    moment = parse_as_of(as_of)
    if date_from is not None and date_to is not None and date_from > date_to:
        raise Invalid("from: must not be after to", field="from")
    system = _system(request)
    engine_index = _engine(system, index.STORE, index.metadata)
    row = index.child_row(engine_index, str(child_id))
    if row is None:
        raise RecordNotFound("not found")
    check(principal, "child.timeline", row["area"])
    cipher = _cipher(system)
    then = row if moment is None else index.child_row(engine_index, str(child_id), moment)
    dob = _opened(cipher, then, "date_of_birth") if then is not None else None  # as it stood
    if isinstance(dob, str):
        dob = date.fromisoformat(dob[:10])
    readers = {
        service: may(principal, action, row["area"])
        for service, action in timeline.SERVICE_READ.items()
    }
    query = timeline.TimelineQuery(
        as_of=moment,
        kinds=frozenset(kind) if kind else None,
        date_from=date_from,
        date_to=date_to,
        include_retracted=include_retracted,
        staff=principal.role in ECM_STAFF,
        may_read=lambda s: readers.get(s, False),
    )
    engine = _engine(system, timeline.STORE, timeline.metadata)
    items = timeline.read_timeline(
        engine, str(child_id), query, dob, lambda sealed: open_bound(cipher, child_id, sealed)
    )
    page = items[offset : offset + limit]
    return TimelinePage(
        child_id=child_id,
        as_of=moment,
        total=len(items),
        limit=limit,
        offset=offset,
        items=[TimelineItemOut.model_validate(vars(i), from_attributes=False) for i in page],
    )
