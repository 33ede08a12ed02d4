"""The governance service as the runtime sees it."""

from __future__ import annotations

from services.governance.api import router
from services.governance.application import GovernanceApplication
from services.governance.audit import STORE, AuditIndex
from services.governance.contracts import REGISTRY
from services.governance.integrity import keep_sealing
from services.plugin import Engines, ServicePlugin
from shared.consumer import Consumer


def consumers(resources: Engines) -> list[Consumer]:
    """The per-child audit index, fed by every service's events."""
    return [AuditIndex(resources.engine(STORE)).consumer()]


plugin = ServicePlugin(
    name="governance",
    application=GovernanceApplication,
    contracts=REGISTRY,
    routers=(router,),
    consumers=consumers,
    background=keep_sealing,
)
