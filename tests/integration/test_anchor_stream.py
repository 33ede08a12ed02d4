"""Chain heads anchored in a JetStream stream the server keeps from deletes and purges, on a
real nats-server: `ecm verify` checks against the latest anchor of the file or the stream."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import typer
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import ServerError
from typer.testing import CliRunner

from services.governance.anchors import ANCHOR_FILE, AnchorLog
from services.governance.cli import register as register_governance_cli
from services.governance.integrity import seal, verify
from services.runtime import System
from shared.auth import mint_token
from shared.bus import connect
from shared.domain import Role
from shared.natsauth import ANCHOR_STREAM, ANCHOR_SUBJECT, service_permissions, service_user
from shared.natsserver import EmbeddedNats
from shared.settings import Settings
from tests.harness import in_thread, with_nats
from tests.integration.test_security_anchors import delete_seals
from tests.integration.test_security_identities import as_user, guarded  # noqa: F401
from tests.integration.test_security_integrity import delete, register

pytestmark = pytest.mark.nats


@pytest.fixture
def anchored(
    settings: Settings, nats_server: EmbeddedNats, monkeypatch: pytest.MonkeyPatch
) -> Iterator[System]:
    """The whole system, anchoring to the stream as well as to the file."""
    monkeypatch.setenv("ECM_INTEGRITY_ANCHOR_STREAM", "true")
    system = System.build(with_nats(settings, nats_server))
    yield system
    system.close()


@pytest.fixture
async def nc(anchored: System) -> AsyncIterator[Client]:
    """The admin's connection: every right a NATS administrator has."""
    client = await connect(anchored.settings, reconnect=False)
    yield client
    await client.close()


def file_lines(system: System) -> list[str]:
    return (system.settings.data_path / "anchors" / ANCHOR_FILE).read_text().splitlines()


async def stream_lines(nc: Client) -> list[str]:
    js = nc.jetstream()
    info = await js.stream_info(ANCHOR_STREAM)
    return [
        (await js.get_msg(ANCHOR_STREAM, seq)).data.decode().rstrip("\n")  # type: ignore[union-attr]
        for seq in range(info.state.first_seq, info.state.last_seq + 1)
    ]


async def sealed_children(system: System, count: int) -> None:
    for n in range(count):
        await in_thread(register, system, f"Child-{n}")
    await in_thread(seal, system)


async def test_every_anchor_goes_to_a_stream_the_server_will_not_let_anyone_empty(
    anchored: System, nc: Client
) -> None:
    await sealed_children(anchored, 2)
    await sealed_children(anchored, 1)
    assert await stream_lines(nc) == file_lines(anchored)
    assert len(file_lines(anchored)) == 2
    js = nc.jetstream()
    info = await js.stream_info(ANCHOR_STREAM)
    assert info.config.deny_delete and info.config.deny_purge
    assert info.config.subjects == [ANCHOR_SUBJECT]

    # even the NATS administrator cannot purge, delete a message or lift the protection
    with pytest.raises(ServerError, match="purge not permitted"):
        await js.purge_stream(ANCHOR_STREAM)
    with pytest.raises(ServerError, match="message delete not permitted"):
        await js.delete_msg(ANCHOR_STREAM, info.state.last_seq)
    with pytest.raises(ServerError, match="can not cancel deny message deletes"):
        await js.update_stream(
            StreamConfig(name=ANCHOR_STREAM, subjects=[ANCHOR_SUBJECT], storage=StorageType.FILE)
        )
    assert (await js.stream_info(ANCHOR_STREAM)).state.messages == 2
    assert await stream_lines(nc) == file_lines(anchored)


