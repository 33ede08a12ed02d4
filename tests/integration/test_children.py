"""The children read side on a real nats-server: the child index found through blind indexes
within area scope, the whole-story timeline in order across services and precisions and as it
stood at any instant, the queues, erasure, no searched value in plaintext at rest, and every
read model equal to a rebuild from the stores."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from uuid import UUID, uuid4

from fastapi.testclient import TestClient

from services.formulation.application import FormulationApplication
from services.formulation.values import LifeDate, Sensitivity, TimelineCategory
from services.governance.erasure import erase_child
from services.referrals.application import ReferralsApplication
from services.referrals.domain import Consent
from services.reviews.application import ReviewsApplication
from services.reviews.supervision import SupervisionKind
from services.reviews.values import TransitionKind
from services.runtime import System, create_api
from shared.auth import mint_token
from shared.bus import connect
from shared.domain import Area, Meta, Role
from shared.meetings import AttendanceRecord, Invitee
from shared.natsserver import EmbeddedNats
from shared.settings import Settings
from shared.vocabulary import Agency, Attendance
from tests.harness import eventually, in_thread, running_node
from tests.workload import differences, has_case, parked, settled

CM = Meta("cm-bristol", "case_manager", "children-test", "children-test")
CM_NS = Meta("cm-ns", "case_manager", "children-test", "children-test")
PSY = Meta("psy-1", "psychologist", "children-test", "children-test")
WHY = PSY.with_reason("corrected after speaking to the carer (synthetic)")
AUDITOR = Meta(
    "dpo-1",
    "auditor",
    "children-test",
    "children-test",
    "end of retention period reached (synthetic)",
)
NHS, UPN = "9434765919", "B801200005001"
SEARCHED = [
    "Quilla",
    "Varnthorpe",
    "Ormund",
    "Varnworth",
    "2011-03-14",
    NHS,
    UPN,
    "quilla",
    "varnthorpe",
    "Synthetic-move-story",
    "Synthetic-corrected-story",
]


@dataclass
class Story:
    """The ids and instants of the synthetic scenario."""

    a: UUID  # Bristol, accepted, formulated
    b: UUID  # Bristol, registered only, then erased
    c: UUID  # North Somerset, referred, awaiting screening
    entry: UUID
    before_correction: datetime


def register(
    system: System,
    given: str,
    family: str,
    born: date,
    area: Area,
    meta: Meta,
    nhs: str | None = None,
    upn: str | None = None,
) -> UUID:
    app = cast(ReferralsApplication, system.apps["referrals"])
    return app.register_child(
        given_name=given,
        family_name=family,
        date_of_birth=born,
        area=area,
        nhs_number=nhs,
        upn=upn,
        meta=meta,
    )


def refer(system: System, child: UUID, meta: Meta, accept: bool) -> None:
    app = cast(ReferralsApplication, system.apps["referrals"])
    referral = app.refer(
        child_id=child,
        case_manager_id=meta.actor_id,
        reason="synthetic",
        trauma_history="synthetic",
        expected_involvement_months=9,
        meta=meta,
    )
    app.record_consent(referral, Consent.GIVEN, "carer", meta)
    if accept:
        app.accept(referral, PSY)


def formulate(system: System, child: UUID) -> tuple[UUID, datetime]:
    """Life story at every precision, a same-day correction, a meeting, a report, stages."""
    app = cast(FormulationApplication, system.apps["formulation"])

    def add(when: LifeDate, text: str) -> UUID:
        entry, _ = app.add_timeline_entry(
            child,
            when=when,
            category=TimelineCategory.MOVE,
            description=text,
            source=None,
            sensitivity=Sensitivity.STANDARD,
            meta=PSY,
        )
        return entry

    entry = add(LifeDate.create("exact", on=date(2015, 6, 1)), "Synthetic-move-story")
    add(LifeDate.create("approximate_age", age_years=4), "Synthetic age four")
    add(LifeDate.create("year", year=2014), "Synthetic year entry")
    add(LifeDate.create("month", year=2016, month=2), "Synthetic month entry")
    before = datetime.now(UTC)
    app.correct_timeline_entry(child, entry, WHY, description="Synthetic-corrected-story")
    invitees = [Invitee(Agency.EDUCATION, None), Invitee(Agency.HEALTH, None)]
    meeting, _ = app.schedule_meeting(
        child,
        starts_at=datetime.now(UTC) - timedelta(hours=1),
        venue="Synthetic venue",
        online_link=None,
        invitees=invitees,
        meta=PSY,
    )
    app.record_meeting_held(
        child,
        meeting,
        held_on=date.today(),
        attendance=[
            AttendanceRecord(i.agency, i.contact_id, Attendance.ATTENDED) for i in invitees
        ],
        notes=None,
        meta=PSY,
    )
    app.issue_report(
        child,
        narrative="Synthetic narrative",
        stage=2,
        issued_on=date.today(),
        recommendations=[],
        stage_rationale=None,
        meta=PSY,
    )
    app.assess_stage(child, stage=3, assessed_on=date.today(), rationale="Synthetic", meta=PSY)
    return entry, before


async def scenario(system: System, nats_server: EmbeddedNats) -> Story:
    async with running_node(system.settings, nats_server, system=system):
        a = await in_thread(
            register, system, "Quilla", "Varnthorpe", date(2011, 3, 14), Area.BRISTOL, CM, NHS, UPN
        )
        b = await in_thread(
            register, system, "Quilla", "Varnworth", date(2012, 1, 1), Area.BRISTOL, CM
        )
        c = await in_thread(
            register, system, "Ormund", "Varnthorpe", date(2011, 3, 14), Area.NORTH_SOMERSET, CM_NS
        )
        await in_thread(refer, system, a, CM, True)
        await in_thread(refer, system, c, CM_NS, False)
        formulation = cast(FormulationApplication, system.apps["formulation"])
        reviews = cast(ReviewsApplication, system.apps["reviews"])
        await eventually(lambda: has_case(formulation, a) and has_case(reviews, a), timeout=60)
        entry, before = await in_thread(formulate, system, a)
        await in_thread(reviews.assign_worker, a, "sp-1", PSY)
        await in_thread(erase_child, system, b, AUDITOR, date.today())
        nc = await connect(system.settings, nats_server.url)
        await settled(system, nc.jetstream())
        await nc.close()
    return Story(a, b, c, entry, before)


def headers(
    settings: Settings, role: Role, area: Area | None = None, user: str | None = None
) -> dict[str, str]:
    token = mint_token(settings, user or f"{role}-1", role, area)
    return {"Authorization": f"Bearer {token}"}


def found(client: TestClient, head: dict[str, str], **params: Any) -> set[str]:
    response = client.get("/api/v1/children", params=params, headers=head)
    assert response.status_code == 200, response.text
    return {item["child_id"] for item in response.json()["items"]}


async def test_children_are_found_by_each_key_within_area_scope_and_an_erased_child_is_gone(
    store_settings: Settings, nats_server: EmbeddedNats
) -> None:
    system = System.build(store_settings)
    story = await scenario(system, nats_server)
    assert parked(system) == []
    assert await in_thread(differences, system) == []
    a, c = str(story.a), str(story.c)
    staff = headers(system.settings, Role.PSYCHOLOGIST)
    bristol = headers(system.settings, Role.CASE_MANAGER, Area.BRISTOL, "cm-bristol")
    with TestClient(create_api(system)) as client:
        assert found(client, staff, family_name="varn") == {a, c}
        assert found(client, staff, family_name="VARNTH") == {a, c}
        assert found(client, bristol, family_name="Varn") == {a}
        assert found(client, staff, given_name="quilla") == {a}  # the erased Quilla is gone
        assert found(client, staff, date_of_birth="2011-03-14") == {a, c}
        assert found(client, bristol, date_of_birth="2011-03-14") == {a}
        assert found(client, staff, nhs_number="943 476 5919") == {a}
        assert found(client, staff, upn=UPN.lower()) == {a}
        assert found(client, staff, family_name="varnw") == set()
        assert found(client, staff, given_name="Quilla", date_of_birth="2011-03-14") == {a}
        listed = client.get(
            "/api/v1/children", params={"family_name": "varn"}, headers=bristol
        ).json()["items"]
        assert [(i["given_name"], i["family_name"], i["date_of_birth"]) for i in listed] == [
            ("Quilla", "Varnthorpe", "2011-03-14")
        ]
        bad = client.get("/api/v1/children", params={"nhs_number": "1234567890"}, headers=staff)
        assert bad.status_code == 422 and bad.json()["field"] == "nhs_number"
        other = client.get("/api/v1/children", params={"area": "north_somerset"}, headers=bristol)
        assert other.status_code == 403
    system.close()


async def test_the_index_lists_status_queues_and_workers_attention_first_and_pages(
    settings: Settings, nats_server: EmbeddedNats
) -> None:
    system = System.build(settings)
    story = await scenario(system, nats_server)
    a, b, c = str(story.a), str(story.b), str(story.c)
    staff = headers(system.settings, Role.SENIOR_PRACTITIONER, user="sp-1")
    with TestClient(create_api(system)) as client:
        page = client.get("/api/v1/children", headers=staff).json()
        assert page["total"] == 3
        order = [i["child_id"] for i in page["items"]]
        assert order == [c, a, b]  # awaiting screening, open work, erased last
        rows = {i["child_id"]: i for i in page["items"]}
        assert rows[c]["status"] == "screening"  # consent given, awaiting the decision
        assert (rows[a]["status"], rows[a]["stage"], rows[a]["worker_id"]) == ("reviews", 3, "sp-1")
        assert rows[a]["psychologist_id"] == "psy-1"
        assert (rows[b]["status"], rows[b]["given_name"]) == ("erased", None)
        assert found(client, staff, queue="screening") == {c}
        assert found(client, staff, queue="review_due") == {a}  # made due by the report
        assert found(client, staff, queue="review_overdue") == set()
        assert found(client, staff, queue="meeting_to_schedule") == set()
        assert found(client, staff, mine="true") == {a}
        assert found(client, staff, worker="cm-ns") == {c}
        assert found(client, staff, status="erased") == {b}
        second = client.get(
            "/api/v1/children", params={"limit": 1, "offset": 1}, headers=staff
        ).json()
        assert (second["total"], [i["child_id"] for i in second["items"]]) == (3, [a])
        then = client.get(
            "/api/v1/children",
            params={"as_of": story.before_correction.isoformat()},
            headers=staff,
        ).json()
        was = {i["child_id"]: i for i in then["items"]}
        assert (was[a]["status"], was[a]["stage"]) == ("formulation", None)  # before the report
        assert was[b]["status"] == "registered"  # not erased yet then
        queues = client.get("/api/v1/queues", headers=staff).json()
        assert queues["screening"] == {
            "count": 1,
            "by_area": {"north_somerset": 1},
            "by_worker": {"cm-ns": 1},
        }
        ns = headers(system.settings, Role.CASE_MANAGER, Area.BRISTOL)
        assert client.get("/api/v1/queues", headers=ns).json()["screening"]["count"] == 0
    system.close()


def items(client: TestClient, child: str, head: dict[str, str], **params: Any) -> Any:
    response = client.get(f"/api/v1/children/{child}/timeline", params=params, headers=head)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_the_whole_story_is_ordered_across_services_and_shown_as_at_any_instant(
    store_settings: Settings, nats_server: EmbeddedNats
) -> None:
    system = System.build(store_settings)
    story = await scenario(system, nats_server)
    a = str(story.a)
    psy = headers(system.settings, Role.PSYCHOLOGIST)
    with TestClient(create_api(system)) as client:
        story_items = items(client, a, psy, kind="life_story")
        assert [(i["on"], i["precision"], i["details"]["description"]) for i in story_items] == [
            ("2014-01-01", "year", "Synthetic year entry"),
            ("2015-03-14", "approximate_age", "Synthetic age four"),  # age 4, born 14/3/2011
            ("2015-06-01", "exact", "Synthetic-corrected-story"),
            ("2016-02-01", "month", "Synthetic month entry"),
        ]
        everything = items(client, a, psy)
        kinds = [i["kind"] for i in everything]
        assert kinds[:4] == ["life_story"] * 4
        for kind in (
            "registration",
            "referral",
            "consent",
            "screening",
            "meeting",
            "report",
            "stage",
        ):
            assert kind in kinds, kind
        assert kinds.index("registration") < kinds.index("referral") < kinds.index("screening")
        stages = [
            (i["event_type"], i["stage_in_force"], i["movement"])
            for i in everything
            if i["kind"] in ("report", "stage")
        ]
        assert ("StageAssessed", 3, "up") in stages
        assert everything[-1]["stage_in_force"] == 3
        held = next(i for i in everything if i["event_type"] == "FormulationMeetingHeld")
        assert {x["agency"] for x in held["details"]["attendance"]} == {"education", "health"}
        scheduled = next(i for i in everything if i["event_type"] == "FormulationMeetingScheduled")
        assert scheduled["details"]["venue"] == "Synthetic venue"
        assert scheduled["recorded_by"] == {"id": "psy-1", "role": "psychologist"}

        then = story.before_correction.isoformat()
        past = items(client, a, psy, kind="life_story", as_of=then)
        assert "Synthetic-move-story" in [i["details"]["description"] for i in past]
        assert "Synthetic-corrected-story" not in [i["details"]["description"] for i in past]
        corrected = next(
            i
            for i in items(client, a, psy, as_of=datetime.now(UTC).isoformat())
            if i["item_key"] == str(story.entry)
        )
        assert corrected["details"]["description"] == "Synthetic-corrected-story"
        assert corrected["reason"] == WHY.reason

        ranged = items(client, a, psy, **{"from": "2015-01-01", "to": "2015-12-31"})
        assert [i["on"] for i in ranged] == ["2015-03-14", "2015-06-01"]
        paged = client.get(
            f"/api/v1/children/{a}/timeline", params={"limit": 2, "offset": 1}, headers=psy
        ).json()
        assert [i["on"] for i in paged["items"]] == ["2015-03-14", "2015-06-01"]
        assert paged["total"] == len(everything)

        ns = headers(system.settings, Role.CASE_MANAGER, Area.NORTH_SOMERSET)
        hidden = client.get(f"/api/v1/children/{a}/timeline", headers=ns)
        missing = client.get(f"/api/v1/children/{uuid4()}/timeline", headers=ns)
        assert hidden.status_code == missing.status_code == 404
        assert hidden.json() == missing.json()
        bad = client.get(
            f"/api/v1/children/{a}/timeline", params={"as_of": "yesterday"}, headers=psy
        )
        assert bad.status_code == 422 and bad.json()["field"] == "as_of"
    system.close()


def read_model_files(settings: Settings) -> list[Path]:
    folder = settings.sqlite_path("children-read").parent
    return [p for p in folder.iterdir() if p.name.startswith(("children-read", "timeline-read"))]


async def test_no_searched_or_personal_value_is_kept_in_plaintext_by_the_read_models(
    settings: Settings, nats_server: EmbeddedNats
) -> None:
    system = System.build(settings)
    await scenario(system, nats_server)
    system.close()
    await asyncio.sleep(0)
    files = read_model_files(settings)
    assert any(p.name == "children-read.sqlite" for p in files)
    assert any(p.name == "timeline-read.sqlite" for p in files)
    for path in files:
        raw = path.read_bytes()
        for value in SEARCHED:
            assert value.encode() not in raw, f"{value} in {path.name}"
            assert value.encode("utf-16-le") not in raw, f"{value} in {path.name}"


def later(system: System, child: UUID) -> None:
    """Work, a restricted entry, a transition, supervision and closure with a safety net."""
    formulation = cast(FormulationApplication, system.apps["formulation"])
    reviews = cast(ReviewsApplication, system.apps["reviews"])
    work, _, _ = formulation.plan_intervention(
        child,
        intervention_type="Synthetic PACE work",
        stage=2,
        owning_agency=Agency.YJS,
        planned_start=date.today(),
        recommendation_id=None,
        override_rationale=None,
        meta=PSY,
    )
    formulation.start_intervention(child, work, date.today(), PSY)
    formulation.record_session(child, work, date.today(), "Synthetic session note", PSY)
    formulation.add_timeline_entry(
        child,
        when=LifeDate.create("year", year=2017),
        category=TimelineCategory.ADVERSE_EXPERIENCE,
        description="Synthetic-restricted-story",
        source=None,
        sensitivity=Sensitivity.RESTRICTED,
        meta=PSY,
    )
    reviews.record_transition(
        child, TransitionKind.SCHOOL_MOVE, date.today(), "Synthetic Academy", PSY
    )
    reviews.log_supervision(
        practitioner_id="cm-bristol",
        supervisor_id="psy-1",
        held_on=date.today(),
        kind=SupervisionKind.CLINICAL_SUPERVISION,
        children=[child],
        themes="Synthetic themes",
        meta=PSY,
    )
    reviews.close_case(
        child,
        date.today(),
        date.today() + timedelta(days=90),
        PSY.with_reason("goals met (synthetic)"),
    )


async def test_the_whole_story_shows_work_and_closure_and_hides_what_a_reader_may_not_see(
    settings: Settings, nats_server: EmbeddedNats
) -> None:
    system = System.build(settings)
    story = await scenario(system, nats_server)
    async with running_node(system.settings, nats_server, system=system):
        await in_thread(later, system, story.a)
        nc = await connect(system.settings, nats_server.url)
        await settled(system, nc.jetstream())
        await nc.close()
    assert parked(system) == []
    assert await in_thread(differences, system) == []
    a = str(story.a)
    psy = headers(system.settings, Role.PSYCHOLOGIST)
    cm = headers(system.settings, Role.CASE_MANAGER, Area.BRISTOL, "cm-bristol")
    with TestClient(create_api(system)) as client:
        staff_view = items(client, a, psy)
        by_type = {i["event_type"]: i for i in staff_view}
        for event_type in (
            "InterventionPlanned",
            "InterventionStarted",
            "InterventionSessionRecorded",
            "TransitionRecorded",
            "SupervisionLogged",
            "CaseClosed",
        ):
            assert event_type in by_type, event_type
        assert by_type["TransitionRecorded"]["details"]["receiving_organisation"] == (
            "Synthetic Academy"
        )
        assert by_type["InterventionSessionRecorded"]["stage_in_force"] == 3
        assert by_type["CaseClosed"]["reason"] == "goals met (synthetic)"
        assert (
            by_type["CaseClosed"]["details"]["safety_net_until"]
            == (date.today() + timedelta(days=90)).isoformat()
        )
        restricted = [i for i in staff_view if i["details"].get("sensitivity") == "restricted"]
        assert restricted[0]["details"]["description"] == "Synthetic-restricted-story"

        cm_view = items(client, a, cm)
        assert "SupervisionLogged" not in {i["event_type"] for i in cm_view}
        (withheld,) = [i for i in cm_view if i["details"].get("sensitivity") == "restricted"]
        assert withheld["withheld"] is True and withheld["details"]["description"] is None
        assert len(cm_view) == len(staff_view) - 1

        row = client.get("/api/v1/children", params={"status": "closed"}, headers=psy).json()
        (closed,) = row["items"]
        assert closed["child_id"] == a
        assert closed["safety_net_until"] == (date.today() + timedelta(days=90)).isoformat()
        assert closed["review_due_on"] is None
    system.close()


async def test_a_corrected_name_or_date_of_birth_is_found_and_placed_by_its_new_value(
    settings: Settings, nats_server: EmbeddedNats
) -> None:
    system = System.build(settings)
    story = await scenario(system, nats_server)
    referrals = cast(ReferralsApplication, system.apps["referrals"])
    fixed = CM.with_reason("the family name was misspelt at registration (synthetic)")
    before = datetime.now(UTC)
    async with running_node(system.settings, nats_server, system=system):
        await in_thread(referrals.correct_child, story.a, "family_name", "Kestrelby", fixed)
        await in_thread(referrals.correct_child, story.a, "date_of_birth", date(2012, 3, 14), fixed)
        nc = await connect(system.settings, nats_server.url)
        await settled(system, nc.jetstream())
        await nc.close()
    assert await in_thread(differences, system) == []
    a, c = str(story.a), str(story.c)
    psy = headers(system.settings, Role.PSYCHOLOGIST)
    with TestClient(create_api(system)) as client:
        assert found(client, psy, family_name="varn") == {c}
        assert found(client, psy, family_name="kestrel") == {a}
        assert found(client, psy, date_of_birth="2011-03-14") == {c}
        assert found(client, psy, date_of_birth="2012-03-14") == {a}
        ages = [
            i
            for i in items(client, a, psy, kind="life_story")
            if i["precision"] == "approximate_age"
        ]
        assert [i["on"] for i in ages] == ["2016-03-14"]  # age 4 of the corrected birth date
        earlier = items(client, a, psy, kind="life_story", as_of=before.isoformat())
        ages = [i["on"] for i in earlier if i["precision"] == "approximate_age"]
        assert ages == ["2015-03-14"]  # as it stood: the birth date known then
        corrections = items(client, a, psy, kind="correction")
        assert [i["details"] for i in corrections] == [
            {"field": "family_name"},
            {"field": "date_of_birth"},
        ]
    system.close()
