"""What the referrals service learns from the stream: one lifecycle across services.

When the reviews service closes a child's ECM case, the accepted referral it was opened for
closes too, so the child can be referred again; when the case reopens, so does that referral
(unless the child was referred again meanwhile). The sink commits each change with the
message's tracking record, so a message is applied exactly once, in stream order (closing
and reopening come through one consumer, so they never pass each other).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from services.referrals.application import ReferralsApplication
from services.referrals.projections import ReferralListProjection
from shared.consumer import ApplicationSink, Consumer
from shared.contracts import Envelope, caused_by

if TYPE_CHECKING:
    from services.plugin import Engines, Stores

    class Needs(Engines, Stores, Protocol):
        """What the referrals consumers use."""


REVIEWS_CONSUMER = "referrals-reviews"
REVIEWS_SUBJECT = "ecm.reviews.>"
READ_SCHEMA = "referrals-read"
CLOSED_WITH_CASE = "the child's ECM case was closed"
REOPENED_WITH_CASE = "the child's ECM case was reopened"


class CaseLifecycleIn(BaseModel):
    """The part of reviews' CaseClosed and CaseReopened this service reads."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    child_id: UUID


def on_review_message(app: ReferralsApplication, envelope: Envelope) -> bool:
    """Close or reopen the child's referral with their case; ignore other reviews events."""
    if envelope.service != "reviews" or envelope.event_type not in ("CaseClosed", "CaseReopened"):
        return False
    child_id = CaseLifecycleIn.model_validate(envelope.data).child_id
    meta = caused_by(envelope)
    if envelope.event_type == "CaseClosed":
        return app.close_with_case(child_id, meta.with_reason(meta.reason or CLOSED_WITH_CASE))
    return app.reopen_with_case(child_id, meta.with_reason(meta.reason or REOPENED_WITH_CASE))


def lifecycle_consumer(resources: Needs) -> Consumer:
    """The process manager that keeps a child's referral in step with their ECM case."""
    app = resources.app(ReferralsApplication)
    return ApplicationSink(
        REVIEWS_CONSUMER,
        REVIEWS_SUBJECT,
        app,
        lambda envelope: on_review_message(app, envelope),
        resources.engine(READ_SCHEMA),
    ).consumer()


def consumers(resources: Needs) -> list[Consumer]:
    """Every consumer of the referrals service: the referral list, and the case lifecycle."""
    return [
        ReferralListProjection(resources.engine(READ_SCHEMA)).consumer(),
        lifecycle_consumer(resources),
    ]
