"""Every service of ECM Record, in start order: a static, typed list (plain imports)."""

from __future__ import annotations

from services.children.plugin import plugin as children
from services.evaluation.plugin import plugin as evaluation
from services.formulation.plugin import plugin as formulation
from services.governance.plugin import plugin as governance
from services.notifications.plugin import plugin as notifications
from services.plugin import OpenStore, ServicePlugin
from services.referrals.plugin import plugin as referrals
from services.reviews.plugin import plugin as reviews
from shared.contracts import ContractRegistry

PLUGINS: tuple[ServicePlugin, ...] = (
    referrals,
    formulation,
    reviews,
    notifications,
    governance,
    evaluation,
    children,
)

SERVICE_NAMES: tuple[str, ...] = tuple(p.name for p in PLUGINS)


def all_plugins() -> list[ServicePlugin]:
    """The plugins of every service, in start order."""
    return list(PLUGINS)


def plugins_named(names: list[str] | None) -> list[ServicePlugin]:
    """The plugins for `names` (all when None), refusing unknown names."""
    if not names:
        return all_plugins()
    known = {p.name: p for p in PLUGINS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown service(s): {', '.join(unknown)}; known: {', '.join(known)}")
    return [known[n] for n in names]


def contract_registries() -> dict[str, ContractRegistry]:
    """Each publishing service's contract registry, by service name."""
    return {p.name: p.contracts for p in PLUGINS if p.contracts is not None}


def store_openers() -> dict[str, OpenStore]:
    """How to open each service's event store, by service name."""
    return {p.name: p.application for p in PLUGINS if p.application is not None}
