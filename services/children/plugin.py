"""The children read side as the runtime sees it: two read models fed by the whole stream."""

from __future__ import annotations

from typing import Protocol

from services.children import index, timeline
from services.children.api import router
from services.children.search import search_key
from services.plugin import Configured, Engines, ServicePlugin, Vaulted
from shared.consumer import Consumer
from shared.crypto import FieldCipher


class Needs(Engines, Configured, Vaulted, Protocol):
    """What the children read side uses."""


def consumers(resources: Needs) -> list[Consumer]:
    """The child index (with its blind indexes) and the whole-story timeline."""
    searcher = index.Searcher(FieldCipher(resources.vault), search_key(resources.settings))
    projection = index.bound_index(searcher)
    return [
        projection(resources.engine(index.STORE)).consumer(),
        timeline.TimelineProjection(resources.engine(timeline.STORE)).consumer(),
    ]


plugin = ServicePlugin(
    name="children", application=None, contracts=None, routers=(router,), consumers=consumers
)
