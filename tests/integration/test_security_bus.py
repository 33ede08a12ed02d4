"""NATS: nothing connects without credentials, and no message carries plaintext personal data."""

from __future__ import annotations

import json
import stat
import subprocess
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

import nats
import pytest
from nats.errors import Error as NatsError

from services.referrals.application import ReferralsApplication
from services.referrals.domain import Consent
from services.registry import all_plugins
from shared.bus import connect
from shared.contracts import STREAM
from shared.crypto import is_sealed
from shared.domain import Area, Meta
from shared.natsserver import EmbeddedNats
from shared.settings import Settings, development_settings
from tests.harness import eventually, in_thread, running_node

META = Meta("cm-1", "case_manager", "corr-bus", "corr-bus")
ACCEPT = Meta("psy-1", "psychologist", "corr-bus", "corr-bus")
VALUES = {
    "given_name": "Thessaly-Brindlewood",
    "family_name": "Copperwhistle-Synthetic",
    "nhs_number": "4010232137",
    "upn": "C938411710004",
}
REASON = "Fennimore-Reason-Marker"
TRAUMA = "Larkspurrow-Trauma-Marker"
GIVEN_BY = "Grandma-Wolstenholme"
DISTINCTIVE = [
    "Thessaly",
    "Brindlewood",
    "Copperwhistle",
    "4010232137",
    "C938411710004",
    "2008-11-23",
    "Fennimore",
    "Larkspurrow",
    "Wolstenholme",
]


async def test_an_unauthenticated_connection_is_refused(nats_server: EmbeddedNats) -> None:
    with pytest.raises((NatsError, OSError)):
        await nats.connect(
            nats_server.url, allow_reconnect=False, connect_timeout=2, max_reconnect_attempts=0
        )


async def test_a_wrong_password_is_refused(nats_server: EmbeddedNats) -> None:
    with pytest.raises((NatsError, OSError)):
        await nats.connect(
            nats_server.url,
            user=nats_server.user,
            password="not-the-password",
            allow_reconnect=False,
            connect_timeout=2,
            max_reconnect_attempts=0,
        )


async def test_the_right_credentials_connect(nats_server: EmbeddedNats) -> None:
    nc = await nats.connect(
        nats_server.url, user=nats_server.user, password=nats_server.password, allow_reconnect=False
    )
    assert nc.is_connected
    await nc.close()


def test_dev_credentials_are_generated_into_the_data_folder_readable_by_the_owner_only(
    tmp_path: Path,
) -> None:
    settings = development_settings(tmp_path / "var")
    folder = settings.data_path / "secrets"
    for name in ("secret_key", "master_key", "nats_password"):
        mode = stat.S_IMODE((folder / name).stat().st_mode)
        assert mode == 0o600, name
    assert settings.nats_password and len(settings.nats_password) >= 24
    again = development_settings(tmp_path / "var")
    assert again.nats_password == settings.nats_password  # kept, not regenerated
    server = EmbeddedNats(
        tmp_path / "nats", user=settings.nats_user, password=settings.nats_password
    )
    conf = server.write_config()
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600
    assert "authorization" in conf.read_text()


def test_no_secret_is_tracked_by_the_repository() -> None:
    root = Path(__file__).resolve().parents[2]
    try:
        tracked = subprocess.run(
            ["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    suspicious = [
        p
        for p in tracked
        if p.startswith("var/")
        or "/secrets/" in p
        or p.endswith((".pem", ".key"))
        or Path(p).name in ("secret_key", "master_key", "nats_password")
    ]
    assert suspicious == []
    assert "var/" in (root / ".gitignore").read_text().split()


async def all_messages(settings: Settings, nats_server: EmbeddedNats) -> list[dict[str, Any]]:
    nc = await connect(settings, nats_server.url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(STREAM)
        found: list[dict[str, Any]] = []
        if not info.state.messages:
            return found
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(STREAM, seq)
            assert msg.data is not None
            found.append(json.loads(msg.data))
        return found
    finally:
        await nc.close()


def sealed_in(value: Any, path: str = "") -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [(path.lstrip("."), value)] if is_sealed(value) else []
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in sealed_in(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [s for v in value for s in sealed_in(v, path)]
    return []


async def test_bus_messages_carry_no_plaintext_personal_data_after_a_full_referral_path(
    settings: Settings,
    nats_server: EmbeddedNats,
) -> None:
    async with running_node(settings, nats_server) as system:
        app = system.app(ReferralsApplication)
        child_id: UUID = await in_thread(
            app.register_child,
            given_name=VALUES["given_name"],
            family_name=VALUES["family_name"],
            date_of_birth=date(2008, 11, 23),
            area=Area.SOUTH_GLOUCESTERSHIRE,
            nhs_number=VALUES["nhs_number"],
            upn=VALUES["upn"],
            meta=META,
        )
        referral_id = await in_thread(
            app.refer,
            child_id=child_id,
            case_manager_id="cm-1",
            reason=REASON,
            trauma_history=TRAUMA,
            expected_involvement_months=12,
            meta=META,
        )
        await in_thread(app.record_consent, referral_id, Consent.GIVEN, GIVEN_BY, META)
        await in_thread(app.accept, referral_id, ACCEPT)
        await in_thread(
            app.correct_referral,
            referral_id,
            "reason",
            REASON + " (corrected)",
            META.with_reason("fuller wording"),
        )

        async def downstream_done() -> bool:
            messages = await all_messages(system.settings, nats_server)
            services = {m["service"] for m in messages}
            return len(messages) >= 7 and {"referrals", "formulation"} <= services

        await eventually(downstream_done)
        messages = await all_messages(system.settings, nats_server)
        raw = json.dumps(messages)
        assert [n for n in DISTINCTIVE if n in raw] == []
        # Positive control: the sealed values on the wire are the child's data.
        registries = {p.name: p.contracts for p in all_plugins() if p.contracts is not None}
        opened = {
            app.cipher.open(
                m["child_id"],
                path,
                value,
                event=registries[m["service"]].sealed_event(m["event_type"]),
            )
            for m in messages
            if m["child_id"] == str(child_id)
            for path, value in sealed_in(m["data"])
        }
        assert {VALUES["given_name"], VALUES["upn"], REASON, TRAUMA, GIVEN_BY} <= {
            str(v) for v in opened
        }
        assert all(m["child_id"] == str(child_id) for m in messages if m["child_id"])
