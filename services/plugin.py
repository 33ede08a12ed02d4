"""How a service plugs into the system: its application, contracts, routes and consumers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import APIRouter

from shared.consumer import Consumer
from shared.contracts import ContractRegistry
from shared.crypto import KeyVault
from shared.settings import Settings
from shared.store import EcmApplication

if TYPE_CHECKING:
    from services.runtime import System


def _no_consumers(_system: System) -> list[Consumer]:
    return []


@dataclass(frozen=True)
class ServicePlugin:
    """One service: everything the runtime needs to serve it."""

    name: str
    application: Callable[[Settings, KeyVault], EcmApplication] | None
    contracts: ContractRegistry | None
    routers: tuple[APIRouter, ...] = ()
    consumers: Callable[[System], list[Consumer]] = field(default=_no_consumers)
    background: Callable[[System, asyncio.Event], Awaitable[None]] | None = None
