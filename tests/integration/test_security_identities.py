"""Per-service NATS identities on a real nats-server: a service may publish only its own
subjects and use only its own durable consumers; the operator identity only reads."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import nats
import pytest
from nats.aio.client import Client
from nats.errors import Error as NatsError

from services.formulation.application import FormulationApplication
from services.runtime import System
from shared.bus import connect
from shared.natsauth import OPERATOR, Identity, embedded_users, service_user
from shared.natsserver import EmbeddedNats
from shared.settings import Settings
from tests.harness import eventually, in_thread, running_node
from tests.workload import Tally, has_case, refer


@pytest.fixture
def guarded(tmp_path: Path, settings: Settings) -> Iterator[tuple[EmbeddedNats, Settings]]:
    """A nats-server whose users are the embedded default's: admin, one per service, operator."""
    folder = settings.data_path / "secrets" / "nats"
    system = System.build(settings)
    admin = Identity("ecm", uuid.uuid4().hex)
    users = embedded_users(admin, folder, system.nats_services())
    system.close()
    server = EmbeddedNats(tmp_path / "nats", user=admin.user, password=admin.password, users=users)
    server.start()
    yield server, settings.model_copy(update={"nats_identities_dir": folder})
    server.stop()


async def as_user(server: EmbeddedNats, settings: Settings, user: str) -> Client:
    password = (cast(Path, settings.nats_identities_dir) / user).read_text().strip()
    return await nats.connect(server.url, user=user, password=password, allow_reconnect=False)


async def test_a_service_cannot_publish_on_another_services_subjects(
    guarded: tuple[EmbeddedNats, Settings],
) -> None:
    server, settings = guarded
    nc = await as_user(server, settings, service_user("notifications"))
    js = nc.jetstream()
    with pytest.raises(NatsError):
        await js.publish("ecm.referrals.ChildRegistered", b"{}", stream="ECM", timeout=2)
    await nc.close()


async def test_the_operator_identity_reads_but_cannot_publish(
    guarded: tuple[EmbeddedNats, Settings], settings: Settings
) -> None:
    server, with_identities = guarded
    nc = await as_user(server, with_identities, OPERATOR)
    js = nc.jetstream()
    with pytest.raises(NatsError):
        await js.publish("ecm.referrals.ChildRegistered", b"{}", stream="ECM", timeout=2)
    await nc.close()


async def test_every_service_works_under_its_own_identity(
    guarded: tuple[EmbeddedNats, Settings],
) -> None:
    server, settings = guarded
    system = System.build(settings)
    async with running_node(settings, server, system=system):
        child = await in_thread(refer, system, random.Random(4), Tally())
        formulation = cast(FormulationApplication, system.apps["formulation"])
        await eventually(lambda: has_case(formulation, child))
        nc = await connect(system.settings, server.url)
        names = {c.name for c in (await nc.jetstream().consumers_info("ECM"))}
        await nc.close()
        assert {c.name for c in system.consumers()} <= names
    system.close()
