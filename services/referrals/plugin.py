"""The referrals service as the runtime sees it."""

from __future__ import annotations

from services.plugin import Engines, ServicePlugin
from services.referrals.api import router
from services.referrals.application import ReferralsApplication
from services.referrals.contracts import REGISTRY
from services.referrals.projections import ReferralListProjection
from shared.consumer import Consumer


def consumers(resources: Engines) -> list[Consumer]:
    """The referral list read model."""
    store = "referrals-read"
    return [ReferralListProjection(resources.engine(store)).consumer()]


plugin = ServicePlugin(
    name="referrals",
    application=ReferralsApplication,
    contracts=REGISTRY,
    routers=(router,),
    consumers=consumers,
)
