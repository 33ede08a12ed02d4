"""Make a golden store: every event type of every aggregate, as the code of its day stores it.

Run once per fixture version (`python -m tests.golden.make_golden tests/golden/v2`); never run
it over a committed version: a golden store is added to, never rewritten (see README.md).

The real use cases of every service are driven on SQLite with a fixed synthetic master key;
messages between services are handed to the real consumers in stream order (an in-process
relay, no NATS needed). The store files, the key store and the expected state of every
aggregate are then written to the target folder.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sqlite3
import sys
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from services.formulation.application import FormulationApplication
from services.formulation.values import (
    LifeDate,
    RecommendationDraft,
    Sensitivity,
    TimelineCategory,
    consultation_id_for,
)
from services.governance.application import GovernanceApplication
from services.notifications.application import NotificationsApplication
from services.notifications.domain import Channel
from services.referrals.application import ReferralsApplication
from services.referrals.consumers import consumers as referral_consumers
from services.referrals.domain import Consent
from services.referrals.outcomes import Disposal, OffenceType, Outcomes
from services.reviews.application import ReviewsApplication
from services.reviews.supervision import SupervisionKind
from services.reviews.values import Action, Progress, ProgressRecord, TransitionKind
from services.runtime import System
from shared.consumer import Delivery, subject_matches
from shared.domain import Area, Meta
from shared.meetings import AttendanceRecord, Invitee
from shared.settings import Settings, development_settings
from shared.vocabulary import Agency, Attendance
from tests.golden.state import (
    REVIEWS_SPLIT,
    SPLIT,
    STORES,
    formulation_split,
    reviews_split,
    state_of_store,
)

MASTER_KEY = "Z29sZGVuLXN0b3JlLXN5bnRoZXRpYy1tYXN0ZXItayE="
"""A fixed synthetic master key (base64 of 32 bytes) that
opens the committed golden key store; it protects synthetic children only."""
SECRET_KEY = "golden-store-synthetic-token-secret-not-used-for-anything"

CM = Meta("golden-cm", "case_manager", "golden-corr-1", "golden-corr-1")
PSY = Meta("golden-psy", "psychologist", "golden-corr-2", "golden-corr-2")
SP = Meta("golden-sp", "senior_practitioner", "golden-corr-3", "golden-corr-3")
DPO = Meta("golden-dpo", "auditor", "golden-corr-4", "golden-corr-4")
SYSTEM = Meta("system", "system", "golden-corr-5", "golden-corr-5")


def why(meta: Meta, reason: str) -> Meta:
    """`meta` carrying a synthetic reason."""
    return meta.with_reason(f"Synthetic: {reason}")


def golden_settings(data_dir: Path) -> Settings:
    """Dev-mode settings on `data_dir` with the fixed synthetic master key."""
    return development_settings(data_dir, master_key=MASTER_KEY, secret_key=SECRET_KEY)


class Pump:
    """An in-process relay: hands each new published message to every consumer that wants it,
    in one global stream order, until no service has anything new to say."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.published: dict[str, int] = {}
        self.seq = 0

    def run(self) -> None:
        moved = True
        while moved:
            moved = False
            for registry in self.system.registries():
                app = self.system.apps[registry.service]
                start = self.published.get(registry.service, 0) + 1
                for notification in app.notifications(start, 10_000):
                    self.published[registry.service] = notification.id
                    event = app.mapper.to_sealed_domain_event(notification)  # type: ignore[attr-defined]
                    envelope = registry.to_envelope(event, notification.id)
                    if envelope is None:
                        continue
                    self.seq += 1
                    moved = True
                    for consumer in self.system.consumers():
                        if subject_matches(consumer.subject, envelope.subject):
                            consumer.sink.commit([Delivery(self.seq, envelope)])


def with_referrals_lifecycle(system: System) -> System:
    """The referrals service consuming the case lifecycle (v2 on; a no-op once its plugin
    names `services.referrals.consumers.consumers` itself)."""
    system.plugins = [
        dataclasses.replace(p, consumers=referral_consumers) if p.name == "referrals" else p
        for p in system.plugins
    ]
    return system


