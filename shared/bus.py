"""NATS connection and the ECM JetStream stream."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import nats
from nats.aio.client import Client
from nats.errors import Error
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError, ServiceUnavailableError

from shared.contracts import STREAM, SUBJECT_PREFIX
from shared.natsauth import Identity
from shared.settings import Settings, nats_servers

DUPLICATE_WINDOW = timedelta(minutes=2)
log = logging.getLogger(__name__)


async def _log_error(error: Exception) -> None:
    log.warning("nats: %s: %s", type(error).__name__, error)


async def connect(
    settings: Settings,
    url: str | None = None,
    name: str = "ecm",
    *,
    reconnect: bool = True,
    identity: Identity | None = None,
) -> Client:
    """Connect to NATS as `identity` (the configured user by default); errors logged in one
    line. `url` (or ECM_NATS_URL) may list several servers separated by commas: a cluster.
    """
    identity = identity or Identity(settings.nats_user, settings.nats_password)
    return await nats.connect(
        servers=nats_servers(settings, url),
        user=identity.user,
        password=identity.password,
        name=name,
        allow_reconnect=reconnect,
        max_reconnect_attempts=-1 if reconnect else 0,
        reconnect_time_wait=0.5,
        connect_timeout=5,
        error_cb=_log_error,
    )


def stream_config(settings: Settings) -> StreamConfig:
    """The ECM stream: file storage, kept indefinitely, 2-minute dedup window."""
    return StreamConfig(
        name=STREAM,
        subjects=[f"{SUBJECT_PREFIX}.>"],
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.OLD,
        num_replicas=settings.stream_replicas,
        duplicate_window=DUPLICATE_WINDOW.total_seconds(),
        allow_atomic=True,  # the relay publishes each window as one atomic batch (ADR-50)
    )


async def ensure_stream(js: JetStreamContext, settings: Settings, patience: float = 60.0) -> None:
    """Create the ECM stream if it does not exist, or bring its config up to date.

    A cluster that is still electing leaders (or a busy one placing 3 replicas) can take longer
    than one request's timeout: keep asking for up to `patience` seconds.
    """
    config = stream_config(settings)
    deadline = asyncio.get_running_loop().time() + patience
    while True:
        try:
            try:
                await js.stream_info(STREAM)
            except NotFoundError:
                await js.add_stream(config)
                return
            try:
                await js.update_stream(config)
            except (nats.errors.TimeoutError, ServiceUnavailableError):
                raise
            except Error as error:  # a service identity may not manage the stream; it exists
                log.info("stream %s left as it is: %s", STREAM, error)
            return
        except (nats.errors.TimeoutError, ServiceUnavailableError) as e:
            if asyncio.get_running_loop().time() > deadline:
                raise
            log.warning("JetStream not answering yet (%s); asking again", type(e).__name__)
            await asyncio.sleep(1)


async def count_messages(js: JetStreamContext, subject_filter: str) -> int:
    """How many messages the stream holds on subjects matching `subject_filter`."""
    info = await js.stream_info(STREAM, subjects_filter=subject_filter)
    return sum((info.state.subjects or {}).values())
