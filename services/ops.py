"""Operational endpoints and middleware: health, readiness, metrics, access log, request ids."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import REGISTRY
from sqlalchemy import text

from shared import metrics
from shared.logs import correlation

if TYPE_CHECKING:
    from services.runtime import System

access = logging.getLogger("ecm.access")


def install_ops(api: FastAPI, system: System) -> None:
    """Add /health/live, /health/ready, /metrics and the request middleware to `api`."""

    @api.middleware("http")
    async def observe(request: Request, call_next: Any) -> Response:
        request_id = request.headers.get("x-request-id") or str(uuid4())
        request.state.request_id = request_id
        started = time.perf_counter()
        with correlation(request.headers.get("x-correlation-id") or request_id):
            status = 500
            try:
                response: Response = await call_next(request)
                status = response.status_code
            finally:
                elapsed = time.perf_counter() - started
                route = getattr(request.scope.get("route"), "path", "unmatched")
                metrics.REQUEST_SECONDS.labels(request.method, route, str(status)).observe(elapsed)
                # The path only, never the query string (which could hold personal data).
                access.info(
                    "%s %s %s %.1fms",
                    request.method,
                    request.url.path,
                    status,
                    elapsed * 1000,
                    extra={
                        "method": request.method,
                        "route": route,
                        "path": request.url.path,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 1),
                    },
                )
        response.headers["x-request-id"] = request_id
        return response

    @api.get("/health/live", tags=["ops"])
    def live() -> dict[str, Any]:
        """Liveness: the process answers; which services it serves."""
        return {"status": "ok", "services": [p.name for p in system.plugins]}

    @api.get(
        "/health/ready",
        tags=["ops"],
        responses={503: {"description": "A dependency is down; `checks` says which."}},
    )
    def ready() -> JSONResponse:
        """Readiness: the database answers, this process is connected to NATS and no consumer
        lags beyond ECM_READY_MAX_CONSUMER_LAG; `relays` says which relays lead here."""
        checks = readiness(system)
        ok = all(value == "ok" for value in checks.values())
        return JSONResponse(
            {
                "status": "ready" if ok else "unready",
                "checks": checks,
                "relays": relay_roles(system),
            },
            status_code=200 if ok else 503,
        )

    @api.get("/metrics", tags=["ops"], response_class=Response)
    def metrics_endpoint() -> Response:
        """Prometheus metrics of this process (no record data, route templates only)."""
        metrics.NATS_CONNECTED.set(1 if nats_connected(system) else 0)
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)


def nats_connected(system: System) -> bool:
    """True while the node's NATS connection is up."""
    return system.bus is not None and bool(system.bus.is_connected)


def readiness(system: System) -> dict[str, str]:
    """Each dependency's state: "ok" or what is wrong with it (no secrets, no record data)."""
    checks: dict[str, str] = {}
    try:
        with system.ops.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as e:
        checks["database"] = f"unreachable: {type(e).__name__}"
    checks["nats"] = "ok" if nats_connected(system) else "not connected"
    limit = system.settings.ready_max_consumer_lag
    for consumer in system.consumers():
        lag = REGISTRY.get_sample_value("ecm_consumer_lag_messages", {"consumer": consumer.name})
        if lag is not None and lag > limit:
            checks[f"consumer {consumer.name}"] = f"lagging: {int(lag)} messages behind"
    return checks


def relay_roles(system: System) -> dict[str, str]:
    """Per served service: whether this process's relay leads or stands by (both are fine)."""
    roles = {}
    for plugin in system.plugins:
        if plugin.contracts is None:
            continue
        held = REGISTRY.get_sample_value("ecm_relay_leader", {"service": plugin.name})
        roles[plugin.name] = "leader" if held == 1 else "standby"
    return roles
