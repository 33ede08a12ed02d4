"""HTTP entrypoint of the notifications service: the partner directory, partners' notices,
and the operator's view of failed deliveries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import urlsplit
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, status
from pydantic import BaseModel, Field, field_validator

from services.notifications.adapters.addresses import RefusedDestination, check_url, networks
from services.notifications.application import NotificationsApplication
from services.notifications.content import compose, human_when
from services.notifications.domain import Channel, Notice, NoticeStatus, ecm_reference
from services.notifications.index import NoticeRow, PartnerRow
from services.plugin import resources_of
from shared.domain import Invalid, NotFound
from shared.fields import SINGLE_LINE, SINGLE_LINE_DOC, Email, ExpectedVersion, Timestamp
from shared.http import meta_for, requires
from shared.policy import Principal
from shared.vocabulary import Agency

router = APIRouter(prefix="/api/v1", tags=["notifications"])


def notifications(request: Request) -> NotificationsApplication:
    """The notifications application of this process."""
    return resources_of(request).app(NotificationsApplication)


App = Annotated[NotificationsApplication, Depends(notifications)]


class PartnerCreate(BaseModel):
    """Add a named person at a partner agency to the directory."""

    agency: Agency
    name: Annotated[str, Field(min_length=1, max_length=200), SINGLE_LINE, SINGLE_LINE_DOC]
    email: Email
    webhook_url: Annotated[str, Field(max_length=2000), SINGLE_LINE] | None = None
    preferred_channel: Channel = Channel.EMAIL
    webhook_secret: str | None = Field(
        default=None,
        min_length=16,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="The contact's own signing key (write-only; the global one otherwise): "
        "printable ASCII without spaces.",
    )

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 (raises ValueError on a port out of range)
        except ValueError:
            raise ValueError("must be an http(s) URL") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL")
        if parts.username is not None or parts.password is not None:
            raise ValueError("must not carry a user name or password")
        return value


class PartnerPublic(BaseModel):
    """A partner contact as the directory shows it (never the signing key)."""

    id: UUID
    agency: str
    name: str
    email: str
    webhook_url: str | None
    preferred_channel: str
    registered_at: Timestamp


class Created(BaseModel):
    """The id of what was created and its version."""

    id: UUID
    version: int


class NoticeSummary(BaseModel):
    """A notice in a partner's list."""

    id: UUID
    kind: str
    reference: str
    what: str
    when: str | None
    status: NoticeStatus
    queued_at: Timestamp


class NoticePublic(BaseModel):
    """One notice as its partner sees it: what, when, where, who to contact, link back."""

    id: UUID
    version: int
    kind: str
    reference: str
    what: str
    when: str | None
    venue: str | None
    online_link: str | None
    contact: str
    link: str
    status: NoticeStatus
    sent_at: Timestamp | None
    acknowledged_at: Timestamp | None


class Acknowledgement(BaseModel):
    """Acknowledge a notice."""

    expected_version: ExpectedVersion = None


class Version(BaseModel):
    """The version after a change."""

    id: UUID
    version: int


class NoticeOperational(BaseModel):
    """A notice as operators see it: delivery state only, no content."""

    id: UUID
    contact_id: UUID
    kind: str
    reference: str
    status: NoticeStatus
    attempts: int
    next_attempt_at: Timestamp | None
    last_error: str | None
    gave_up: bool
    queued_at: Timestamp


class Retry(BaseModel):
    """Ask for a failed notice to be delivered again."""

    expected_version: ExpectedVersion = None


def partner_public(row: PartnerRow) -> PartnerPublic:
    """The public view of a directory entry."""
    return PartnerPublic(
        id=row.contact_id,
        agency=row.agency,
        name=row.name,
        email=row.email,
        webhook_url=row.webhook_url,
        preferred_channel=row.preferred_channel,
        registered_at=row.registered_at,
    )


def notice_public(notice: Notice, app: NotificationsApplication) -> NoticePublic:
    """The partner's view of a notice."""
    settings = app.notify_settings
    message = compose(
        notice, settings.public_base_url, settings.team_contact, settings.partner_link_secret
    )
    return NoticePublic(
        id=notice.id,
        version=notice.version,
        kind=message.kind,
        reference=message.reference,
        what=message.what,
        when=message.when,
        venue=notice.venue,
        online_link=notice.online_link,
        contact=message.contact,
        link=message.link,
        status=notice.status,
        sent_at=notice.sent_at,
        acknowledged_at=notice.acknowledged_at,
    )


def summary(row: NoticeRow) -> NoticeSummary:
    """A list entry."""
    return NoticeSummary(
        id=row.notice_id,
        kind=row.kind,
        reference=ecm_reference(row.child_id),
        what=row.what,
        when=human_when(row.when),
        status=row.status,
        queued_at=row.queued_at,
    )


def contact_of(principal: Principal) -> UUID:
    """A partner's contact id is their token's subject; anything else sees nothing."""
    try:
        return UUID(principal.user_id)
    except ValueError:
        raise NotFound("not found") from None


