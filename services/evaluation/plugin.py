"""The evaluation read side as the runtime sees it."""

from __future__ import annotations

from services.evaluation.api import router
from services.evaluation.projection import EvaluationProjection
from services.plugin import Engines, ServicePlugin
from shared.consumer import Consumer


def consumers(resources: Engines) -> list[Consumer]:
    """The evaluation read model, fed by every service's events."""
    store = "evaluation-read"
    return [EvaluationProjection(resources.engine(store)).consumer()]


plugin = ServicePlugin(
    name="evaluation", application=None, contracts=None, routers=(router,), consumers=consumers
)
