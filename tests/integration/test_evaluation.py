"""The evaluation read model: pseudonymised exports, and replay equal to live processing."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, cast
from uuid import uuid4

from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from services.evaluation.export import export_rows, summary
from services.evaluation.projection import EvaluationProjection, snapshot
from services.referrals.application import ReferralsApplication
from services.runtime import System
from shared.bus import connect
from shared.consumer import Delivery
from shared.contracts import Actor, Envelope
from shared.domain import Area, Meta
from shared.natsserver import EmbeddedNats
from shared.settings import Settings
from tests.conftest import Tokens
from tests.harness import eventually, in_thread, running_node

CHILD = uuid4()
REFERRAL = uuid4()


def envelope(n: int, service: str, event_type: str, day: date, **data: Any) -> Envelope:
    return Envelope(
        message_id=f"{service}:{n}",
        service=service,
        event_type=event_type,
        event_version=1,
        notification_id=n,
        aggregate_id=REFERRAL if service == "referrals" else uuid4(),
        aggregate_version=n,
        child_id=CHILD,
        occurred_at=datetime(day.year, day.month, day.day, 10, tzinfo=UTC),
        actor=Actor(id="u", role="psychologist"),
        reason=None,
        correlation_id="c",
        causation_id="c",
        data=data,
    )


def journey() -> list[Envelope]:
    intervention = str(uuid4())
    return [
        envelope(
            1,
            "referrals",
            "ReferralMade",
            date(2026, 1, 5),
            child_id=str(CHILD),
            area="bristol",
            case_manager_id="cm",
            reason=None,
            trauma_history=None,
            expected_involvement_months=9,
        ),
        envelope(
            2,
            "referrals",
            "ReferralAccepted",
            date(2026, 1, 12),
            child_id=str(CHILD),
            area="bristol",
        ),
        envelope(
            3,
            "formulation",
            "FormulationMeetingHeld",
            date(2026, 2, 2),
            held_on="2026-02-02",
            attendance=[
                {"agency": "education", "attendance": "attended"},
                {"agency": "health", "attendance": "apologies"},
            ],
        ),
        envelope(
            4,
            "formulation",
            "ReportIssued",
            date(2026, 2, 16),
            issued_on="2026-02-16",
            stage=2,
            stage_label="x",
            recommendations=[],
        ),
        envelope(
            5,
            "formulation",
            "StageAssessed",
            date(2026, 2, 16),
            assessed_on="2026-02-16",
            stage=2,
            source="report",
        ),
        envelope(
            6,
            "formulation",
            "InterventionPlanned",
            date(2026, 2, 20),
            intervention_id=intervention,
            stage=4,
            out_of_sequence=True,
        ),
        envelope(
            7,
            "formulation",
            "SequencingOverridden",
            date(2026, 2, 20),
            intervention_id=intervention,
        ),
        envelope(
            8,
            "reviews",
            "ReviewHeld",
            date(2026, 4, 1),
            held_on="2026-04-01",
            attendance=[{"agency": "education", "attendance": "attended"}],
        ),
        envelope(
            9, "reviews", "StageReassessed", date(2026, 4, 1), assessed_on="2026-04-01", stage=1
        ),
        envelope(
            10,
            "formulation",
            "InterventionCompleted",
            date(2026, 5, 1),
            intervention_id=intervention,
        ),
    ]


def test_an_export_is_pseudonymised_with_relative_dates_and_the_measures(tmp_path: Any) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/eval.sqlite")
    projection = EvaluationProjection(engine)
    projection.commit([Delivery(m.notification_id, m) for m in journey()])
    (row,) = export_rows(engine)
    assert str(CHILD) not in str(row) and str(CHILD).replace("-", "") not in str(row)
    assert row["pseudonym"] != export_rows(engine)[0]["pseudonym"]  # keyed afresh per export
    assert row["referred_quarter"] == "2026-Q1"
    assert (
        row["days_referral_to_screening"],
        row["days_referral_to_formulation_meeting"],
        row["days_referral_to_report"],
    ) == (7, 28, 42)
    assert (row["stage_at_formulation"], row["latest_review_stage"], row["stage_movement"]) == (
        2,
        1,
        "down",
    )
    assert (row["education_attended"], row["education_invited"]) == (2, 2)
    assert (row["health_attended"], row["health_invited"]) == (0, 1)
    assert (
        row["interventions_out_of_sequence"],
        row["sequencing_overrides"],
        row["interventions_completed"],
    ) == (1, 1, 1)
    assert not any(isinstance(v, date) for v in row.values())
    assert summary([row])["sequencing_fidelity"] == 0.0


def test_a_redelivered_message_does_not_count_twice(tmp_path: Any) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/eval.sqlite")
    projection = EvaluationProjection(engine)
    messages = journey()
    for message in messages:
        projection.commit([Delivery(message.notification_id, message)])
    held_again = messages[7:9]
    # Redelivered at the same stream sequences, then republished at new ones (past the
    # deduplication window): neither counts again.
    assert projection.commit([Delivery(m.notification_id, m) for m in held_again]) == 0
    assert projection.commit([Delivery(20 + n, m) for n, m in enumerate(held_again)]) == 0
    (row,) = export_rows(engine)
    assert row["reviews_held"] == 1 and row["stage_trajectory"] == [2, 1]


async def test_rebuilding_from_the_stream_gives_exactly_what_live_processing_gave(
    settings: Settings, nats_server: EmbeddedNats, tmp_path: Any
) -> None:
    meta = Meta("cm-1", "case_manager", "c", "c")
    async with running_node(settings, nats_server, ["referrals", "evaluation"]) as system:
        app = cast(ReferralsApplication, system.apps["referrals"])
        for n in range(3):
            child = await in_thread(
                app.register_child,
                given_name=f"S{n}",
                family_name="Replay",
                date_of_birth=date(2011, 1, 1),
                area=Area.BANES,
                nhs_number=None,
                upn=None,
                meta=meta,
            )
            referral = await in_thread(
                app.refer,
                child_id=child,
                case_manager_id="cm-1",
                reason="r",
                trauma_history="t",
                expected_involvement_months=6,
                meta=meta,
            )
            if n:
                await in_thread(app.offer_consultation, referral, meta)
        live_sink = EvaluationProjection(system.engine("evaluation-read"))
        stored = app.max_notification_id()
        await eventually(lambda: live_sink.tracker.positions().get("referrals") == stored)
        live = snapshot(system.engine("evaluation-read"))
        nc = await connect(system.settings, nats_server.url)
        js = nc.jetstream()
        fresh = create_engine(f"sqlite:///{tmp_path}/rebuilt.sqlite")
        rebuilt = EvaluationProjection(fresh)
        sub = await js.pull_subscribe("ecm.>", stream="ECM")  # ephemeral, from the start
        seen = 0
        while seen < stored:
            for msg in await sub.fetch(100, timeout=2):
                rebuilt.commit(
                    [Delivery(msg.metadata.sequence.stream, Envelope.model_validate_json(msg.data))]
                )
                await msg.ack()
                seen += 1
        await nc.close()
    rebuilt_rows = snapshot(fresh)
    for table, rows in live.items():
        for a, b in zip(rows, rebuilt_rows[table], strict=True):
            assert a == b, (table, {k: (a[k], b[k]) for k in a if a[k] != b[k]})
    assert rebuilt_rows == live
    assert len(live["evaluation_children"]) == 3


def test_only_evaluators_obtain_exports(client: TestClient, auth: Tokens, system: System) -> None:
    assert client.get("/api/v1/evaluation/export", headers=auth("evaluator")).status_code == 200
    for role in ("case_manager", "psychologist", "auditor", "partner"):
        response = client.get("/api/v1/evaluation/export", headers=auth(role))
        assert response.status_code == 403 and response.json()["detail"] == "forbidden"
    csv_export = client.get("/api/v1/evaluation/export?format=csv", headers=auth("evaluator"))
    assert csv_export.headers["content-type"].startswith("text/csv")


async def test_a_read_model_rebuilt_from_the_stores_matches_the_original_and_consumption_goes_on(
    settings: Settings, nats_server: EmbeddedNats
) -> None:
    from services.rebuild import check, rebuild
    from tests.harness import with_nats

    meta = Meta("cm-1", "case_manager", "c", "c")
    system = System.build(with_nats(settings, nats_server), ["referrals", "evaluation"])
    app = cast(ReferralsApplication, system.apps["referrals"])
    live = EvaluationProjection(system.engine("evaluation-read"))

    def applied() -> int | None:
        return live.tracker.positions().get("referrals")

    async with running_node(settings, nats_server, system=system):
        child = await in_thread(
            app.register_child,
            given_name="R",
            family_name="Rebuild",
            date_of_birth=date(2012, 1, 1),
            area=Area.BRISTOL,
            nhs_number=None,
            upn=None,
            meta=meta,
        )
        referral = await in_thread(
            app.refer,
            child_id=child,
            case_manager_id="cm-1",
            reason="r",
            trauma_history="t",
            expected_involvement_months=6,
            meta=meta,
        )
        await in_thread(app.decline, referral, meta.with_reason("criteria not met"))
        stored = app.max_notification_id()
        await eventually(lambda: applied() == stored)
    before = snapshot(system.engine("evaluation-read"))
    (consumer,) = [c for c in system.consumers() if c.name == "evaluation"]
    rebuild(system, consumer)
    assert snapshot(system.engine("evaluation-read")) == before
    assert before["evaluation_referrals"][0]["outcome"] == "declined"
    assert check(system, consumer) == []
    async with running_node(settings, nats_server, system=system):
        await in_thread(
            app.register_child,
            given_name="S",
            family_name="After",
            date_of_birth=date(2013, 1, 1),
            area=Area.BRISTOL,
            nhs_number=None,
            upn=None,
            meta=meta,
        )
        await eventually(lambda: applied() == stored + 1)
    after = snapshot(system.engine("evaluation-read"))
    assert after["evaluation_referrals"] == before["evaluation_referrals"]
    assert len(after["evaluation_children"]) == 2
    assert check(system, consumer) == []
    system.close()
