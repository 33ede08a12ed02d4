"""Anchors of the hash chains: signed heads appended to a file outside the databases, and
(when configured) to a JetStream stream that refuses deletes and purges.

Each seal appends one line to `<data>/anchors/integrity.jsonl` (opened O_APPEND): for every
store the number of sealed events, the last sealed notification id and the chain's digest
there, signed with an Ed25519 key kept in `<data>/secrets/` (mode 0600). Database credentials
give neither the key nor the file, so deleting events together with their seals, wiping a store
and its chain, or rebuilding a chain no longer matches the latest anchor.

With `ECM_INTEGRITY_ANCHOR_STREAM=true` the same signed line is first published to the
JetStream stream `ECM_ANCHORS` (created with deny_delete and deny_purge: the server refuses to
delete or purge its messages, and refuses to lift either setting), then appended to the file,
whose line records that it was streamed. Verification takes the latest anchor from either
place (the more recent one), so a file cut back on the machine is caught by the stream; a line
that says it was streamed but is missing from the stream (the stream deleted with the admin
credential) is named as an anchor problem.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import fcntl
import json
import os
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.bus import connect
from shared.crypto import load_master_key
from shared.natsauth import ANCHOR_STREAM, ANCHOR_SUBJECT, Identity, identity_for
from shared.settings import Settings

ANCHOR_FILE = "integrity.jsonl"
SIGNING_KEY_FILE = "integrity-anchor.key"
CHAIN_KEY_FILE = "integrity-chain.key"
TAIL_BYTES = 64 * 1024
STREAM_TIMEOUT_SECONDS = 5.0
T = TypeVar("T")


class AnchorSettings(BaseSettings):
    """Where anchors go besides the file (prefix ECM_INTEGRITY_)."""

    model_config = SettingsConfigDict(env_prefix="ECM_INTEGRITY_", extra="ignore")

    anchor_stream: bool = False
    """Also publish every anchor to the JetStream stream ECM_ANCHORS (deny delete and purge)."""


class AnchorError(RuntimeError):
    """The anchor file is unreadable, or a line in it is not signed by the anchor key."""


@dataclass(frozen=True)
class Head:
    """One store's chain head: how many events are sealed, the last id and its digest."""

    count: int
    last_id: int
    digest: str


@dataclass(frozen=True)
class Anchor:
    """One signed line of the anchor file."""

    at: str
    heads: dict[str, Head]
    streamed: bool = False
    """The line says it was published to the anchor stream before it was written here."""


def secrets_folder(settings: Settings) -> Path:
    """Where the integrity keys live (the data folder's secrets, mode 0700)."""
    folder = settings.data_path / "secrets"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def _key_file(path: Path, make: bytes) -> bytes:
    """The 32 bytes kept in `path`, written once (mode 0600) from `make` if absent."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as out:
            out.write(base64.b64encode(make).decode())
            out.flush()
            os.fsync(out.fileno())
    raw = base64.b64decode(path.read_text().strip(), validate=True)
    if len(raw) != 32:
        raise AnchorError(f"{path.name}: must hold 32 bytes in base64")
    return raw


def chain_key(settings: Settings) -> bytes:
    """The HMAC key of the chains, kept in the secrets folder so a master key rotation keeps
    every seal verifiable; first made from the master key as the chains were sealed before."""
    hkdf = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"ecm-record integrity chain v1"
    )
    return _key_file(
        secrets_folder(settings) / CHAIN_KEY_FILE, hkdf.derive(load_master_key(settings.master_key))
    )


def signing_key(settings: Settings) -> Ed25519PrivateKey:
    """The Ed25519 key that signs anchors (made once, kept in the secrets folder)."""
    seed = _key_file(secrets_folder(settings) / SIGNING_KEY_FILE, os.urandom(32))
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_key_text(key: Ed25519PublicKey) -> str:
    """The anchor key's public half in base64 (to keep apart for offline checks)."""
    return base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


