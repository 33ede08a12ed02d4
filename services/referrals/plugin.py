"""The referrals service as the runtime sees it."""

from __future__ import annotations

from services.plugin import ServicePlugin
from services.referrals.api import router
from services.referrals.application import ReferralsApplication
from services.referrals.contracts import REGISTRY

plugin = ServicePlugin(
    name="referrals",
    application=ReferralsApplication,
    contracts=REGISTRY,
    routers=(router,),
)
