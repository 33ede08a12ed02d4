"""The evaluation read side as the runtime sees it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.evaluation.api import router
from services.evaluation.projection import EvaluationProjection
from services.plugin import ServicePlugin
from shared.consumer import Consumer

if TYPE_CHECKING:
    from services.runtime import System


def consumers(system: System) -> list[Consumer]:
    """The evaluation read model, fed by every service's events."""
    store = "evaluation-read"
    return [EvaluationProjection(system.engine(store)).consumer()]


plugin = ServicePlugin(
    name="evaluation", application=None, contracts=None, routers=(router,), consumers=consumers
)
