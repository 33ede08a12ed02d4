"""Every service of ECM Record, in start order."""

from __future__ import annotations

import importlib

from services.plugin import ServicePlugin

SERVICE_MODULES = (
    "referrals", "formulation", "reviews", "notifications", "governance", "evaluation",
    "children",
)


def all_plugins() -> list[ServicePlugin]:
    """The plugins of every service (imported here, not at module import)."""
    plugins = []
    for name in SERVICE_MODULES:
        module_name = f"services.{name}.plugin"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name is not None and module_name.startswith(e.name):
                continue
            raise
        plugins.append(module.plugin)
    return plugins


def plugins_named(names: list[str] | None) -> list[ServicePlugin]:
    """The plugins for `names` (all when None), refusing unknown names."""
    plugins = all_plugins()
    if not names:
        return plugins
    known = {p.name: p for p in plugins}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown service(s): {', '.join(unknown)}; known: {', '.join(known)}")
    return [known[n] for n in names]
