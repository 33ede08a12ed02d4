"""Every service of ECM Record, in start order."""

from __future__ import annotations

from services.plugin import ServicePlugin


def all_plugins() -> list[ServicePlugin]:
    """The plugins of every service (imported here, not at module import)."""
    from services.referrals.plugin import plugin as referrals

    return [referrals]


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