def drive(system: System) -> None:
    """Every event type of every aggregate, through the services' own use cases."""
    pump = Pump(system)
    referrals = system.apps["referrals"]
    formulation = system.apps["formulation"]
    reviews = system.apps["reviews"]
    notifications = system.apps["notifications"]
    governance = system.apps["governance"]
    assert isinstance(referrals, ReferralsApplication)
    assert isinstance(formulation, FormulationApplication)
    assert isinstance(reviews, ReviewsApplication)
    assert isinstance(notifications, NotificationsApplication)
    assert isinstance(governance, GovernanceApplication)

    # -- partner directory -----------------------------------------------------------------
    school = notifications.register_partner(
        agency=Agency.EDUCATION,
        name="Synthetic Teacher",
        email="teacher@school.example",
        webhook_url=None,
        preferred_channel=Channel.EMAIL,
        webhook_secret=None,
        meta=SP,
    )
    health = notifications.register_partner(
        agency=Agency.HEALTH,
        name="Synthetic Nurse",
        email="nurse@health.example",
        webhook_url="https://health.example/hook",
        preferred_channel=Channel.WEBHOOK,
        webhook_secret="synthetic-webhook-secret-1",
        meta=SP,
    )
    notifications.rotate_webhook_secret(
        health,
        "synthetic-webhook-secret-2",
        timedelta(days=7),
        datetime(2026, 2, 1, tzinfo=UTC),
        SP,
    )

    # -- child A: the whole formulated journey ---------------------------------------------
    child = referrals.register_child(
        given_name="Synthetic",
        family_name="Child-A",
        date_of_birth=date(2010, 3, 4),
        area=Area.BRISTOL,
        nhs_number="9434765919",
        upn=None,
        meta=CM,
    )
    referral = referrals.refer(
        child_id=child,
        case_manager_id="golden-cm",
        reason="Synthetic reason for referral",
        trauma_history="Synthetic trauma history",
        expected_involvement_months=9,
        meta=CM,
    )
    referrals.correct_referral(
        referral, "reason", "Synthetic corrected reason", why(CM, "typo in the reason")
    )
    referrals.correct_referral(referral, "expected_involvement_months", 12, why(CM, "longer order"))
    referrals.correct_child(child, "family_name", "Child-A-corrected", why(CM, "spelling"))
    referrals.flag_dispute(child, "date_of_birth", why(CM, "family disputes the date"))
    referrals.record_consent(referral, Consent.GIVEN, "Synthetic parent", CM)
    referrals.accept(referral, PSY)
    pump.run()  # formulation and reviews open their cases

    referrals.correct_child(child, "area", Area.NORTH_SOMERSET, why(CM, "moved area"))
    pump.run()  # the referral, formulation and review cases follow the child

    entry, _ = formulation.add_timeline_entry(
        child,
        when=LifeDate.create("exact", on=date(2016, 5, 1)),
        category=TimelineCategory.LOSS_OR_BEREAVEMENT,
        description="Synthetic: grandparent died",
        source="Synthetic: aunt",
        sensitivity=Sensitivity.SENSITIVE,
        meta=PSY,
    )
    formulation.correct_timeline_entry(
        child,
        entry,
        why(PSY, "date was a month out"),
        when=LifeDate.create("month", year=2016, month=6),
    )
    wrong, _ = formulation.add_timeline_entry(
        child,
        when=LifeDate.create("approximate_age", age_years=8),
        category=TimelineCategory.MOVE,
        description="Synthetic: moved house",
        source=None,
        sensitivity=Sensitivity.STANDARD,
        meta=PSY,
    )
    formulation.retract_timeline_entry(child, wrong, why(PSY, "another child's entry"))

    invitees = [
        Invitee(Agency.EDUCATION, school),
        Invitee(Agency.HEALTH, health),
        Invitee(Agency.YJS),
    ]
    cancelled, _ = formulation.schedule_meeting(
        child,
        starts_at=datetime(2026, 3, 2, 10, tzinfo=UTC),
        venue="Synthetic YJS office",
        online_link=None,
        invitees=invitees,
        meta=SP,
    )
    formulation.cancel_meeting(child, cancelled, why(SP, "room unavailable"))
    meeting, _ = formulation.schedule_meeting(
        child,
        starts_at=datetime(2026, 3, 9, 10, tzinfo=UTC),
        venue="Synthetic YJS office",
        online_link="https://meet.example/synthetic",
        invitees=invitees,
        meta=SP,
    )
    formulation.reschedule_meeting(
        child, meeting, datetime(2026, 3, 10, 10, tzinfo=UTC), why(SP, "school holiday")
    )
    pump.run()
    formulation.record_meeting_held(
        child,
        meeting,
        held_on=date(2026, 3, 10),
        attendance=[
            AttendanceRecord(Agency.EDUCATION, school, Attendance.ATTENDED),
            AttendanceRecord(Agency.HEALTH, health, Attendance.APOLOGIES),
            AttendanceRecord(Agency.YJS, None, Attendance.ATTENDED),
            AttendanceRecord(Agency.POLICE, None, Attendance.ATTENDED, joined_on_the_day=True),
        ],
        notes="Synthetic meeting notes",
        meta=PSY,
    )
    _, _ = formulation.issue_report(
        child,
        narrative="Synthetic formulation narrative",
        stage=2,
        issued_on=date(2026, 3, 20),
        recommendations=[
            RecommendationDraft(2, Agency.EDUCATION, "Synthetic: key adult"),
            RecommendationDraft(4, Agency.YJS, "Synthetic: CBT later"),
        ],
        stage_rationale="Synthetic: beginning to trust",
        meta=PSY,
    )
    formulation.assess_stage(
        child,
        stage=3,
        assessed_on=date(2026, 4, 1),
        rationale="Synthetic: talking about losses",
        meta=PSY,
    )
    report = formulation.get_reports(child).reports[-1]
    key_adult = report.recommendations[0].recommendation_id
    planned, _, _ = formulation.plan_intervention(
        child,
        intervention_type="Synthetic key adult",
        stage=None,
        owning_agency=None,
        planned_start=date(2026, 4, 2),
        recommendation_id=key_adult,
        override_rationale=None,
        meta=SP,
    )
    early, overridden, _ = formulation.plan_intervention(
        child,
        intervention_type="Synthetic CBT",
        stage=4,
        owning_agency=Agency.YJS,
        planned_start=date(2026, 4, 3),
        recommendation_id=None,
        override_rationale="Synthetic: the child asked for it",
        meta=PSY,
    )
    assert overridden
    stopped, _, _ = formulation.plan_intervention(
        child,
        intervention_type="Synthetic routine",
        stage=1,
        owning_agency=Agency.SOCIAL_CARE,
        planned_start=date(2026, 4, 4),
        recommendation_id=None,
        override_rationale=None,
        meta=SP,
    )
    formulation.start_intervention(child, planned, date(2026, 4, 5), SP)
    formulation.record_session(child, planned, date(2026, 4, 12), "Synthetic session note", SP)
    formulation.complete_intervention(child, planned, date(2026, 5, 1), SP)
    formulation.start_intervention(child, early, date(2026, 4, 6), SP)
    formulation.stop_intervention(child, stopped, date(2026, 4, 7), why(SP, "not needed"))
    pump.run()  # reviews note the report, the stage and the interventions

    reviews.assign_worker(child, "golden-sp", SP)
    reviews.set_cadence(child, 8, SP)
    review_id = reviews.get_record(child).current_review_id
    assert review_id is not None
    reviews.schedule_review(
        child,
        review_id,
        datetime(2026, 5, 11, 14, tzinfo=UTC),
        "Synthetic review room",
        None,
        invitees,
        SP,
    )
    pump.run()
    reviews.cancel_review(child, review_id, why(SP, "worker ill"))
    pump.run()
    reviews.schedule_review(
        child,
        review_id,
        datetime(2026, 5, 18, 14, tzinfo=UTC),
        "Synthetic review room",
        "https://meet.example/review",
        invitees,
        SP,
    )
    reviews.reschedule_review(
        child, review_id, datetime(2026, 5, 19, 14, tzinfo=UTC), why(SP, "clash")
    )
    pump.run()
    reviews.record_review_held(
        child,
        review_id,
        held_on=date(2026, 5, 19),
        attendance=[
            AttendanceRecord(Agency.EDUCATION, school, Attendance.ATTENDED),
            AttendanceRecord(Agency.HEALTH, health, Attendance.DID_NOT_ATTEND),
            AttendanceRecord(Agency.YJS, None, Attendance.ATTENDED),
        ],
        stage=3,
        rationale=None,
        progress=[ProgressRecord(early, Progress.ENGAGING, "Synthetic progress note")],
        actions=[Action(Agency.EDUCATION, date(2026, 6, 1), "Synthetic action")],
        next_review_on=date(2026, 7, 1),
        meta=SP,
    )
    pump.run()  # formulation takes in the review's re-assessment
    reviews.tick(date(2026, 8, 1), SYSTEM)
    reviews.record_transition(
        child, TransitionKind.SCHOOL_MOVE, date(2026, 8, 3), "Synthetic Academy", SP
    )
    pump.run()
    reviews.close_case(child, date(2026, 9, 1), date(2026, 12, 1), why(SP, "order ended"))
    pump.run()
    reviews.reopen_case(child, date(2026, 9, 15), why(SP, "new order"))
    pump.run()  # since v2: the referral closed and reopened with the case

    referrals.correct_child(child, "area", Area.BRISTOL, why(CM, "moved back"))
    pump.run()  # since v3: the life story and the meetings follow the child too

    # -- notices: sent, failed, requeued, acknowledged --------------------------------------
    rows = sorted(notifications.notices(), key=lambda r: str(r.notice_id))
    first, second = rows[0].notice_id, rows[1].notice_id
    at = datetime(2026, 9, 16, 9, tzinfo=UTC)
    notifications.record_sent(first, Channel.EMAIL, "synthetic-smtp-1", at, SYSTEM)
    notifications.acknowledge(
        first, notifications.get_notice(first).contact_id, at + timedelta(hours=1), SYSTEM
    )
    notifications.record_failure(second, "Synthetic: connection refused", at, SYSTEM)
    notifications.retry(second, at + timedelta(hours=2), SP)

    # -- a second referral of child A is declined; its earlier one is closed ---------------
    referrals.close_referral(referral, why(CM, "ECM work ended"))
    pump.run()
    again = referrals.refer(
        child_id=child,
        case_manager_id="golden-cm",
        reason="Synthetic second reason",
        trauma_history="Synthetic history again",
        expected_involvement_months=6,
        meta=CM,
    )
    referrals.decline(again, why(PSY, "needs met elsewhere"))
    third = referrals.refer(
        child_id=child,
        case_manager_id="golden-cm",
        reason="Synthetic third reason",
        trauma_history="Synthetic history",
        expected_involvement_months=7,
        meta=CM,
    )
    referrals.withdraw(third, why(CM, "left the YJS"))
    fourth = referrals.refer(
        child_id=child,
        case_manager_id="golden-cm",
        reason="Synthetic fourth reason",
        trauma_history="Synthetic history",
        expected_involvement_months=8,
        meta=CM,
    )
    referrals.record_consent(fourth, Consent.GIVEN, "Synthetic parent", CM)
    referrals.accept(fourth, PSY)
    pump.run()  # formulation links the further referral to the open case

    # -- child B: a consultation -----------------------------------------------------------
    child_b = referrals.register_child(
        given_name="Synthetic",
        family_name="Child-B",
        date_of_birth=date(2011, 7, 8),
        area=Area.BANES,
        nhs_number=None,
        upn="A123456789012",
        meta=CM,
    )
    consult = referrals.refer(
        child_id=child_b,
        case_manager_id="golden-cm",
        reason="Synthetic consult reason",
        trauma_history="Synthetic history B",
        expected_involvement_months=6,
        meta=CM,
    )
    referrals.offer_consultation(consult, PSY)
    pump.run()
    consultation_id = consultation_id_for(consult)
    formulation.hold_consultation(
        consultation_id,
        held_on=date(2026, 6, 1),
        attended_by=["Synthetic case manager"],
        agencies=[Agency.YJS, Agency.SOCIAL_CARE],
        advice="Synthetic advice",
        meta=PSY,
    )
    formulation.close_consultation(consultation_id, PSY)
    pump.run()

    # -- since v4: offending outcomes (recorded, corrected, retracted) ---------------------
    outcomes = Outcomes(referrals)
    offence = outcomes.record_offence(
        child,
        offence_type=OffenceType.THEFT,
        committed_on=date(2026, 3, 1),
        proven_on=date(2026, 4, 1),
        outcome=Disposal.YOUTH_CAUTION,
        meta=CM,
        today=date(2026, 10, 2),
    )
    outcomes.correct_offence(
        child,
        offence,
        {"proven_on": date(2026, 4, 2)},
        why(CM, "date from the court record"),
        today=date(2026, 10, 2),
    )
    mistaken = outcomes.record_offence(
        child,
        offence_type=OffenceType.BREACH,
        committed_on=date(2026, 5, 1),
        proven_on=None,
        outcome=Disposal.NOT_PROVEN,
        meta=CM,
        today=date(2026, 10, 2),
    )
    outcomes.retract_offence(child, mistaken, why(CM, "entered against the wrong child"))
    pump.run()

    # -- supervision, governance -----------------------------------------------------------
    reviews.log_supervision(
        practitioner_id="golden-cm",
        supervisor_id="golden-psy",
        held_on=date(2026, 6, 2),
        kind=SupervisionKind.CLINICAL_SUPERVISION,
        children=[child],
        themes="Synthetic: working with loss",
        meta=PSY,
    )
    governance.record_subject_access(
        child, date(2026, 10, 1), 42, ["referrals", "formulation"], why(DPO, "request")
    )
    child_c = referrals.register_child(
        given_name="Synthetic",
        family_name="Child-C",
        date_of_birth=date(2009, 1, 1),
        area=Area.SOUTH_GLOUCESTERSHIRE,
        nhs_number=None,
        upn=None,
        meta=CM,
    )
    governance.record_erasure(child_c, date(2026, 11, 1), True, why(DPO, "end of retention"))
    pump.run()


