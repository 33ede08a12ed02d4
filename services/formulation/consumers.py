"""What the formulation service does with other services' messages.

Each handler makes its changes through the application; the consumer's sink commits them with
the message's tracking record, so a message is applied exactly once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from services.formulation.application import FormulationApplication
from services.formulation.contracts import AreaCorrectedIn, ScreeningIn, StageReassessedIn
from shared.consumer import ApplicationSink, Consumer
from shared.contracts import Envelope, caused_by

if TYPE_CHECKING:
    from services.plugin import Engines, Stores

    class Needs(Engines, Stores, Protocol):
        """What the service's consumers use."""


REFERRALS_CONSUMER = "formulation-referrals"
REVIEWS_CONSUMER = "formulation-reviews"
READ_SCHEMA = "formulation-read"


def on_referral_message(app: FormulationApplication, envelope: Envelope) -> bool:
    """Open a case on ReferralAccepted, a consultation on ConsultationOffered; ignore the rest.

    Returns True when something changed. Opening is idempotent: the case id derives from the
    child id and the consultation id from the referral id.
    """
    if envelope.service != "referrals":
        return False
    if envelope.event_type == "ChildAreaCorrected" and envelope.child_id is not None:
        area = AreaCorrectedIn.model_validate(envelope.data).area
        return app.move_area(envelope.child_id, area, caused_by(envelope))
    if envelope.event_type not in ("ReferralAccepted", "ConsultationOffered"):
        return False
    data = ScreeningIn.model_validate(envelope.data)
    if envelope.event_type == "ReferralAccepted":
        return app.open_case(data.child_id, envelope.aggregate_id, data.area, caused_by(envelope))
    return app.open_consultation(
        data.child_id, envelope.aggregate_id, data.area, caused_by(envelope)
    )


REVIEW_RATIONALE_SEALED_IN = "ReviewCase.StageReassessed"
"""The reviews event a re-assessment's rationale is sealed in (the binding it opens with)."""


def on_review_message(app: FormulationApplication, envelope: Envelope) -> bool:
    """Record a review's StageReassessed on the child's case.

    The case was opened before any review existed; if it is missing all the same, NotFound
    fails the message, which is retried and then parked, never dropped.
    """
    if envelope.service != "reviews" or envelope.event_type != "StageReassessed":
        return False
    data = StageReassessedIn.model_validate(envelope.data)
    rationale = app.cipher.open(
        data.child_id, "rationale", data.rationale, event=REVIEW_RATIONALE_SEALED_IN
    )
    return app.record_review_assessment(
        data.child_id,
        review_id=data.review_id,
        stage=data.stage,
        assessed_on=data.assessed_on,
        rationale=rationale if isinstance(rationale, str) else None,
        meta=caused_by(envelope),
    )


def consumers(resources: Needs) -> list[Consumer]:
    """The formulation service's durable consumers (process managers on its own store)."""
    app = resources.app(FormulationApplication)
    engine = resources.engine(READ_SCHEMA)
    return [
        ApplicationSink(
            REFERRALS_CONSUMER,
            "ecm.referrals.>",
            app,
            lambda envelope: on_referral_message(app, envelope),
            engine,
        ).consumer(),
        ApplicationSink(
            REVIEWS_CONSUMER,
            "ecm.reviews.StageReassessed",
            app,
            lambda envelope: on_review_message(app, envelope),
            engine,
        ).consumer(),
    ]
