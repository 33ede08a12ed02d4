"""Helpers for the notifications tests: envelopes as other services publish them, and real
local servers standing in for partners (SMTP, a webhook receiver, GOV.UK Notify)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from uuid import UUID, uuid4

from aiosmtpd.controller import Controller

from services.notifications.application import NotificationsApplication
from services.notifications.consumers import NoticeConsumer
from services.notifications.domain import Channel
from services.notifications.settings import NotifySettings
from shared.consumer import ApplicationSink, Delivery
from shared.contracts import Actor, Envelope
from shared.crypto import FieldCipher
from shared.domain import Meta
from shared.natsserver import free_port
from shared.vocabulary import Agency

STAFF = Meta("sp-1", "senior_practitioner", "corr-setup", "corr-setup")
VENUE = "Room 4, Synthetic House, 1 Example Street"
ONLINE = "https://meet.example.org/ecm-review-xyz"


def envelope(
    service: str,
    event_type: str,
    child_id: UUID,
    data: dict[str, Any],
    notification_id: int,
    aggregate_id: UUID | None = None,
) -> Envelope:
    """A message as the named service's relay would publish it."""
    return Envelope(
        message_id=f"{service}:{notification_id}",
        service=service,
        event_type=event_type,
        event_version=1,
        notification_id=notification_id,
        aggregate_id=aggregate_id or child_id,
        aggregate_version=notification_id,
        child_id=child_id,
        occurred_at=datetime.now(UTC),
        actor=Actor(id="sp-1", role="senior_practitioner"),
        reason=None,
        correlation_id=f"corr-{notification_id}",
        causation_id=f"cause-{notification_id}",
        data=data,
    )


def notice_sink(app: NotificationsApplication) -> ApplicationSink:
    """The notifications consumer's sink, as the running node builds it."""
    return NoticeConsumer(app).sink(app.reads)


def deliver(app: NotificationsApplication, *messages: Envelope) -> int:
    """Commit messages through the notifications consumer's sink, one by one at the next
    stream sequences, as the runner does; returns how many were applied (not seen before)."""
    sink = notice_sink(app)
    seq = sink.position()
    return sum(
        sink.commit([Delivery(seq + n, message)]) for n, message in enumerate(messages, start=1)
    )


def invitees(*contacts: tuple[str, UUID | None]) -> list[dict[str, Any]]:
    """Invitees on the wire: agency and contact id (or none for an agency-only invitation)."""
    return [{"agency": agency, "contact_id": str(c) if c else None} for agency, c in contacts]


def review_scheduled(
    cipher: FieldCipher,
    child_id: UUID,
    contacts: list[dict[str, Any]],
    notification_id: int = 7,
    review_id: UUID | None = None,
    starts_at: str = "2026-09-15T10:00:00+00:00",
    venue: str | None = VENUE,
    online_link: str | None = ONLINE,
) -> Envelope:
    """ReviewScheduled as the reviews service publishes it: venue and link sealed."""
    data = {
        "child_id": str(child_id),
        "review_id": str(review_id or uuid4()),
        "starts_at": starts_at,
        "due_on": starts_at[:10],
        "venue": cipher.seal(child_id, "venue", venue, event="ReviewCase.ReviewScheduled"),
        "online_link": cipher.seal(
            child_id, "online_link", online_link, event="ReviewCase.ReviewScheduled"
        ),
        "invitees": contacts,
    }
    return envelope("reviews", "ReviewScheduled", child_id, data, notification_id)


def register(
    app: NotificationsApplication,
    name: str,
    agency: Agency = Agency.EDUCATION,
    channel: Channel = Channel.EMAIL,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
) -> UUID:
    """A synthetic partner contact in the directory."""
    email = name.lower().replace(" ", ".") + "@partner.example.org"
    return app.register_partner(
        agency=agency,
        name=name,
        email=email,
        webhook_url=webhook_url,
        preferred_channel=channel,
        webhook_secret=webhook_secret,
        meta=STAFF,
    )


def fast_settings(**overrides: Any) -> NotifySettings:
    """Channel settings for tests: quick polling and retries."""
    values: dict[str, Any] = {
        "public_base_url": "https://ecm.example.org",
        "team_contact": "ecm-team@example.org",
        "webhook_secret": "test-webhook-secret-0123456789",
        "poll_seconds": 0.05,
        "backoff_seconds": [0.05],
        "max_attempts": 5,
        "send_timeout_seconds": 5.0,
        "webhook_allowed_networks": ["127.0.0.0/8"],  # the test receivers run on loopback
        "webhook_shared_secret_allowed": True,  # as in dev mode
    }
    values.update(overrides)
    return NotifySettings(**values)


class _Collector:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append(
                (
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    bytes(envelope.original_content or envelope.content),
                )
            )
        return "250 Message accepted for delivery"


@dataclass
class SmtpSink:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives."""

    port: int
    collector: _Collector

    @property
    def emails(self) -> list[Message]:
        """Received emails, parsed."""
        with self.collector.lock:
            return [message_from_bytes(raw) for _, _, raw in self.collector.messages]

    @property
    def texts(self) -> list[str]:
        """The decoded text body of each received email."""
        texts = []
        for email in self.emails:
            (part,) = [p for p in email.walk() if p.get_content_type() == "text/plain"]
            body = part.get_payload(decode=True)
            assert isinstance(body, bytes)
            texts.append(body.decode())
        return texts

    @property
    def raw(self) -> list[bytes]:
        """Received emails as bytes."""
        with self.collector.lock:
            return [raw for _, _, raw in self.collector.messages]


@contextmanager
def smtp_sink() -> Iterator[SmtpSink]:
    """Run an SMTP server for the duration of the block."""
    collector = _Collector()
    port = free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpSink(port, collector)
    finally:
        controller.stop()


@dataclass
class Request:
    """One request a local HTTP server received."""

    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes


Responder = Callable[[Request, int], tuple[int, dict[str, Any]]]


@dataclass
class HttpReceiver:
    """A real HTTP server on 127.0.0.1; `respond(request, n)` decides each answer."""

    port: int
    requests: list[Request] = field(default_factory=list)

    def url(self, path: str = "/") -> str:
        """Where to send requests."""
        return f"http://127.0.0.1:{self.port}{path}"


@contextmanager
def http_receiver(respond: Responder) -> Iterator[HttpReceiver]:
    """Run an HTTP server in a thread for the duration of the block."""
    receiver = HttpReceiver(free_port())
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            request = Request(
                self.path, {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length)
            )
            with lock:
                receiver.requests.append(request)
                number = len(receiver.requests)
            status, answer = respond(request, number)
            body = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", receiver.port), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
