"""The notifications service as the runtime sees it."""

from __future__ import annotations

from services.notifications.api import router
from services.notifications.application import NotificationsApplication
from services.notifications.consumers import notifications_consumers
from services.notifications.contracts import REGISTRY
from services.notifications.delivery import run_delivery
from services.plugin import ServicePlugin

plugin = ServicePlugin(
    name="notifications",
    application=NotificationsApplication,
    contracts=REGISTRY,
    routers=(router,),
    consumers=notifications_consumers,
    background=run_delivery,
)
