"""The referrals service as the runtime sees it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.plugin import ServicePlugin
from services.referrals.api import router
from services.referrals.application import ReferralsApplication
from services.referrals.contracts import REGISTRY
from services.referrals.outcomes_api import router as outcomes_router
from services.referrals.projections import ReferralListProjection
from shared.consumer import Consumer

if TYPE_CHECKING:
    from services.runtime import System


def consumers(system: System) -> list[Consumer]:
    """The referral list read model."""
    store = "referrals-read"
    return [ReferralListProjection(system.engine(store)).consumer()]


plugin = ServicePlugin(
    name="referrals",
    application=ReferralsApplication,
    contracts=REGISTRY,
    routers=(router, outcomes_router),
    consumers=consumers,
)