async def test_a_store_cut_short_is_named_although_the_anchor_file_was_cut_back_too(
    anchored: System, nc: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    await sealed_children(anchored, 2)  # anchor 1: 2 events
    await sealed_children(anchored, 2)  # anchor 2: 4 events
    # someone with the machine and the database removes the last two children, their seals
    # and the anchor line that recorded them
    for notification_id in (4, 3):
        await in_thread(delete, anchored, notification_id)
    await in_thread(delete_seals, anchored, from_id=3)
    path = anchored.settings.data_path / "anchors" / ANCHOR_FILE
    path.write_text(file_lines(anchored)[0] + "\n")

    report = await in_thread(verify, anchored, extend=False)
    first = report.first_mismatch
    assert first is not None and first.service == "referrals", report.as_dict()
    assert "truncated" in first.problem
    assert "4 sealed events up to notification 4" in first.problem

    # the file alone would have been fooled: that is what the stream is for
    monkeypatch.setenv("ECM_INTEGRITY_ANCHOR_STREAM", "false")
    assert (await in_thread(verify, anchored, extend=False)).ok


async def test_ecm_verify_names_a_deleted_anchor_stream(anchored: System, nc: Client) -> None:
    await sealed_children(anchored, 2)
    assert (await in_thread(verify, anchored)).ok
    await nc.jetstream().delete_stream(ANCHOR_STREAM)  # the admin credential can do this much

    runner = CliRunner()
    cli = typer.Typer()
    register_governance_cli(cli)
    cli.callback()(lambda: None)
    settings = anchored.settings
    auditor = mint_token(settings, "dpo-1", Role.AUDITOR, None)
    env = {
        "ECM_TOKEN": auditor,
        "ECM_NATS_URL": str(settings.nats_url),
        "ECM_NATS_USER": str(settings.nats_user),
        "ECM_NATS_PASSWORD": str(settings.nats_password),
    }
    result = await in_thread(
        runner.invoke, cli, ["verify", "--data-dir", str(settings.data_path)], env=env
    )
    assert result.exit_code == 1, result.output
    assert f"stream {ANCHOR_STREAM}: lacks the anchor of" in result.output
    with pytest.raises(Exception, match="lacks the anchor"):
        await in_thread(seal, anchored)  # and sealing does not carry on over it


async def test_an_unreachable_anchor_stream_is_an_anchor_problem_not_a_pass(
    anchored: System, nats_server: EmbeddedNats
) -> None:
    await sealed_children(anchored, 1)
    nats_server.stop()
    report = await in_thread(verify, anchored, extend=False)
    assert not report.ok
    assert report.anchor_problem is not None
    assert f"anchor stream {ANCHOR_STREAM}: not reachable" in report.anchor_problem


def test_only_governance_may_anchor_and_no_service_may_remove_anchors() -> None:
    governance = service_permissions("governance", True, [])["publish"]["allow"]
    assert ANCHOR_SUBJECT in governance
    assert f"$JS.API.STREAM.CREATE.{ANCHOR_STREAM}" in governance
    for service in ("referrals", "formulation", "reviews", "notifications", "governance"):
        allowed = service_permissions(service, True, [])["publish"]["allow"]
        assert not any(
            right.startswith(
                (
                    "$JS.API.STREAM.DELETE",
                    "$JS.API.STREAM.PURGE",
                    "$JS.API.STREAM.MSG.DELETE",
                    "$JS.API.STREAM.UPDATE",
                )
            )
            for right in allowed
        ), service
        if service != "governance":
            assert ANCHOR_SUBJECT not in allowed


def test_without_the_setting_anchors_stay_in_the_file_only(settings: Settings) -> None:
    system = System.build(settings)
    try:
        register(system, "Child")
        seal(system)
        assert AnchorLog(system.settings).stream is None
        assert len(file_lines(system)) == 1
    finally:
        system.close()


async def test_governance_anchors_as_itself_and_no_identity_of_a_service_can_remove_anchors(
    guarded: tuple[EmbeddedNats, Settings],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, settings = guarded
    monkeypatch.setenv("ECM_INTEGRITY_ANCHOR_STREAM", "true")
    system = System.build(with_nats(settings, server))
    try:
        await sealed_children(system, 1)  # created and appended as ecm-governance
        governance = await as_user(server, settings, service_user("governance"))
        js = governance.jetstream(timeout=2)
        assert (await js.stream_info(ANCHOR_STREAM)).state.messages == 1
        for attempt in (
            js.purge_stream(ANCHOR_STREAM),
            js.delete_stream(ANCHOR_STREAM),
            js.delete_msg(ANCHOR_STREAM, 1),
        ):
            with pytest.raises(NatsError):
                await attempt
        await governance.close()
        referrals = await as_user(server, settings, service_user("referrals"))
        with pytest.raises(NatsError):
            await referrals.jetstream(timeout=2).publish(
                ANCHOR_SUBJECT, b"{}", stream=ANCHOR_STREAM
            )
        await referrals.close()
        assert (await in_thread(verify, system, extend=False)).ok
    finally:
        system.close()