class AnchorStream:
    """The anchors in JetStream: a stream the server keeps from deletes and purges."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.identity = identity_for(
            "governance",
            settings.nats_identities_dir,
            Identity(settings.nats_user, settings.nats_password),
        )

    def config(self) -> StreamConfig:
        """File storage, kept for ever; messages can never be deleted or purged."""
        return StreamConfig(
            name=ANCHOR_STREAM,
            subjects=[ANCHOR_SUBJECT],
            storage=StorageType.FILE,
            retention=RetentionPolicy.LIMITS,
            discard=DiscardPolicy.NEW,
            num_replicas=self.settings.stream_replicas,
            deny_delete=True,
            deny_purge=True,
            allow_rollup_hdrs=False,
        )

    def publish(self, line: bytes) -> None:
        """Publish one signed line and wait for the stream's acknowledgement."""

        async def publish(js: JetStreamContext) -> None:
            await self._ensure(js)
            await js.publish(ANCHOR_SUBJECT, line, stream=ANCHOR_STREAM)

        self._run(publish)

    def last(self) -> bytes | None:
        """The last line published (None: the stream is missing or holds none)."""

        async def last(js: JetStreamContext) -> bytes | None:
            try:
                msg = await js.get_last_msg(ANCHOR_STREAM, ANCHOR_SUBJECT)
            except NotFoundError:
                return None
            return bytes(msg.data or b"")

        return self._run(last)

    async def _ensure(self, js: JetStreamContext) -> None:
        """Create the stream if missing; refuse one that would let anchors be removed."""
        try:
            info = await js.stream_info(ANCHOR_STREAM)
        except NotFoundError:
            await js.add_stream(self.config())
            return
        if not (info.config.deny_delete and info.config.deny_purge):
            raise AnchorError(
                f"anchor stream {ANCHOR_STREAM}: allows deleting or purging "
                "anchors; refusing to anchor there"
            )

    def _run(self, work: Callable[[JetStreamContext], Awaitable[T]]) -> T:
        """Run `work` on a short-lived connection (sealing and verifying are synchronous)."""

        async def connected() -> T:
            nc = await connect(
                self.settings,
                name="ecm-governance-anchors",
                reconnect=False,
                identity=self.identity,
            )
            try:
                return await work(nc.jetstream())
            finally:
                await nc.close()

        async def session() -> T:  # nats-py retries a refused first connect: bound it all
            return await asyncio.wait_for(connected(), STREAM_TIMEOUT_SECONDS)

        try:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return asyncio.run(session())
            with concurrent.futures.ThreadPoolExecutor(1) as pool:  # called from a loop
                return pool.submit(asyncio.run, session()).result()
        except AnchorError:
            raise
        except TimeoutError:
            raise AnchorError(
                f"anchor stream {ANCHOR_STREAM}: not reachable (no answer "
                f"within {STREAM_TIMEOUT_SECONDS:g} s)"
            ) from None
        except (NatsError, OSError) as e:
            raise AnchorError(
                f"anchor stream {ANCHOR_STREAM}: not reachable ({type(e).__name__}: {e})"
            ) from None


class AnchorLog:
    """The append-only file of signed chain heads beside the data, and the anchor stream
    where one is configured."""

    def __init__(self, settings: Settings, where: AnchorSettings | None = None) -> None:
        folder = settings.data_path / "anchors"
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = folder / ANCHOR_FILE
        self.key = signing_key(settings)
        self.public = self.key.public_key()
        where = where or AnchorSettings()
        self.stream = AnchorStream(settings) if where.anchor_stream else None

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the anchor file's lock: heads are read and appended by one sealer at a time."""
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def append(self, heads: dict[str, Head]) -> None:
        """Sign the heads; publish them to the stream (if configured), then append the line
        to the file (one write on an O_APPEND descriptor, then fsync)."""
        body: dict[str, Any] = {
            "v": 1,
            "at": datetime.now(UTC).isoformat(),
            "heads": {s: asdict(h) for s, h in sorted(heads.items())},
        }
        if self.stream is not None:
            body["streamed"] = True
        signature = self.key.sign(_canonical(body))
        line = (
            json.dumps({**body, "sig": base64.b64encode(signature).decode()}, sort_keys=True) + "\n"
        )
        if self.stream is not None:  # first: a line in the file that says so was streamed
            self.stream.publish(line.encode())
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def latest(self) -> Anchor | None:
        """The most recent anchor of the file and the stream, signatures checked; None when
        nothing was anchored yet."""
        in_file = self._latest_in_file()
        if self.stream is None:
            return in_file
        raw = self.stream.last()
        in_stream = self._parse(raw, f"stream {ANCHOR_STREAM}", "its last message") if raw else None
        if (
            in_file is not None
            and in_file.streamed
            and (in_stream is None or _moment(in_stream.at) < _moment(in_file.at))
        ):
            raise AnchorError(
                f"stream {ANCHOR_STREAM}: lacks the anchor of {in_file.at} that the file says "
                "was published there (the stream deleted or replaced?)"
            )
        if in_stream is None:
            return in_file
        if in_file is None or _moment(in_stream.at) > _moment(in_file.at):
            return in_stream
        return in_file

    def _latest_in_file(self) -> Anchor | None:
        if not self.path.exists():
            return None
        with self.path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - TAIL_BYTES))
            lines = f.read().splitlines()
        return self._parse(lines[-1], self.path.name, "its last line") if lines else None

    def _parse(self, raw: bytes, source: str, line: str) -> Anchor:
        where = f"{source}, {line}"
        try:
            record: dict[str, Any] = json.loads(raw)
            signature = base64.b64decode(record.pop("sig"), validate=True)
            self.public.verify(signature, _canonical(record))
            heads = {
                s: Head(int(h["count"]), int(h["last_id"]), str(h["digest"]))
                for s, h in record["heads"].items()
            }
            _moment(str(record["at"]))
        except InvalidSignature:
            raise AnchorError(
                f"{where}: not signed by this installation's anchor key (forged or altered)"
            ) from None
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise AnchorError(f"{where}: unreadable ({e})") from None
        return Anchor(
            at=str(record["at"]), heads=heads, streamed=bool(record.get("streamed", False))
        )


def _moment(at: str) -> datetime:
    return datetime.fromisoformat(at)


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
