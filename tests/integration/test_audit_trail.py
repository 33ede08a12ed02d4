"""The audit trail shows who, when and why, never personal values, even inside lists."""

from __future__ import annotations

import json
from datetime import date
from typing import cast
from uuid import uuid4

from services.formulation.application import FormulationApplication
from services.formulation.values import RecommendationDraft
from services.runtime import System
from shared.domain import Area, Meta
from shared.natsserver import EmbeddedNats
from shared.vocabulary import Agency
from tests.live import node_in_thread, settled_audit

PSY = Meta("psy-1", "psychologist", "c", "c")


def test_recommendation_texts_are_left_out_of_the_audit_view_but_named(
    system: System, nats_server: EmbeddedNats
) -> None:
    formulation = cast(FormulationApplication, system.apps["formulation"])
    child_id = uuid4()
    formulation.open_case(child_id, uuid4(), Area.BANES, PSY)
    formulation.issue_report(
        child_id,
        narrative="Narrative-Okapi-Syntheticus",
        stage=3,
        issued_on=date(2026, 1, 2),
        recommendations=[RecommendationDraft(3, Agency.CAMHS, "Plan-Zanzibar-Quokka")],
        stage_rationale="synthetic",
        meta=PSY,
    )
    with node_in_thread(system, nats_server):
        trail = settled_audit(system, child_id)
        opened = settled_audit(system, child_id, decrypt=True)
    assert trail, "the audit index holds the child's events"
    audit = json.dumps([e.as_dict() for e in trail])
    assert "Plan-Zanzibar-Quokka" not in audit and "Narrative-Okapi" not in audit
    assert "ecm1:" not in audit and "ecm2:" not in audit  # not even the ciphertext
    assert "recommendations[].text" in audit and '"camhs"' in audit
    full = json.dumps([e.as_dict() for e in opened])
    assert "Plan-Zanzibar-Quokka" in full