def make(target: Path) -> None:
    """Drive every use case in a scratch folder and write the golden store into `target`."""
    if target.exists() and any(target.iterdir()):
        raise SystemExit(f"{target} exists: a golden store is added to, never rewritten")
    with tempfile.TemporaryDirectory() as scratch:
        settings = golden_settings(Path(scratch) / "var")
        system = with_referrals_lifecycle(System.build(settings))
        try:
            drive(system)
        finally:
            system.close()
        target.mkdir(parents=True, exist_ok=True)
        for name in [*STORES, "keys"]:
            source = settings.sqlite_path(name if name == "keys" else f"{name}-events")
            _copy_sqlite(source, target / source.name)
        system = System.build(golden_settings(Path(scratch) / "reopened"))
        system.close()
    expected = open_golden_state(target)
    (target / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")


def _copy_sqlite(source: Path, target: Path) -> None:
    """A consistent single-file copy (the WAL folded in) of a SQLite database."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    with sqlite3.connect(target) as dst:
        dst.execute("PRAGMA journal_mode=DELETE")
    dst.close()


def open_golden_state(folder: Path) -> dict[str, Any]:
    """The state of every aggregate in the golden store at `folder`, loaded by today's code."""
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "var"
        (data / "db").mkdir(parents=True)
        for path in folder.glob("*.sqlite"):
            shutil.copy(path, data / "db" / path.name)
        system = System.build(golden_settings(data))
        try:
            state = {service: state_of_store(system.apps[service]) for service in STORES}
            state[SPLIT] = formulation_split(system.apps["formulation"])
            state[REVIEWS_SPLIT] = reviews_split(system.apps["reviews"])
            return state
        finally:
            system.close()


if __name__ == "__main__":
    make(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "v1")
