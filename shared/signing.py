"""Only a service speaks for itself: each relay signs its envelopes with its service's Ed25519
key, and every consumer verifies the signature, the signer, the subject and the envelope's
service before it acts.

Keys live in one folder (`ECM_SIGNING_KEYS_DIR`, default `<data>/secrets/signing`): a process
holds the private key (`<service>.key`, mode 0600) of each service it relays for and the public
keys (`<service>.pub`, more than one per service while a key is rotated: `<service>.<n>.pub`)
of every service it listens to. Dev mode generates missing pairs.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)

from shared.contracts import Envelope, subject_for

SIGNATURE_HEADER = "Ecm-Signature"  # "<key id>:<base64 Ed25519 signature over the body>"
SIGNER_HEADER = "Ecm-Signer"


class Unauthentic(Exception):
    """A message that does not prove it comes from the service it claims to speak for."""


def key_id(public: Ed25519PublicKey) -> str:
    """A short, stable name of a public key (the first 8 bytes of its SHA-256)."""
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass
class KeyRing:
    """The private keys this process signs with and the public keys it trusts, per service."""

    private: dict[str, Ed25519PrivateKey] = field(default_factory=dict)
    public: dict[str, dict[str, Ed25519PublicKey]] = field(default_factory=dict)

    @classmethod
    def load(cls, folder: Path, services: list[str], *, generate: bool) -> KeyRing:
        """Read the folder; with `generate` (dev mode), create the pairs that are missing."""
        ring = cls()
        if generate:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            for service in services:
                if not (folder / f"{service}.key").exists():
                    _write_pair(folder, service)
        if not folder.exists():
            return ring
        for path in sorted(folder.glob("*.key")):
            key = load_pem_private_key(path.read_bytes(), password=None)
            if isinstance(key, Ed25519PrivateKey):
                ring.private[path.stem] = key
        for path in sorted(folder.glob("*.pub")):
            public = load_pem_public_key(path.read_bytes())
            if isinstance(public, Ed25519PublicKey):
                ring.public.setdefault(path.name.split(".")[0], {})[key_id(public)] = public
        return ring

    def headers(self, service: str, body: bytes) -> dict[str, str]:
        """The signature headers for a message `service` publishes."""
        try:
            key = self.private[service]
        except KeyError:
            raise Unauthentic(f"no signing key for {service}: cannot publish for it") from None
        signature = base64.b64encode(key.sign(body)).decode()
        return {SIGNER_HEADER: service, SIGNATURE_HEADER: f"{key_id(key.public_key())}:{signature}"}

    def verify(
        self, subject: str, headers: dict[str, str] | None, body: bytes, envelope: Envelope
    ) -> None:
        """Raise Unauthentic unless the signer's key signed the body and the subject, the
        signer and the envelope all name the same service and event."""
        headers = headers or {}
        signer = headers.get(SIGNER_HEADER)
        if signer is None or SIGNATURE_HEADER not in headers:
            raise Unauthentic("unsigned message")
        if signer != envelope.service:
            raise Unauthentic(f"signed by {signer} but speaks for {envelope.service}")
        if subject != subject_for(envelope.service, envelope.event_type):
            raise Unauthentic(
                f"subject {subject} is not the envelope's "
                f"{subject_for(envelope.service, envelope.event_type)}"
            )
        if envelope.message_id != f"{envelope.service}:{envelope.notification_id}":
            raise Unauthentic(f"message id {envelope.message_id} does not match the envelope")
        kid, _, signature = headers[SIGNATURE_HEADER].partition(":")
        public = self.public.get(signer, {}).get(kid)
        if public is None:
            raise Unauthentic(f"no trusted key {kid!r} for {signer}")
        try:
            public.verify(base64.b64decode(signature, validate=True), body)
        except (InvalidSignature, ValueError):
            raise Unauthentic(f"bad signature for {signer}") from None


def _write_pair(folder: Path, service: str) -> None:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    path = folder / f"{service}.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(private)
    public = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    (folder / f"{service}.pub").write_bytes(public)


def make_service_folders(folder: Path, publishers: list[str], listeners: list[str]) -> list[str]:
    """One folder per service: its own private key (publishers only) and every public key."""
    pairs = folder / ".pairs"
    pairs.mkdir(parents=True, exist_ok=True, mode=0o700)
    for service in publishers:
        if not (pairs / f"{service}.key").exists():
            _write_pair(pairs, service)
    for service in [*publishers, *listeners]:
        own = folder / service
        own.mkdir(parents=True, exist_ok=True, mode=0o700)
        for publisher in publishers:
            (own / f"{publisher}.pub").write_bytes((pairs / f"{publisher}.pub").read_bytes())
        if service in publishers and not (own / f"{service}.key").exists():
            fd = os.open(own / f"{service}.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write((pairs / f"{service}.key").read_bytes())
    return [*publishers, *listeners]
