"""Prometheus metrics of one process, with names documented in README.md (Observability).

The relay, consumer and notification code set these; this module only defines them, so the
names stay in one place. Defining a metric does no I/O.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

REQUEST_SECONDS = Histogram(
    "ecm_http_request_duration_seconds",
    "HTTP request latency by method, route template and status.",
    ["method", "route", "status"],
)
NATS_CONNECTED = Gauge("ecm_nats_connected", "1 while this process is connected to NATS, else 0.")
RELAY_LAG = Gauge(
    "ecm_relay_lag_events", "Events stored but not yet published, per service.", ["service"]
)
RELAY_PUBLISHED = Counter(
    "ecm_relay_published_events",
    "Events the relay published and JetStream acknowledged.",
    ["service"],
)
RELAY_LEADER = Gauge(
    "ecm_relay_leader",
    "1 if this process's relay holds the service's leader lock, else 0.",
    ["service"],
)
CONSUMER_LAG = Gauge(
    "ecm_consumer_lag_messages",
    "Messages on the stream not yet applied, per consumer.",
    ["consumer"],
)
CONSUMER_PARKED = Gauge(
    "ecm_consumer_parked_messages",
    "Messages a consumer parked, waiting for an operator.",
    ["consumer"],
)
NOTICE_DELIVERIES = Counter(
    "ecm_notice_deliveries",
    "Notice delivery attempts by channel and outcome.",
    ["channel", "outcome"],
)
ERASURES = Counter("ecm_erasures", "Children erased (keys destroyed) by this process.")


def exposition() -> tuple[bytes, str]:
    """The text exposition of every metric and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST
