"""The reviews service as the runtime sees it, with its daily overdue tick."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import date
from typing import Protocol
from uuid import uuid4

from services.plugin import Configured, ServicePlugin, Stores
from services.reviews.api import router
from services.reviews.application import ReviewsApplication
from services.reviews.consumers import consumers
from services.reviews.contracts import REGISTRY
from shared.directory import with_partner_directory
from shared.domain import Meta

log = logging.getLogger(__name__)
TICK_ACTOR = "system:reviews-tick"


def tick_meta() -> Meta:
    """Metadata for one run of the overdue tick (a new conversation each time)."""
    run = str(uuid4())
    return Meta(actor_id=TICK_ACTOR, actor_role="system", correlation_id=run, causation_id=run)


class Needs(Stores, Configured, Protocol):
    """What the overdue tick uses."""


async def background(resources: Needs, stop: asyncio.Event) -> None:
    """Run the overdue tick now and then every settings.tick_seconds until `stop`."""
    app = resources.app(ReviewsApplication)
    while not stop.is_set():
        try:
            raised = await asyncio.to_thread(app.tick, date.today(), tick_meta())
            if raised:
                log.info("reviews tick: %d review(s) newly overdue", raised)
        except Exception:
            log.exception("reviews tick failed; trying again at the next tick")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), resources.settings.tick_seconds)


plugin = ServicePlugin(
    name="reviews",
    application=ReviewsApplication,
    contracts=REGISTRY,
    routers=(router,),
    consumers=with_partner_directory("reviews", consumers),
    background=background,
)
