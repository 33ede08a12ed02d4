"""How a service plugs into the system: its application, contracts, routes and consumers.

A plugin never sees the composition root (services/runtime.py): its consumers, background
job and routes are given `Resources`, the typed handful of things a service uses (settings,
the key vault, the operational engine, read-side engines, the served stores). A plugin's
functions declare what they use with the small protocols below (`Engines`, `Stores`, ...),
so mypy holds each to its own needs. This module
imports neither services.runtime nor services.registry, so there is no import circle.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from fastapi import APIRouter, Request
from sqlalchemy import Engine

from shared.consumer import Consumer
from shared.contracts import ContractRegistry
from shared.crypto import KeyVault
from shared.settings import Settings
from shared.sql import make_engine
from shared.store import EcmApplication

App = TypeVar("App", bound=EcmApplication)
OpenStore = Callable[[Settings, KeyVault], EcmApplication]


class Engines(Protocol):
    """Read-side engines by store name."""

    def engine(self, schema: str) -> Engine:
        """The engine of the store `schema`."""
        ...


class Stores(Protocol):
    """The stores this process serves, by type."""

    def app(self, kind: type[App]) -> App:
        """The served application of type `kind`."""
        ...


class Configured(Protocol):
    """The settings of the process."""

    @property
    def settings(self) -> Settings:
        """The settings."""
        ...


class Vaulted(Protocol):
    """The children's key vault."""

    @property
    def vault(self) -> KeyVault:
        """The key vault."""
        ...


class AllStores(Configured, Protocol):
    """Every service's store and the operational database (the integrity check's needs)."""

    @property
    def ops(self) -> Engine:
        """The operational database."""
        ...

    def every_store(self) -> dict[str, EcmApplication]:
        """Every service's store, by name."""
        ...


class NotServed(LookupError):
    """A service's store was asked for in a process that does not serve that service."""


@dataclass
class Resources:
    """What a process shares with the services it serves (typed, no locator)."""

    settings: Settings
    vault: KeyVault
    ops: Engine
    apps: dict[str, EcmApplication] = field(default_factory=dict)
    engines: dict[str, Engine] = field(default_factory=dict)
    # How to open every service's store, for the integrity check that spans them all.
    openers: Mapping[str, OpenStore] = field(default_factory=dict)
    # Every publishing service's wire contracts (the audit names events as published).
    contracts: Mapping[str, ContractRegistry] = field(default_factory=dict)
    _unserved: dict[str, EcmApplication] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def engine(self, schema: str) -> Engine:
        """The read-side engine for `schema` (one per store, created on first use)."""
        with self._lock:
            if schema not in self.engines:
                self.engines[schema] = make_engine(self.settings, schema)
            return self.engines[schema]

    def app(self, kind: type[App]) -> App:
        """The served application of type `kind` (NotServed when this process lacks it)."""
        found = self.apps.get(kind.service)
        if not isinstance(found, kind):
            raise NotServed(f"the {kind.service} service is not served by this process")
        return found

    def every_store(self) -> dict[str, EcmApplication]:
        """Every service's store: the served ones, and the others opened once on demand
        (tamper evidence covers every store, whichever services this process serves)."""
        with self._lock:
            for name, open_store in self.openers.items():
                if name not in self.apps and name not in self._unserved:
                    self._unserved[name] = open_store(self.settings, self.vault)
            return {name: self.apps.get(name) or self._unserved[name] for name in self.openers}

    def close(self) -> None:
        """Close stores and engines."""
        for app in [*self.apps.values(), *self._unserved.values()]:
            app.close()
        self._unserved.clear()
        for engine in [*self.engines.values(), self.ops, self.vault.engine]:
            engine.dispose()


def resources_of(request: Request) -> Resources:
    """The resources of the process serving `request` (a FastAPI dependency)."""
    resources: Resources = request.app.state.resources
    return resources


def _no_consumers(_resources: Resources) -> list[Consumer]:
    return []


@dataclass(frozen=True)
class ServicePlugin:
    """One service: everything the runtime needs to serve it."""

    name: str
    application: OpenStore | None
    contracts: ContractRegistry | None
    routers: tuple[APIRouter, ...] = ()
    consumers: Callable[[Resources], list[Consumer]] = field(default=_no_consumers)
    background: Callable[[Resources, asyncio.Event], Awaitable[None]] | None = None
