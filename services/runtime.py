"""The composition root: builds the system from settings and runs a node of it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import uuid4

import uvicorn
from fastapi import FastAPI, Request, Response
from sqlalchemy import Engine

from services.plugin import ServicePlugin
from services.registry import plugins_named
from shared.auth import Authenticator
from shared.bus import connect, ensure_stream
from shared.consumer import Consumer, Runner
from shared.contracts import ContractRegistry, asyncapi
from shared.crypto import KeyVault, load_master_key
from shared.http import install_error_handlers
from shared.hygiene import BodyLimit, SecurityHeaders
from shared.idempotency import Idempotency, KeyStore
from shared.leader import LeaderLock
from shared.openapi import install_openapi
from shared.relay import PositionStore, Relay
from shared.settings import Settings
from shared.sql import make_engine
from shared.store import EcmApplication
from shared.throttle import FailedAuthentications

log = logging.getLogger("ecm")


@dataclass
class System:
    """Everything one process serves, built from settings; nothing connects at import."""

    settings: Settings
    plugins: list[ServicePlugin]
    vault: KeyVault
    ops: Engine
    apps: dict[str, EcmApplication] = field(default_factory=dict)
    engines: dict[str, Engine] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings, services: list[str] | None = None) -> System:
        """Open the stores of the named services (all by default)."""
        plugins = plugins_named(services)
        vault = KeyVault(make_engine(settings, "keys"), load_master_key(settings.master_key))
        system = cls(settings, plugins, vault, make_engine(settings, "ops"))
        for plugin in plugins:
            if plugin.application is not None:
                system.apps[plugin.name] = plugin.application(settings, vault)
        return system

    def __getattr__(self, name: str) -> Any:
        apps = self.__dict__.get("apps", {})
        if name in apps:
            return apps[name]
        raise AttributeError(name)

    def engine(self, schema: str) -> Engine:
        """The read-side engine for `schema` (one per store, created on first use)."""
        if schema not in self.engines:
            self.engines[schema] = make_engine(self.settings, schema)
        return self.engines[schema]

    def registries(self) -> list[ContractRegistry]:
        """Contract registries of the served services."""
        return [p.contracts for p in self.plugins if p.contracts is not None]

    def consumers(self) -> list[Consumer]:
        """Every consumer of the served services."""
        return [c for p in self.plugins for c in p.consumers(self)]

    def close(self) -> None:
        """Close stores and engines."""
        for app in self.apps.values():
            app.close()
        for engine in [*self.engines.values(), self.ops, self.vault.engine]:
            engine.dispose()


def create_api(system: System) -> FastAPI:
    """The HTTP API for the services this system serves."""
    api = FastAPI(
        title="ECM Record",
        version="0.1.0",
        description="Enhanced Case Management record for the South West Youth Justice "
        "Services. Every call needs a bearer token. Synthetic data only in development.",
    )
    api.state.system = system
    api.state.authenticator = Authenticator(system.settings)
    api.state.failed_auth = FailedAuthentications(system.settings.auth_failures_per_minute)
    install_error_handlers(api)

    @api.middleware("http")
    async def request_id(request: Request, call_next: Any) -> Response:
        request.state.request_id = request.headers.get("x-request-id") or str(uuid4())
        response: Response = await call_next(request)
        response.headers["x-request-id"] = request.state.request_id
        return response

    keys = KeyStore(lambda: system.engine("idempotency"),
                    timedelta(seconds=system.settings.idempotency_ttl_seconds))
    api.add_middleware(Idempotency, authenticator=api.state.authenticator, store=keys)
    api.add_middleware(BodyLimit, limit=system.settings.max_body_bytes)
    api.add_middleware(SecurityHeaders)  # outermost: the 413 above carries the headers too

    @api.get("/health", tags=["ops"])
    def health() -> dict[str, Any]:
        """Liveness: which services this process serves."""
        return {"status": "ok", "services": [p.name for p in system.plugins]}

    @api.get("/asyncapi.json", tags=["ops"])
    def asyncapi_document() -> dict[str, Any]:
        """The AsyncAPI document of every event the served services publish."""
        return asyncapi(system.registries())

    for plugin in system.plugins:
        for router in plugin.routers:
            api.include_router(router)
    install_openapi(api)
    return api


async def run_node(
    system: System,
    *,
    nats_url: str,
    serve_api: bool = True,
    run_relays: bool = True,
    run_consumers: bool = True,
    stop: asyncio.Event | None = None,
    ready: asyncio.Event | None = None,
) -> None:
    """Run relays, consumers, background jobs and the HTTP API until `stop` is set."""
    settings = system.settings
    stop = stop or asyncio.Event()
    nc = await connect(settings, nats_url, name="ecm-relay")
    js = nc.jetstream()
    await ensure_stream(js, settings)
    tasks: list[asyncio.Task[None]] = []
    server: ApiServer | None = None
    try:
        if run_relays:
            positions = PositionStore(system.ops)
            for plugin in system.plugins:
                app = system.apps.get(plugin.name)
                if app is not None and plugin.contracts is not None:
                    lock = LeaderLock(f"{settings.pg_schema_prefix}relay-{plugin.name}",
                                      system.ops, settings.data_path / "locks")
                    relay = Relay(app, plugin.contracts, js, positions,
                                  batch_size=settings.relay_batch_size,
                                  poll_seconds=settings.relay_poll_seconds, leader=lock)
                    tasks.append(asyncio.create_task(relay.run(stop), name=f"relay-{plugin.name}"))
        if run_consumers:
            for consumer in system.consumers():
                lock = LeaderLock(f"{settings.pg_schema_prefix}consumer-{consumer.name}",
                                  system.ops, settings.data_path / "locks")
                runner = Runner(consumer, js, settings, lock)
                tasks.append(asyncio.create_task(runner.run(stop), name=consumer.name))
            for plugin in system.plugins:
                if plugin.background is not None:
                    job = plugin.background(system, stop)
                    tasks.append(asyncio.ensure_future(job))
        if serve_api:
            config = uvicorn.Config(
                create_api(system), host=settings.api_host, port=settings.api_port,
                log_level="warning", lifespan="off",
            )
            server = ApiServer(config)
            tasks.append(asyncio.create_task(server.serve(), name="api"))
            while not server.started and not stop.is_set():  # noqa: ASYNC110 (uvicorn flag)
                await asyncio.sleep(0.05)
        if ready is not None:
            ready.set()
        await stop.wait()
    finally:
        stop.set()
        if server is not None:
            server.should_exit = True
        for task in tasks:
            with contextlib.suppress(asyncio.TimeoutError, Exception):
                await asyncio.wait_for(task, 10)
        with contextlib.suppress(Exception):
            await nc.drain()


class ApiServer(uvicorn.Server):
    """uvicorn without its own signal handling: the node owns Ctrl-C and SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
