"""Run a real node (relays + consumers, optionally the API) against a real nats-server."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from services.runtime import System, run_node
from shared.contracts import Envelope
from shared.natsserver import EmbeddedNats
from shared.settings import Settings
from shared.signing import KeyRing


def with_nats(settings: Settings, nats: EmbeddedNats) -> Settings:
    """The settings pointed at `nats` with its credentials."""
    return settings.model_copy(
        update={
            "nats_url": nats.url,
            "nats_user": nats.user,
            "nats_password": nats.password,
            "relay_poll_seconds": 0.05,
            "consumer_backoff_seconds": [0.1, 0.2, 0.3],
        }
    )


@asynccontextmanager
async def running_node(
    settings: Settings,
    nats: EmbeddedNats,
    services: list[str] | None = None,
    *,
    system: System | None = None,
    run_relays: bool = True,
    run_consumers: bool = True,
) -> AsyncIterator[System]:
    """A System whose relays and consumers run in this event loop until the block ends."""
    settings = with_nats(settings, nats)
    own = system is None
    system = system or System.build(settings, services)
    system.settings = settings
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(
        run_node(
            system,
            nats_url=nats.url,
            serve_api=False,
            run_relays=run_relays,
            run_consumers=run_consumers,
            stop=stop,
            ready=ready,
        )
    )
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        waiter.cancel()
        task.result()
    try:
        yield system
    finally:
        stop.set()
        await task
        if own:
            system.close()


async def eventually(
    check: Callable[[], Any],
    timeout: float = 15.0,  # noqa: ASYNC109
    interval: float = 0.05,
) -> Any:
    """Poll `check` (sync or async) until it returns a truthy value; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")


async def in_thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a synchronous (eventsourcing) function without blocking the loop."""
    return await asyncio.to_thread(fn, *args, **kwargs)


__all__ = ["Awaitable", "eventually", "in_thread", "publish_signed", "running_node", "with_nats"]


async def publish_signed(
    js: Any,
    keys: KeyRing,
    envelope: Envelope,
    *,
    msg_id: str | None = None,
    body: bytes | None = None,
) -> Any:
    """Publish an envelope as its service's relay would: signed with the service's key."""
    body = body if body is not None else envelope.model_dump_json().encode()
    headers = keys.headers(envelope.service, body)
    if msg_id != "":
        headers["Nats-Msg-Id"] = msg_id or envelope.message_id
    return await js.publish(envelope.subject, body, stream="ECM", headers=headers)
