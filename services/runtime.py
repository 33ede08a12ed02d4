"""The composition root: builds the system from settings and runs a node of it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import uvicorn
from fastapi import FastAPI
from nats.aio.client import Client
from nats.js import JetStreamContext

from services.ops import install_ops
from services.plugin import Resources, ServicePlugin
from services.registry import all_plugins, contract_registries, plugins_named, store_openers
from services.web.app import mount_web
from shared.auth import Authenticator
from shared.bus import connect, ensure_stream
from shared.consumer import Consumer, Runner
from shared.contracts import ContractRegistry, asyncapi
from shared.crypto import KeyVault, load_master_key
from shared.http import install_error_handlers
from shared.hygiene import BodyLimit, SecurityHeaders
from shared.idempotency import Idempotency, KeyStore
from shared.leader import LeaderLock
from shared.natsauth import Identity, identity_for
from shared.openapi import install_openapi
from shared.relay import PositionStore, Relay
from shared.settings import Settings
from shared.signing import KeyRing
from shared.sql import make_engine
from shared.throttle import FailedAuthentications

log = logging.getLogger("ecm")


@dataclass(kw_only=True)
class System(Resources):
    """Everything one process serves, built from settings; nothing connects at import."""

    plugins: list[ServicePlugin]
    keys: KeyRing
    bus: Client | None = None  # the node's NATS connection while run_node runs (readiness)
    _consumers: dict[str, list[Consumer]] | None = field(default=None, repr=False)

    @classmethod
    def build(cls, settings: Settings, services: list[str] | None = None) -> System:
        """Open the stores of the named services (all by default)."""
        plugins = plugins_named(services)
        vault = KeyVault(make_engine(settings, "keys"), load_master_key(settings.master_key))
        publishers = [p.name for p in all_plugins() if p.contracts is not None]
        keys = KeyRing.load(settings.signing_keys_path, publishers, generate=settings.dev_mode)
        system = cls(
            settings=settings,
            vault=vault,
            ops=make_engine(settings, "ops"),
            openers=store_openers(),
            contracts=contract_registries(),
            plugins=plugins,
            keys=keys,
        )
        for plugin in plugins:
            if plugin.application is not None:
                system.apps[plugin.name] = plugin.application(settings, vault)
        return system

    def registries(self) -> list[ContractRegistry]:
        """Contract registries of the served services."""
        return [p.contracts for p in self.plugins if p.contracts is not None]

    def consumers_by_service(self) -> dict[str, list[Consumer]]:
        """The consumers of each served service (built once)."""
        if self._consumers is None:
            self._consumers = {p.name: p.consumers(self) for p in self.plugins}
        return self._consumers

    def consumers(self) -> list[Consumer]:
        """Every consumer of the served services."""
        return [c for group in self.consumers_by_service().values() for c in group]

    def nats_services(self) -> dict[str, tuple[bool, list[str]]]:
        """Per served service: whether it publishes, and its durable consumers (NATS rights)."""
        by_service = self.consumers_by_service()
        return {
            p.name: (p.contracts is not None, [c.name for c in by_service[p.name]])
            for p in self.plugins
        }


def create_api(system: System) -> FastAPI:
    """The HTTP API for the services this system serves."""
    api = FastAPI(
        title="ECM Record",
        version="0.1.0",
        description="Enhanced Case Management record for the South West Youth Justice "
        "Services. Every call needs a bearer token. Synthetic data only in development.",
    )
    api.state.system = system
    api.state.resources = system
    api.state.authenticator = Authenticator(system.settings)
    api.state.failed_auth = FailedAuthentications(system.settings.auth_failures_per_minute)
    install_error_handlers(api)

    install_ops(api, system)

    keys = KeyStore(
        lambda: system.engine("idempotency"),
        timedelta(seconds=system.settings.idempotency_ttl_seconds),
    )
    api.add_middleware(Idempotency, authenticator=api.state.authenticator, store=keys)
    api.add_middleware(BodyLimit, limit=system.settings.max_body_bytes)
    api.add_middleware(SecurityHeaders)  # outermost: the 413 above carries the headers too

    @api.get("/health", tags=["ops"])
    def health() -> dict[str, Any]:
        """Liveness (kept for old probes; see /health/live and /health/ready)."""
        return {"status": "ok", "services": [p.name for p in system.plugins]}

    @api.get("/asyncapi.json", tags=["ops"])
    def asyncapi_document() -> dict[str, Any]:
        """The AsyncAPI document of every event the served services publish."""
        return asyncapi(system.registries())

    system.consumers()  # builds every read model of the served services: tables ready to read
    for plugin in system.plugins:
        for router in plugin.routers:
            api.include_router(router)
    install_openapi(api)
    mount_web(api, system)  # the pages at `/`, after every API route
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
    nc = await connect(settings, nats_url, name="ecm")
    system.bus = nc
    await ensure_stream(nc.jetstream(), settings)
    connections = {settings.nats_user: nc}
    streams: dict[str, JetStreamContext] = {}
    for plugin in system.plugins:  # each service speaks as itself where it has an identity
        identity = identity_for(
            plugin.name,
            settings.nats_identities_dir,
            Identity(settings.nats_user, settings.nats_password),
        )
        if identity.user not in connections:
            connections[identity.user] = await connect(
                settings, nats_url, name=identity.user or "ecm", identity=identity
            )
        streams[plugin.name] = connections[identity.user].jetstream()
    tasks: list[asyncio.Task[None]] = []
    server: ApiServer | None = None
    try:
        if run_relays:
            positions = PositionStore(system.ops)
            for plugin in system.plugins:
                app = system.apps.get(plugin.name)
                js = streams[plugin.name]
                if app is not None and plugin.contracts is not None:
                    lock = LeaderLock(
                        f"{settings.pg_schema_prefix}relay-{plugin.name}",
                        system.ops,
                        settings.data_path / "locks",
                    )
                    relay = Relay(
                        app,
                        plugin.contracts,
                        js,
                        positions,
                        system.keys,
                        batch_size=settings.relay_batch_size,
                        poll_seconds=settings.relay_poll_seconds,
                        leader=lock,
                    )
                    tasks.append(asyncio.create_task(relay.run(stop), name=f"relay-{plugin.name}"))
        if run_consumers:
            owners = {
                c.name: service
                for service, group in system.consumers_by_service().items()
                for c in group
            }
            default = next(iter(streams.values()), nc.jetstream())
            for consumer in system.consumers():
                lock = LeaderLock(
                    f"{settings.pg_schema_prefix}consumer-{consumer.name}",
                    system.ops,
                    settings.data_path / "locks",
                )
                js = streams.get(owners.get(consumer.name, ""), default)
                runner = Runner(consumer, js, settings, system.keys, lock)
                tasks.append(asyncio.create_task(runner.run(stop), name=consumer.name))
            for plugin in system.plugins:
                if plugin.background is not None:
                    job = plugin.background(system, stop)
                    tasks.append(asyncio.ensure_future(job))
        if serve_api:
            config = uvicorn.Config(
                create_api(system),
                host=settings.api_host,
                port=settings.api_port,
                log_level=settings.log_level.lower(),
                log_config=None,
                access_log=False,
                lifespan="off",
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
        for connection in connections.values():
            with contextlib.suppress(Exception):  # e.g. still reconnecting after an outage
                await connection.drain()
        system.bus = None


class ApiServer(uvicorn.Server):
    """uvicorn without its own signal handling: the node owns Ctrl-C and SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
