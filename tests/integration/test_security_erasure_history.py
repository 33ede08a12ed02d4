"""After erasure the non-personal history replays: what the governance views rely on."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import UUID

from prometheus_client import REGISTRY

from services.governance.erasure import erase_child
from services.governance.history import current_records
from services.governance.sar import subject_access_document
from services.referrals.application import ReferralsApplication
from services.runtime import System
from shared.domain import Area, Meta
from shared.natsserver import EmbeddedNats
from tests.live import node_in_thread, settled_audit

CM = Meta("cm-1", "case_manager", "c-1", "c-1", "synthetic change")
DPO = Meta("dpo-1", "auditor", "c-2", "c-2", "end of retention")


def registered(system: System) -> tuple[UUID, UUID]:
    app = system.app(ReferralsApplication)
    child_id: UUID = app.register_child(
        given_name="Isolde",
        family_name="Synthetic",
        date_of_birth=date(2010, 1, 1),
        area=Area.BRISTOL,
        nhs_number=None,
        upn=None,
        meta=CM,
    )
    referral_id: UUID = app.refer(
        child_id=child_id,
        case_manager_id="cm-1",
        reason="Reason",
        trauma_history="History",
        expected_involvement_months=9,
        meta=CM,
    )
    return child_id, referral_id


def test_an_erasure_is_counted_in_the_metrics(system: System) -> None:
    child_id, _ = registered(system)
    before = REGISTRY.get_sample_value("ecm_erasures_total") or 0.0
    erase_child(system, child_id, DPO, date(2031, 3, 1))
    assert REGISTRY.get_sample_value("ecm_erasures_total") == before + 1


def test_an_erased_childs_history_replays_with_every_non_personal_fact(
    system: System, nats_server: EmbeddedNats
) -> None:
    with node_in_thread(system, nats_server):
        child_id, referral_id = registered(system)
        before = [
            (e.event_type, e.aggregate_version, e.occurred_at, e.actor_id)
            for e in settled_audit(system, child_id)
        ]
        erase_child(system, child_id, DPO, date(2031, 3, 1))
        after = settled_audit(system, child_id, decrypt=True)
    assert before
    assert [(e.event_type, e.aggregate_version, e.occurred_at, e.actor_id) for e in after][
        : len(before)
    ] == before
    assert after[-1].event_type == "ChildErased"
    assert after[-1].data["erased_on"] == "2031-03-01"
    records = {r["aggregate_type"]: r for r in current_records(system, after)}
    assert records["Child"]["state"]["area"] == "bristol"
    assert records["Child"]["state"]["given_name"] is None
    assert records["Referral"]["state"]["status"] == "referred"
    assert records["Referral"]["state"]["expected_involvement_months"] == 9
    document = subject_access_document(system, child_id, DPO, datetime(2031, 3, 2, tzinfo=UTC))
    assert document["erased"] is True and document["erased_on"] == "2031-03-01"
    assert referral_id


def test_corrected_non_personal_fields_survive_erasure(system: System) -> None:
    child_id, referral_id = registered(system)
    referrals = system.app(ReferralsApplication)
    referrals.correct_child(child_id, "area", "banes", CM)
    referrals.correct_referral(referral_id, "expected_involvement_months", 12, CM)
    erase_child(system, child_id, DPO, date(2031, 3, 1))
    assert referrals.get_child(child_id).area == Area.BANES
    assert referrals.get_referral(referral_id).expected_involvement_months == 12
