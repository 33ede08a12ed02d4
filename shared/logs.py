"""Structured logs: JSON lines in production, readable lines in development.

Every record carries the correlation id of the request or message being handled (a context
variable, so it follows the request through `await` and into worker threads started with
`asyncio.to_thread`). Log messages name ids and outcomes, never personal data.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime

correlation_id: ContextVar[str] = ContextVar("ecm_correlation_id", default="-")
_UNSAFE = re.compile(r"[^A-Za-z0-9._:@/+=-]")


def safe_id(value: str) -> str:
    """An id fit for a log line: at most 100 characters, nothing that could forge a line."""
    return _UNSAFE.sub("_", value[:100]) or "-"


@contextlib.contextmanager
def correlation(value: str) -> Iterator[str]:
    """Log with `value` as the correlation id inside the block (e.g. around one message)."""
    token = correlation_id.set(safe_id(value))
    try:
        yield correlation_id.get()
    finally:
        correlation_id.reset(token)


class CorrelationFilter(logging.Filter):
    """Adds `correlation_id` to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = correlation_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, correlation id, extras."""

    EXTRAS = ("method", "route", "path", "status", "duration_ms", "service", "consumer")

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "correlation_id": getattr(record, "correlation_id", "-"),
        }
        for name in self.EXTRAS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(correlation_id)s] %(message)s"


def configure_logging(*, json_lines: bool, level: str | int = logging.INFO) -> None:
    """Send every logger's records to stderr in the chosen format (replaces earlier setup)."""
    handler = logging.StreamHandler()
    handler.addFilter(CorrelationFilter())
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Our own access log replaces uvicorn's, which prints query strings.
    logging.getLogger("uvicorn.access").disabled = True
    # httpx logs every outbound URL at INFO (webhook and JWKS URLs, query strings included).
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
