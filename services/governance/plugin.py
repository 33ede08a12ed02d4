"""The governance service as the runtime sees it."""

from __future__ import annotations

from services.governance.api import router
from services.governance.application import GovernanceApplication
from services.governance.contracts import REGISTRY
from services.governance.integrity import keep_sealing
from services.plugin import ServicePlugin

plugin = ServicePlugin(
    name="governance",
    application=GovernanceApplication,
    contracts=REGISTRY,
    routers=(router,),
    background=keep_sealing,
)
