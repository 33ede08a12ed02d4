"""The referrals service as the runtime sees it."""

from __future__ import annotations

from services.plugin import ServicePlugin
from services.referrals.api import router
from services.referrals.application import ReferralsApplication
from services.referrals.consumers import consumers
from services.referrals.contracts import REGISTRY
from services.referrals.outcomes_api import router as outcomes_router

plugin = ServicePlugin(
    name="referrals",
    application=ReferralsApplication,
    contracts=REGISTRY,
    routers=(router, outcomes_router),
    consumers=consumers,
)
