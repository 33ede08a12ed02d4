"""Versioned wire contracts: domain events are mapped to these in one place per service."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, StringConstraints

from shared.crypto import event_name
from shared.domain import NOT_PERSONAL as NOT_PERSONAL
from shared.domain import Meta
from shared.domain import NotPersonal as NotPersonal
from shared.store import child_of

STREAM = "ECM"
SUBJECT_PREFIX = "ecm"

Sealed = Annotated[str, StringConstraints(pattern=r"^ecm[12]:[A-Za-z0-9+/=]+$")]
"""A personal value sealed under the child's key (bound to the child, event and field since
format ecm2); unreadable once the key is erased."""


# `NotPersonal` is the one marker for events and contracts (shared.domain): a contract's text
# field must be `Sealed` or `NotPersonal`, and a test walks every contract to fail on any other.


class Actor(BaseModel):
    """Who made the change."""

    id: str
    role: str


class Envelope(BaseModel):
    """What every message on the ECM stream looks like; `data` follows the event's contract."""

    model_config = ConfigDict(frozen=True)

    message_id: str
    service: str
    event_type: str
    event_version: int
    notification_id: int
    aggregate_id: UUID
    aggregate_version: int
    child_id: UUID | None
    occurred_at: datetime
    actor: Actor
    reason: str | None
    correlation_id: str
    causation_id: str
    data: dict[str, Any]

    @property
    def subject(self) -> str:
        """The subject the message is published on."""
        return subject_for(self.service, self.event_type)


def caused_by(envelope: Envelope, *, acting_service: str | None = None) -> Meta:
    """Metadata for a change a message caused, in its conversation, with its reason: the
    message's actor, or `acting_service` (role "system") when the service acts on its own
    account (the one builder of metadata from a message)."""
    actor_id, role = (
        (acting_service, "system")
        if acting_service is not None
        else (envelope.actor.id, envelope.actor.role)
    )
    return Meta(
        actor_id=actor_id,
        actor_role=role,
        correlation_id=envelope.correlation_id,
        causation_id=envelope.message_id,
        reason=envelope.reason,
    )


def subject_for(service: str, event_type: str) -> str:
    """`ecm.<service>.<event>`."""
    return f"{SUBJECT_PREFIX}.{service}.{event_type}"


class Contract(BaseModel):
    """Base of each event's data contract (version 1 unless `version` says otherwise)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def event_class(aggregate: type[Any], name: str) -> type[Any]:
    """The event class `name` declared on `aggregate` (by eventsourcing's @event decorator)."""
    cls = aggregate.__dict__.get(name)
    if not isinstance(cls, type):
        raise AttributeError(f"{aggregate.__name__} has no event class {name}")
    return cls


@dataclass(frozen=True)
class Mapping:
    """How one domain event class becomes one wire contract."""

    event_cls: type[Any]
    event_type: str
    model: type[Contract]
    version: int = 1
    extra: Callable[[Any], dict[str, Any]] | None = None


class ContractRegistry:
    """The one place a service's domain events are mapped to wire contracts."""

    def __init__(self, service: str, mappings: Iterable[Mapping]) -> None:
        self.service = service
        self.by_event = {m.event_cls: m for m in mappings}
        self.by_type = {m.event_type: m for m in self.by_event.values()}

    def to_envelope(self, event: Any, notification_id: int) -> Envelope | None:
        """Map a (sealed) domain event; None for events that are not published."""
        mapping = self.by_event.get(type(event))
        if mapping is None:
            return None
        state = vars(event)
        values = {name: state[name] for name in mapping.model.model_fields if name in state}
        if mapping.extra:
            values.update(mapping.extra(event))
        data = mapping.model.model_validate(values).model_dump(mode="json")
        meta: Meta = state["meta"]
        child_id = child_of(type(event), state, event.originator_id)
        return Envelope(
            message_id=f"{self.service}:{notification_id}",
            service=self.service,
            event_type=mapping.event_type,
            event_version=mapping.version,
            notification_id=notification_id,
            aggregate_id=event.originator_id,
            aggregate_version=event.originator_version,
            child_id=child_id,
            occurred_at=event.timestamp,
            actor=Actor(id=meta.actor_id, role=meta.actor_role),
            reason=meta.reason,
            correlation_id=meta.correlation_id,
            causation_id=meta.causation_id,
            data=data,
        )

    def sealed_event(self, event_type: str) -> str:
        """The event name the sealed values of `event_type` are bound to (see FieldCipher)."""
        return event_name(self.by_type[event_type].event_cls)

    def parse(self, envelope: Envelope) -> Contract:
        """The typed data of a received envelope."""
        return self.by_type[envelope.event_type].model.model_validate(envelope.data)


def asyncapi(
    registries: Iterable[ContractRegistry], title: str = "ECM Record events"
) -> dict[str, Any]:
    """An AsyncAPI 3.0 document for every published event."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    schemas: dict[str, Any] = {"Envelope": Envelope.model_json_schema()}
    for registry in registries:
        for mapping in registry.by_type.values():
            name = f"{registry.service}.{mapping.event_type}"
            schema_name = f"{mapping.model.__name__}"
            schemas[schema_name] = mapping.model.model_json_schema()
            channels[name] = {
                "address": subject_for(registry.service, mapping.event_type),
                "messages": {
                    mapping.event_type: {
                        "name": mapping.event_type,
                        "title": f"{mapping.event_type} v{mapping.version}",
                        "summary": (mapping.model.__doc__ or "").strip(),
                        "headers": {
                            "type": "object",
                            "properties": {"Nats-Msg-Id": {"type": "string"}},
                        },
                        "payload": {
                            "allOf": [
                                {"$ref": "#/components/schemas/Envelope"},
                                {
                                    "type": "object",
                                    "properties": {
                                        "data": {"$ref": f"#/components/schemas/{schema_name}"}
                                    },
                                },
                            ]
                        },
                    }
                },
            }
            operations[f"publish.{name}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{name}"},
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": title,
            "version": "1.0.0",
            "description": "Events published by ECM Record services on the JetStream stream "
            f"{STREAM}. Personal fields are sealed per child and bound to the child, the event "
            "and the field (ecm2: prefix; older ecm1: values are bound to the child only).",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas},
    }


def json_default(value: Any) -> Any:
    """JSON encoding for dates in free-form payloads."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__}")