@router.post("/partners", status_code=status.HTTP_201_CREATED, response_model=Created)
def register_partner(
    body: PartnerCreate,
    request: Request,
    app: App,
    principal: Annotated[Principal, Depends(requires("partner.manage"))],
) -> Created:
    """Add a named person at a partner agency; only their id and agency go on the bus."""
    if body.webhook_url:
        # The form is checked now; where the host resolves is checked again at every send.
        try:
            check_url(
                body.webhook_url,
                networks(app.notify_settings.webhook_allowed_networks),
                require_https=not app.settings.dev_mode,
            )
        except RefusedDestination as e:
            raise Invalid(f"webhook_url: {e.rule}", field="webhook_url") from None
    contact_id = app.register_partner(
        agency=body.agency,
        name=body.name,
        email=body.email,
        webhook_url=body.webhook_url,
        preferred_channel=body.preferred_channel,
        webhook_secret=body.webhook_secret,
        meta=meta_for(principal, request),
    )
    return Created(id=contact_id, version=1)


class SecretRotation(BaseModel):
    """Give a contact a new webhook signing key; the old one keeps signing for a while."""

    webhook_secret: str = Field(
        min_length=16,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="The new key (write-only): printable ASCII without spaces, or whsec_<base64>.",
    )
    overlap_hours: int = Field(
        default=24,
        ge=0,
        le=168,
        strict=True,
        description="How long webhooks are signed with both keys.",
    )
    expected_version: ExpectedVersion = None


@router.post("/partners/{contact_id}/webhook-secret", response_model=Version)
def rotate_webhook_secret(
    contact_id: UUID,
    body: SecretRotation,
    request: Request,
    app: App,
    principal: Annotated[Principal, Depends(requires("partner.manage"))],
) -> Version:
    """Rotate the contact's signing key: from now on webhooks carry a signature with each key
    (webhook-signature: "v1,<new> v1,<old>") until the overlap ends, then the new one only."""
    version = app.rotate_webhook_secret(
        contact_id,
        body.webhook_secret,
        timedelta(hours=body.overlap_hours),
        datetime.now(UTC),
        meta_for(principal, request),
        body.expected_version,
    )
    return Version(id=contact_id, version=version)


@router.get("/partners", response_model=list[PartnerPublic])
def list_partners(
    app: App,
    principal: Annotated[Principal, Depends(requires("partner.manage"))],
) -> list[PartnerPublic]:
    """The partner directory."""
    return [partner_public(row) for row in app.partners()]


@router.get("/notices", response_model=list[NoticeSummary])
def list_my_notices(
    app: App,
    principal: Annotated[Principal, Depends(requires("notice.read"))],
) -> list[NoticeSummary]:
    """The notices addressed to the calling partner, newest first."""
    try:
        contact_id = contact_of(principal)
    except NotFound:
        return []
    return [summary(row) for row in app.notices_for(contact_id)]


@router.get("/notices/{notice_id}", response_model=NoticePublic)
def get_my_notice(
    notice_id: UUID,
    app: App,
    principal: Annotated[Principal, Depends(requires("notice.read"))],
) -> NoticePublic:
    """One notice addressed to the calling partner; anyone else's is not found."""
    notice = app.notice_for_partner(notice_id, contact_of(principal))
    return notice_public(notice, app)


@router.post("/notices/{notice_id}/acknowledgement", response_model=Version)
def acknowledge_notice(
    notice_id: UUID,
    request: Request,
    app: App,
    principal: Annotated[Principal, Depends(requires("notice.ack"))],
    body: Acknowledgement | None = None,
) -> Version:
    """Confirm the notice was read (once)."""
    version = app.acknowledge(
        notice_id,
        contact_of(principal),
        datetime.now(UTC),
        meta_for(principal, request),
        body.expected_version if body else None,
    )
    return Version(id=notice_id, version=version)


@router.get("/ops/notices", response_model=list[NoticeOperational])
def list_notices_for_operators(
    app: App,
    principal: Annotated[Principal, Depends(requires("ops.status"))],
    status_: Annotated[NoticeStatus | None, Query(alias="status")] = NoticeStatus.FAILED,
) -> list[NoticeOperational]:
    """Notices by delivery state (failed by default), without their content."""
    return [
        NoticeOperational(
            id=row.notice_id,
            contact_id=row.contact_id,
            kind=row.kind,
            reference=ecm_reference(row.child_id),
            status=row.status,
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at,
            last_error=row.last_error,
            gave_up=row.status == NoticeStatus.FAILED and row.next_attempt_at is None,
            queued_at=row.queued_at,
        )
        for row in app.notices(status_)
    ]


@router.post("/ops/notices/{notice_id}/retry", response_model=Version)
def retry_notice(
    notice_id: UUID,
    request: Request,
    app: App,
    principal: Annotated[Principal, Depends(requires("ops.replay"))],
    body: Retry | None = None,
) -> Version:
    """Deliver a failed notice again, with a fresh set of automatic tries."""
    version = app.retry(
        notice_id,
        datetime.now(UTC),
        meta_for(principal, request),
        body.expected_version if body else None,
    )
    return Version(id=notice_id, version=version)
