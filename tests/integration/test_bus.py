"""The relay and consumers against a real nats-server."""

from __future__ import annotations

from datetime import date

from services.referrals.application import ReferralsApplication
from shared.bus import connect, count_messages
from shared.domain import Area, Meta
from shared.natsserver import EmbeddedNats
from shared.settings import Settings
from tests.harness import eventually, in_thread, running_node

META = Meta("cm-1", "case_manager", "corr-1", "corr-1")


async def test_a_stored_referral_appears_on_the_stream(
    settings: Settings, nats_server: EmbeddedNats
) -> None:
    async with running_node(settings, nats_server, ["referrals"]) as system:
        child_id = await in_thread(
            system.app(ReferralsApplication).register_child,
            given_name="Ada",
            family_name="Synthetic",
            date_of_birth=date(2011, 3, 4),
            area=Area.BANES,
            nhs_number=None,
            upn=None,
            meta=META,
        )
        nc = await connect(system.settings, nats_server.url)
        js = nc.jetstream()

        async def published() -> bool:
            return await count_messages(js, "ecm.referrals.>") == 1

        await eventually(published)
        msg = await js.get_last_msg("ECM", "ecm.referrals.>")
        assert msg.headers and msg.headers["Nats-Msg-Id"] == "referrals:1"
        data = msg.data or b""
        assert str(child_id).encode() in data
        assert b"Ada" not in data
        await nc.close()
