"""The children read side as the runtime sees it: two read models fed by the whole stream."""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.children import index, timeline
from services.children.api import router
from services.children.search import search_key
from services.plugin import ServicePlugin
from shared.consumer import Consumer
from shared.crypto import FieldCipher

if TYPE_CHECKING:
    from services.runtime import System


def consumers(system: System) -> list[Consumer]:
    """The child index (with its blind indexes) and the whole-story timeline."""
    searcher = index.Searcher(FieldCipher(system.vault), search_key(system.settings))
    projection = index.bound_index(searcher)
    return [
        projection(system.engine(index.STORE)).consumer(),
        timeline.TimelineProjection(system.engine(timeline.STORE)).consumer(),
    ]


plugin = ServicePlugin(
    name="children", application=None, contracts=None, routers=(router,), consumers=consumers
)
