"""What the formulation service does with other services' messages (sync, idempotent)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError

from services.formulation.application import FormulationApplication
from services.formulation.contracts import AreaCorrectedIn, ScreeningIn, StageReassessedIn
from shared.consumer import Consumer, Handler, Ledger
from shared.contracts import Envelope
from shared.domain import Meta

if TYPE_CHECKING:
    from services.runtime import System

log = logging.getLogger(__name__)

REFERRALS_CONSUMER = "formulation-referrals"
REVIEWS_CONSUMER = "formulation-reviews"
READ_SCHEMA = "formulation-read"


def meta_from(envelope: Envelope) -> Meta:
    """Metadata for a change caused by a message: its actor, in its conversation."""
    return Meta(actor_id=envelope.actor.id, actor_role=envelope.actor.role,
                correlation_id=envelope.correlation_id, causation_id=envelope.message_id)


def on_referral_message(app: FormulationApplication, envelope: Envelope) -> bool:
    """Open a case on ReferralAccepted, a consultation on ConsultationOffered; ignore the rest.

    Returns True when something changed. Opening is idempotent: the case id derives from the
    child id and the consultation id from the referral id.
    """
    if envelope.service != "referrals":
        return False
    if envelope.event_type == "ChildAreaCorrected" and envelope.child_id is not None:
        area = AreaCorrectedIn.model_validate(envelope.data).area
        return app.move_area(envelope.child_id, area, meta_from(envelope))
    if envelope.event_type not in ("ReferralAccepted", "ConsultationOffered"):
        return False
    data = ScreeningIn.model_validate(envelope.data)
    if envelope.event_type == "ReferralAccepted":
        return app.open_case(data.child_id, envelope.aggregate_id, data.area, meta_from(envelope))
    return app.open_consultation(data.child_id, envelope.aggregate_id, data.area,
                                 meta_from(envelope))


def on_review_message(app: FormulationApplication, envelope: Envelope) -> bool:
    """Record a review's StageReassessed on the child's case; idempotent by review and message.

    A case not opened yet (messages on other subjects may still be on their way) raises
    NotFound, so the message is retried with backoff rather than dropped.
    """
    if envelope.service != "reviews" or envelope.event_type != "StageReassessed":
        return False
    data = StageReassessedIn.model_validate(envelope.data)
    rationale = app.cipher.open(data.child_id, "rationale", data.rationale)
    return app.record_review_assessment(
        data.child_id, review_id=data.review_id, stage=data.stage, assessed_on=data.assessed_on,
        rationale=rationale if isinstance(rationale, str) else None,
        message_id=envelope.message_id, meta=meta_from(envelope),
    )


def tracked(name: str, ledger: Ledger, app: FormulationApplication,
            handle: Callable[[FormulationApplication, Envelope], bool]) -> Handler:
    """A handler that skips messages the ledger has seen and records the ones it handled."""

    def handler(envelope: Envelope) -> None:
        with ledger.engine.connect() as conn:
            if ledger.seen(conn, name, envelope.message_id):
                return
        handle(app, envelope)
        try:
            with ledger.engine.begin() as conn:
                if not ledger.seen(conn, name, envelope.message_id):
                    ledger.mark(conn, name, envelope.message_id)
        except IntegrityError:
            log.debug("%s: %s marked by a concurrent delivery", name, envelope.message_id)

    handler.__name__ = f"handle_{name.replace('-', '_')}"
    return handler


def consumers(system: System) -> list[Consumer]:
    """The formulation service's durable consumers."""
    app = system.apps["formulation"]
    assert isinstance(app, FormulationApplication)
    ledger = system.ledger(READ_SCHEMA)
    return [
        Consumer(REFERRALS_CONSUMER, "ecm.referrals.>",
                 tracked(REFERRALS_CONSUMER, ledger, app, on_referral_message), ledger),
        Consumer(REVIEWS_CONSUMER, "ecm.reviews.StageReassessed",
                 tracked(REVIEWS_CONSUMER, ledger, app, on_review_message), ledger),
    ]
