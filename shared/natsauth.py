"""Per-service NATS identities: each service may publish only on its own subjects and consume
only through its own durable consumers; operators get a read-only identity.

The rights are written into the nats-server configuration (`permissions` per user). The
embedded default generates a password per identity under `<data>/secrets/nats/` (mode 0600);
a process finds them through `ECM_NATS_IDENTITIES_DIR`. Without that folder every part of a
process connects as `ECM_NATS_USER` (one service per process in a scale-out).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.contracts import STREAM, SUBJECT_PREFIX

OPERATOR = "ecm-operator"
ANCHOR_STREAM = "ECM_ANCHORS"
"""Where governance anchors the signed chain heads when configured (deny delete and purge)."""
ANCHOR_SUBJECT = "ecm-anchors.integrity"


def service_user(service: str) -> str:
    """The NATS user a service connects as."""
    return f"ecm-{service}"


@dataclass(frozen=True)
class Identity:
    """A NATS user and password."""

    user: str | None
    password: str | None


def service_permissions(service: str, publishes: bool, consumers: Iterable[str]) -> dict[str, Any]:
    """What a service may do: publish its own subjects, use its own durable consumers."""
    api = "$JS.API"
    # STREAM.CREATE: the first process of a fresh cluster creates the stream (not UPDATE: only
    # the admin identity changes an existing stream's configuration).
    allow = [
        f"{api}.INFO",
        f"{api}.STREAM.INFO.{STREAM}",
        f"{api}.STREAM.MSG.GET.{STREAM}",
        f"{api}.STREAM.CREATE.{STREAM}",
    ]
    if publishes:
        allow.append(f"{SUBJECT_PREFIX}.{service}.>")
    if service == "governance":  # the anchor stream: create, read and append; never remove
        allow += [
            f"{api}.STREAM.INFO.{ANCHOR_STREAM}",
            f"{api}.STREAM.CREATE.{ANCHOR_STREAM}",
            f"{api}.STREAM.MSG.GET.{ANCHOR_STREAM}",
            ANCHOR_SUBJECT,
        ]
    for name in consumers:
        allow += [
            f"{api}.CONSUMER.CREATE.{STREAM}.{name}",
            f"{api}.CONSUMER.CREATE.{STREAM}.{name}.>",
            f"{api}.CONSUMER.DURABLE.CREATE.{STREAM}.{name}",
            f"{api}.CONSUMER.DELETE.{STREAM}.{name}",
            f"{api}.CONSUMER.INFO.{STREAM}.{name}",
            f"{api}.CONSUMER.MSG.NEXT.{STREAM}.{name}",
            f"$JS.ACK.{STREAM}.{name}.>",
        ]
    return {"publish": {"allow": allow}, "subscribe": {"allow": ["_INBOX.>"]}}


def operator_permissions() -> dict[str, Any]:
    """Read-only: stream and consumer state, single messages; no publishing, no consuming."""
    api = "$JS.API"
    allow = [
        f"{api}.INFO",
        f"{api}.STREAM.INFO.{STREAM}",
        f"{api}.STREAM.MSG.GET.{STREAM}",
        f"{api}.CONSUMER.INFO.>",
        f"{api}.CONSUMER.LIST.{STREAM}",
        f"{api}.CONSUMER.NAMES.{STREAM}",
    ]
    return {"publish": {"allow": allow}, "subscribe": {"allow": ["_INBOX.>"]}}


def ensure_passwords(folder: Path, users: Iterable[str]) -> dict[str, str]:
    """Each user's password, generated (mode 0600) where missing."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    passwords = {}
    for user in users:
        path = folder / user
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(24))
        passwords[user] = path.read_text().strip()
    return passwords


def identity_for(service: str, folder: Path | None, fallback: Identity) -> Identity:
    """The identity `service` connects as: its own where the folder has it."""
    if folder is not None:
        path = folder / service_user(service)
        if path.exists():
            return Identity(service_user(service), path.read_text().strip())
    return fallback


def authorization(users: dict[str, tuple[str, dict[str, Any] | None]]) -> list[str]:
    """The `authorization` block of nats.conf: user -> (password, permissions or None = all)."""
    entries = []
    for user, (password, rights) in users.items():
        entry: dict[str, Any] = {"user": user, "password": password}
        if rights is not None:
            entry["permissions"] = rights
        entries.append(entry)
    return ["authorization {", f"  users: {json.dumps(entries)}", "}"]


def embedded_users(
    admin: Identity, folder: Path, services: dict[str, tuple[bool, list[str]]]
) -> dict[str, tuple[str, dict[str, Any] | None]]:
    """Every identity of an embedded server: the admin (all rights: it manages the stream),
    one per service (publishes?, its consumers), and the read-only operator."""
    names = [service_user(s) for s in services] + [OPERATOR]
    passwords = ensure_passwords(folder, names)
    users: dict[str, tuple[str, dict[str, Any] | None]] = {
        str(admin.user): (str(admin.password), None)
    }
    for service, (publishes, consumers) in services.items():
        users[service_user(service)] = (
            passwords[service_user(service)],
            service_permissions(service, publishes, consumers),
        )
    users[OPERATOR] = (passwords[OPERATOR], operator_permissions())
    return users


def password_variable(user: str) -> str:
    """The environment variable a cluster node reads a user's password from."""
    return "ECM_NATS_PASSWORD_" + user.removeprefix("ecm-").upper().replace("-", "_")


def cluster_users(services: dict[str, tuple[bool, list[str]]]) -> str:
    """deploy/nats/users.conf: the admin from ECM_NATS_USER / ECM_NATS_PASSWORD, one user per
    service and the operator, each password from its own environment variable."""
    entries = ["    {user: $ECM_NATS_USER, password: $ECM_NATS_PASSWORD}"]
    rights: list[tuple[str, dict[str, Any]]] = [
        (service_user(s), service_permissions(s, publishes, consumers))
        for s, (publishes, consumers) in services.items()
    ]
    rights.append((OPERATOR, operator_permissions()))
    for user, permissions in rights:
        entries.append(
            f"    {{user: {user}, password: ${password_variable(user)}, "
            f"permissions: {json.dumps(permissions)}}}"
        )
    return (
        "# Generated by `ecm nats-users` from shared/natsauth.py: who may publish and consume"
        " what.\nauthorization {\n  users: [\n" + ",\n".join(entries) + "\n  ]\n}\n"
    )
