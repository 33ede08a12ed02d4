"""Idempotency keys: a POST sent twice with the same `Idempotency-Key` takes effect once.

Per principal, a key is reserved before the request runs and, once it succeeds, keeps the
response for `ttl` seconds: the same key with the same request replays it; the same key with
another request is a 422; a key whose first request is still running is a 409. A request that
fails (any non-2xx) releases its key, so the client may correct it and send it again. Keys
are stored durably beside the other operational state (SQLite file or PostgreSQL schema).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import migrations
from shared.auth import AuthenticationFailed, Authenticator

log = logging.getLogger("ecm.idempotency")
HEADER = "Idempotency-Key"
KEY = re.compile(r"[\x21-\x7e]{1,200}")
KEY_RULE = "must be 1 to 200 printable ASCII characters without spaces"
MAX_STORED_RESPONSE = 64 * 1024
METHODS = frozenset({"POST"})

metadata = MetaData()
keys = Table(
    "idempotency_keys",
    metadata,
    Column("principal", String(200), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("status", Integer, nullable=True),  # null while the first request runs
    Column("content_type", String(200), nullable=True),
    Column("body", LargeBinary, nullable=True),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
)


@dataclass(frozen=True)
class Stored:
    """What the key holds: the request's fingerprint and, once done, its response."""

    fingerprint: str
    status: int | None
    content_type: str | None
    body: bytes | None


class KeyStore:
    """Idempotency keys in one table: reserve, complete, release, look up."""

    def __init__(self, engine: Engine | Callable[[], Engine], ttl: timedelta) -> None:
        self._engine = engine
        self._ready: Engine | None = None
        self._lock = threading.Lock()
        self.ttl = ttl

    @property
    def engine(self) -> Engine:
        """The store's engine, opened (and its schema checked) on first use: an API that never
        sees a key holds no connection for it."""
        if self._ready is None:
            with self._lock:
                if self._ready is None:
                    engine = self._engine if isinstance(self._engine, Engine) else self._engine()
                    migrations.ensure(engine, "idempotency")  # once; `ecm up` ran it
                    self._ready = engine
        return self._ready

    def reserve(self, principal: str, key: str, fingerprint: str) -> Stored | None:
        """Take the key for a new request (None), or what it already holds."""
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            conn.execute(delete(keys).where(keys.c.expires_at < now))
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(keys).values(
                        principal=principal,
                        key=key,
                        fingerprint=fingerprint,
                        expires_at=now + self.ttl,
                    )
                )
            return None
        except IntegrityError:
            with self.engine.begin() as conn:
                row = conn.execute(
                    select(keys).where(keys.c.principal == principal, keys.c.key == key)
                ).first()
            if row is None:  # expired and purged meanwhile: try once more
                return self.reserve(principal, key, fingerprint)
            return Stored(row.fingerprint, row.status, row.content_type, row.body)

    def complete(
        self, principal: str, key: str, status: int, content_type: str | None, body: bytes
    ) -> None:
        """Keep the first response for replays."""
        with self.engine.begin() as conn:
            conn.execute(
                update(keys)
                .where(keys.c.principal == principal, keys.c.key == key)
                .values(status=status, content_type=content_type, body=body)
            )

    def release(self, principal: str, key: str) -> None:
        """Free the key: the request did not succeed."""
        with self.engine.begin() as conn:
            conn.execute(delete(keys).where(keys.c.principal == principal, keys.c.key == key))


def _problem(status: int, title: str, detail: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    body = json.dumps(
        {"type": "about:blank", "title": title, "status": status, "detail": detail, "field": HEADER}
    ).encode()
    return [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
    ], body


async def _answer(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Idempotency:
    """ASGI middleware applying idempotency keys to POST requests that carry one."""

    def __init__(self, app: ASGIApp, store: KeyStore, authenticator: Authenticator) -> None:
        self.app = app
        self.store = store
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in METHODS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        key = headers.get(HEADER)
        if key is None:
            await self.app(scope, receive, send)
            return
        if not KEY.fullmatch(key):
            await _answer(
                send, 422, *_problem(422, "Unprocessable Content", f"{HEADER}: {KEY_RULE}")
            )
            return
        try:
            principal = self.authenticator.authenticate(headers.get("authorization"))
        except AuthenticationFailed:
            await self.app(scope, receive, send)  # the route answers 401 as usual
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        digest = hashlib.sha256()
        for part in (
            scope["method"].encode(),
            scope["path"].encode(),
            scope.get("query_string", b""),
            body,
        ):
            digest.update(len(part).to_bytes(8, "big") + part)
        fingerprint = digest.hexdigest()
        who = principal.user_id
        stored = await asyncio.to_thread(self.store.reserve, who, key, fingerprint)
        if stored is not None:
            await self._repeat(stored, fingerprint, send)
            return
        await self._first(scope, body, send, who, key)

    async def _repeat(self, stored: Stored, fingerprint: str, send: Send) -> None:
        if stored.fingerprint != fingerprint:
            await _answer(
                send,
                422,
                *_problem(
                    422,
                    "Unprocessable Content",
                    f"{HEADER}: was already used for a different request",
                ),
            )
        elif stored.status is None:
            await _answer(
                send,
                409,
                *_problem(
                    409, "Conflict", f"{HEADER}: the first request with this key is still running"
                ),
            )
        else:
            body = stored.body or b""
            await _answer(
                send,
                stored.status,
                [
                    (b"content-type", (stored.content_type or "application/json").encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"idempotent-replayed", b"true"),
                ],
                body,
            )

    async def _first(self, scope: Scope, body: bytes, send: Send, who: str, key: str) -> None:
        sent = False

        async def replay_body() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        status = 0
        content_type: str | None = None
        response: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal status, content_type
            if message["type"] == "http.response.start":
                status = int(message["status"])
                content_type = Headers(raw=message.get("headers", [])).get("content-type")
            elif message["type"] == "http.response.body":
                response.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, replay_body, capture)
        finally:
            whole = b"".join(response)
            if 200 <= status < 300 and len(whole) <= MAX_STORED_RESPONSE:
                await asyncio.to_thread(self.store.complete, who, key, status, content_type, whole)
            else:
                await asyncio.to_thread(self.store.release, who, key)
