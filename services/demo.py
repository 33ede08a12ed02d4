"""Synthetic demonstration cohorts, made through the real use cases. Never real children.

`seed` gives each child a believable history over the last `years`: referral, screening
(declines, withdrawals, consultations), consent, formulation meeting with partner
attendance, report and TRM stage, interventions (a few out of sequence under a
psychologist's override), reviews on a cadence (some late, some missed and flagged overdue)
with stages moving up and down, transitions, closure, and offending before and after
referral for some. Every step runs on the synthetic day it happens (the clock is moved with
time-machine), so event timestamps are as believable as the dates inside them. The same seed
gives the same histories (internal ids aside: those are random by design).

The application services are called directly, not over HTTP, for speed. Where the running
system would act on a message (open the formulation and review cases on acceptance, make the
first review due on the report, take a review's stage back to formulation) the same
idempotent use case is called here, so the live consumers later find nothing left to do.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable, Generator
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any
from uuid import UUID

import time_machine
from stdnum.gb import upn as upn_number

from services.referrals.domain import Consent
from services.referrals.outcomes import Disposal, OffenceType, Outcomes
from shared.domain import Area, DomainError, Meta
from shared.meetings import AttendanceRecord, Invitee
from shared.vocabulary import Agency, Attendance

if TYPE_CHECKING:
    from services.runtime import System

Step = tuple[datetime, Callable[[], Any]]
Steps = Generator[Step, Any, Any]
"""A history: yields (moment, step), is sent the step's result (or thrown its error)."""

GIVEN = [
    "Alex",
    "Sam",
    "Jordan",
    "Riley",
    "Casey",
    "Morgan",
    "Taylor",
    "Jamie",
    "Quinn",
    "Rowan",
    "Avery",
    "Reese",
    "Skyler",
    "Emerson",
    "Finley",
    "Harley",
    "Kai",
    "Logan",
    "Parker",
    "Sasha",
]
FAMILY = [
    "Testington",
    "Synthetica",
    "Fakeworth",
    "Demoson",
    "Placeholder",
    "Sampleby",
    "Mockford",
    "Dummett",
    "Pretendle",
    "Fictonby",
    "Imaginary",
    "Notreal",
]
REASONS = [
    "Synthetic: repeated exclusions and escalating risk in the community",
    "Synthetic: disengagement from YJS appointments; history of multiple care moves",
    "Synthetic: violent offence following bereavement; professionals struggling to engage",
]
TRAUMA = [
    "Synthetic: loss of a parent aged 7; domestic abuse witnessed; three placement moves",
    "Synthetic: neglect in early childhood; school exclusion aged 12",
    "Synthetic: bereavement of a sibling; exploitation concerns",
]
INTERVENTIONS = {
    1: "Synthetic: consistent appointment times and routine",
    2: "Synthetic: key adult one-to-one time (PACE)",
    3: "Synthetic: bereavement work with a trusted adult",
    4: "Synthetic: chain analysis and victim empathy",
    5: "Synthetic: guided goal setting into training",
    6: "Synthetic: safety-net text contact",
}
PARTNERS = [Agency.YJS, Agency.EDUCATION, Agency.HEALTH, Agency.SOCIAL_CARE, Agency.POLICE]
OFFENCES = [t for t in OffenceType if t is not OffenceType.BREACH]
LA_CODES = {
    Area.BRISTOL: "801",
    Area.NORTH_SOMERSET: "802",
    Area.SOUTH_GLOUCESTERSHIRE: "803",
    Area.BANES: "800",
}


def synthetic_nhs_number(rng: random.Random) -> str:
    """A valid-looking NHS number in the 999 test range (Modulus 11 check digit)."""
    while True:
        digits = [9, 9, 9] + [rng.randint(0, 9) for _ in range(6)]
        total = sum(d * w for d, w in zip(digits, range(10, 1, -1), strict=True))
        check = 11 - total % 11
        if check == 11:
            check = 0
        if check != 10:
            return "".join(map(str, digits)) + str(check)


def synthetic_upn(rng: random.Random, area: Area) -> str:
    """A valid Unique Pupil Number for a school of the child's area (check letter first)."""
    school, year, serial = rng.randint(2000, 2999), rng.randint(10, 99), rng.randint(0, 999)
    body = f"{LA_CODES[area]}{school}{year}{serial:03d}"
    return str(upn_number.calc_check_digit(body)) + body


class Child:
    """One synthetic child's history as it is being made: the day it has reached."""

    def __init__(
        self, system: System, rng: random.Random, area: Area, referred_on: date, today: date
    ) -> None:
        self.s = system
        self.rng = rng
        self.area = area
        self.day = referred_on
        self.today = today
        correlation = str(UUID(int=rng.getrandbits(128)))
        self.cm = Meta(f"demo-cm-{area}", "case_manager", correlation, correlation)
        self.psych = Meta("demo-psychologist", "psychologist", correlation, correlation)
        self.sp = Meta("demo-senior-practitioner", "senior_practitioner", correlation, correlation)
        self.child_id: UUID | None = None
        self.stage = 1
        self.moment = datetime.combine(referred_on, time(9), tzinfo=UTC)

    def at(self, day: date, step: Callable[[], Any]) -> Steps:
        """Run `step` on `day` (never before the moment reached so far); None past today."""
        day = max(day, self.day)
        if day > self.today:
            return None
        if day > self.day or self.moment.date() < day:
            moment = datetime.combine(day, time(9), tzinfo=UTC) + timedelta(
                minutes=self.rng.randint(0, 420)
            )
        else:  # the same day: a little later than the step before
            moment = self.moment + timedelta(minutes=self.rng.randint(1, 20))
        self.day, self.moment = day, moment
        result = yield moment, step
        return result

    def later(self, low: int, high: int) -> date:
        """A day `low` to `high` days after the day reached."""
        return self.day + timedelta(days=self.rng.randint(low, high))


def seed(
    system: System,
    children: int = 8,
    seed_value: int = 2019,
    years: float = 1.0,
    today: date | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Make `children` synthetic histories over the last `years`; returns counts.

    The histories run side by side in time order (each step on its synthetic moment), so
    every store holds its events in time order, as a live system would.
    """
    rng = random.Random(seed_value)
    end = today or date.today()
    span = max(int(years * 365) - 21, 1)
    start = end - timedelta(days=span + 21)
    made = {"children": 0, "referrals": 0, "formulations": 0, "reviews": 0, "offences": 0}
    areas = list(Area)
    queue: list[tuple[datetime, int, int, Steps, Callable[[], Any]]] = []
    remaining: dict[int, int] = {}  # per child: histories not yet finished
    order = 0

    def advance(
        index: int, history: Steps, sent: Any = None, error: DomainError | None = None
    ) -> None:
        nonlocal order
        try:
            moment, step = history.throw(error) if error else history.send(sent)
        except StopIteration:
            remaining[index] -= 1
            if remaining[index] == 0 and progress:
                progress(1)
            return
        order += 1  # ties keep the order they were scheduled in
        heapq.heappush(queue, (moment, order, index, history, step))

    for index in range(children):
        area = areas[index % len(areas)] if rng.random() < 0.5 else rng.choice(areas)
        referred_on = start + timedelta(days=rng.randint(0, span))
        child = Child(system, random.Random(f"{seed_value}:{index}"), area, referred_on, end)
        offences = _offending(child)
        histories = (_history(child, made), _record_offences(child, offences, made))
        remaining[index] = len(histories)
        for history in histories:
            advance(index, history)
    while queue:
        moment, _, index, history, step = heapq.heappop(queue)
        with time_machine.travel(moment, tick=False):
            try:
                result, error = step(), None
            except DomainError as e:
                result, error = None, e
        advance(index, history, result, error)
    return made


def _history(c: Child, made: dict[str, int]) -> Steps:
    referrals: Any = c.s.apps["referrals"]
    rng = c.rng
    age_days = rng.randint(10 * 365 + 3, 17 * 365 + 200)
    dob = c.day - timedelta(days=age_days)
    upn = synthetic_upn(rng, c.area) if rng.random() < 0.8 else None
    c.child_id = yield from c.at(
        c.day,
        lambda: referrals.register_child(
            given_name=rng.choice(GIVEN),
            family_name=rng.choice(FAMILY),
            date_of_birth=dob,
            area=c.area,
            nhs_number=synthetic_nhs_number(rng),
            upn=upn,
            meta=c.cm,
        ),
    )
    made["children"] += 1
    referral_id = yield from c.at(
        c.day,
        lambda: referrals.refer(
            child_id=c.child_id,
            case_manager_id=c.cm.actor_id,
            reason=rng.choice(REASONS),
            trauma_history=rng.choice(TRAUMA),
            expected_involvement_months=rng.choice([6, 9, 12]),
            meta=c.cm,
        ),
    )
    made["referrals"] += 1
    roll = rng.random()
    screened = c.later(3, 14)
    if roll < 0.13:
        (
            yield from c.at(
                screened,
                lambda: referrals.decline(
                    referral_id, c.psych.with_reason("Synthetic: criteria not met")
                ),
            )
        )
    elif roll < 0.2:
        (
            yield from c.at(
                screened,
                lambda: referrals.withdraw(
                    referral_id, c.cm.with_reason("Synthetic: family moved away")
                ),
            )
        )
    elif roll < 0.35:
        (yield from c.at(screened, lambda: referrals.offer_consultation(referral_id, c.psych)))
    else:
        consent = Consent.GIVEN if rng.random() < 0.9 else Consent.REFUSED
        (
            yield from c.at(
                c.later(1, 10),
                lambda: referrals.record_consent(referral_id, consent, "parent (synthetic)", c.cm),
            )
        )
        if consent is Consent.REFUSED:  # no formulation without consent: the referral ends
            (
                yield from c.at(
                    c.later(3, 21),
                    lambda: referrals.withdraw(
                        referral_id, c.cm.with_reason("Synthetic: consent to formulation refused")
                    ),
                )
            )
        else:
            accepted = yield from c.at(
                c.later(1, 7), lambda: referrals.accept(referral_id, c.psych)
            )
            if accepted is not None:
                yield from _formulation(c, referral_id, made)


Offence = tuple[date, OffenceType, date, date, Disposal]


def _offending(c: Child) -> list[Offence]:
    """Some children offended before referral; some of them again after it."""
    referred_on = c.day
    if c.rng.random() >= 0.45:
        return []
    offences = _offences(
        c,
        referred_on - timedelta(days=500),
        referred_on - timedelta(days=20),
        c.rng.randint(1, 3),
        record_on=referred_on,
    )
    if c.rng.random() < 0.6:
        offences += _offences(
            c,
            referred_on,
            min(c.today, referred_on + timedelta(days=540)),
            c.rng.randint(1, 3),
            record_on=None,
        )
    return offences


def _offences(
    c: Child, first: date, last: date, count: int, record_on: date | None
) -> list[tuple[date, OffenceType, date, date, Disposal]]:
    """Offences committed in [first, last]: (day recorded, type, committed, proven, outcome)."""
    rng = c.rng
    found: list[tuple[date, OffenceType, date, date, Disposal]] = []
    if last <= first:
        return found
    for _ in range(count):
        committed = first + timedelta(days=rng.randint(0, (last - first).days))
        breach = rng.random() < 0.15
        proven = committed + timedelta(days=rng.randint(10, 240))
        kind = OffenceType.BREACH if breach else rng.choice(OFFENCES)
        outcome = (
            Disposal.BREACH_PROVEN
            if breach
            else rng.choice(
                [
                    Disposal.CONVICTION,
                    Disposal.CONVICTION,
                    Disposal.YOUTH_CAUTION,
                    Disposal.YOUTH_CONDITIONAL_CAUTION,
                ]
            )
        )
        found.append((max(record_on or proven, proven), kind, committed, proven, outcome))
    return found


def _record_offences(c: Child, offences: list[Offence], made: dict[str, int]) -> Steps:
    """Record each offence on the day it is known (proven, or told at referral), in order,
    always after the child was registered (late on the referral day at the earliest)."""
    outcomes = Outcomes(c.s.apps["referrals"])  # type: ignore[arg-type]
    moment = datetime.combine(c.day, time(23, 30), tzinfo=UTC)
    for day, kind, committed, proven, outcome in sorted(offences, key=lambda o: o[0]):
        if day > c.today:
            continue
        moment = max(moment + timedelta(minutes=1), datetime.combine(day, time(18), tzinfo=UTC))
        yield moment, partial(_record_offence, outcomes, c, kind, committed, proven, outcome, day)
        made["offences"] += 1


def _record_offence(
    outcomes: Outcomes,
    c: Child,
    kind: OffenceType,
    committed: date,
    proven: date,
    outcome: Disposal,
    day: date,
) -> UUID:
    assert c.child_id is not None  # registered before any offence is recorded
    return outcomes.record_offence(
        c.child_id,
        offence_type=kind,
        committed_on=committed,
        proven_on=proven,
        outcome=outcome,
        meta=c.cm,
        today=day,
    )


def _formulation(c: Child, referral_id: UUID, made: dict[str, int]) -> Steps:
    from services.formulation.values import case_id_for

    formulation: Any = c.s.apps.get("formulation")
    reviews: Any = c.s.apps.get("reviews")
    if formulation is None or reviews is None:
        return
    rng = c.rng
    child_id = c.child_id
    assert child_id is not None
    (yield from c.at(c.day, lambda: formulation.open_case(child_id, referral_id, c.area, c.psych)))
    (
        yield from c.at(
            c.day,
            lambda: reviews.open_case(child_id, c.area, referral_id, case_id_for(child_id), c.sp),
        )
    )
    (yield from c.at(c.day, lambda: reviews.set_cadence(child_id, rng.choice([6, 6, 7, 8]), c.sp)))
    invited = [a for a in PARTNERS if a is Agency.YJS or rng.random() < 0.8]
    meeting_on = c.later(14, 45)
    starts = datetime.combine(meeting_on, time(10), tzinfo=UTC)
    meeting = yield from c.at(
        meeting_on,
        lambda: formulation.schedule_meeting(
            child_id,
            starts_at=starts,
            venue="Synthetic YJS office",
            online_link=None,
            invitees=[Invitee(a) for a in invited],
            meta=c.sp,
        ),
    )
    if meeting is None:
        return
    meeting_id = meeting[0]
    held = yield from c.at(
        meeting_on,
        lambda: formulation.record_meeting_held(
            child_id,
            meeting_id,
            held_on=meeting_on,
            attendance=_attendance(rng, invited),
            notes="Synthetic meeting notes",
            meta=c.sp,
        ),
    )
    if held is None:
        return
    made["formulations"] += 1
    c.stage = rng.choices([1, 2, 3, 4, 5], weights=[35, 30, 20, 10, 5])[0]
    issued_on = c.later(7, 28)
    report = yield from c.at(
        issued_on,
        lambda: formulation.issue_report(
            child_id,
            narrative="Synthetic formulation narrative",
            stage=c.stage,
            issued_on=issued_on,
            recommendations=[],
            stage_rationale=None,
            meta=c.psych,
        ),
    )
    if report is None:
        return
    case_id = case_id_for(child_id)
    yield from c.at(
        issued_on,
        lambda: reviews.note_report_issued(
            child_id, case_id, report[0], c.stage, issued_on, c.psych
        ),
    )
    plans = yield from _interventions(c, formulation)
    closing = issued_on + timedelta(days=rng.randint(150, 360))
    while c.day < min(closing, c.today):
        review = reviews.get_record(child_id).current_review
        if review is None:
            break
        late = rng.random()
        if late < 0.1:  # missed: noticed overdue, then held much later or never
            yield from c.at(
                review.due_on + timedelta(days=1), lambda: _notice_overdue(reviews, child_id, c.sp)
            )
            if rng.random() < 0.5:
                break
            held_on = review.due_on + timedelta(days=rng.randint(14, 40))
        elif late < 0.3:
            yield from c.at(
                review.due_on + timedelta(days=1), lambda: _notice_overdue(reviews, child_id, c.sp)
            )
            held_on = review.due_on + timedelta(days=rng.randint(2, 14))
        else:
            held_on = review.due_on - timedelta(days=rng.randint(0, 6))
        if not (yield from _review(c, reviews, formulation, review.review_id, held_on, invited)):
            break
        made["reviews"] += 1
        yield from _progress(c, formulation, plans)
        if rng.random() < 0.12:
            yield from _transition(c, reviews)
    if c.day < c.today and rng.random() < 0.7:
        ending = c.sp.with_reason("Synthetic: planned ending")
        (
            yield from c.at(
                c.later(1, 10),
                lambda: reviews.close_case(child_id, c.day, c.day + timedelta(days=90), ending),
            )
        )
        referrals: Any = c.s.apps.get("referrals")
        if referrals is not None:  # the case lifecycle's process manager, done here
            (yield from c.at(c.day, lambda: referrals.close_with_case(child_id, ending)))


def _attendance(rng: random.Random, invited: list[Agency]) -> list[AttendanceRecord]:
    return [
        AttendanceRecord(
            a,
            None,
            rng.choices(
                [Attendance.ATTENDED, Attendance.APOLOGIES, Attendance.DID_NOT_ATTEND],
                weights=[75, 15, 10],
            )[0],
        )
        for a in invited
    ]


def _interventions(c: Child, formulation: Any) -> Steps:
    rng = c.rng
    plans = []
    for _ in range(rng.randint(1, 3)):
        allowed = [s for s in range(1, 7) if (s < 2 or c.stage >= 2) and (s < 4 or c.stage >= 4)]
        override = rng.random() < 0.1 and len(allowed) < 6
        stage = (
            rng.choice([s for s in range(1, 7) if s not in allowed])
            if override
            else rng.choice(allowed[-3:])
        )
        day = c.later(0, 7)
        planned = yield from c.at(
            day,
            partial(
                formulation.plan_intervention,
                c.child_id,
                intervention_type=INTERVENTIONS[stage],
                stage=stage,
                owning_agency=Agency.YJS,
                planned_start=day,
                recommendation_id=None,
                override_rationale="Synthetic: the child asked for this work now"
                if override
                else None,
                meta=c.psych,
            ),
        )
        if planned is not None:
            plans.append(planned[0])
    return plans


def _progress(c: Child, formulation: Any, plans: list[UUID]) -> Steps:
    rng = c.rng
    case = formulation.get_case(c.child_id)
    for intervention_id in plans:
        status = str(case.interventions[intervention_id].status)
        roll = rng.random()
        if status == "planned" and roll < 0.8:
            yield from c.at(
                c.day,
                partial(formulation.start_intervention, c.child_id, intervention_id, c.day, c.sp),
            )
        elif status == "started" and roll < 0.45:
            (
                yield from c.at(
                    c.day,
                    partial(
                        formulation.complete_intervention, c.child_id, intervention_id, c.day, c.sp
                    ),
                )
            )
        elif status == "started" and roll < 0.55:
            yield from c.at(
                c.day,
                partial(
                    formulation.stop_intervention,
                    c.child_id,
                    intervention_id,
                    c.day,
                    c.sp.with_reason("Synthetic: the child disengaged"),
                ),
            )


def _review(
    c: Child, reviews: Any, formulation: Any, review_id: UUID, held_on: date, invited: list[Agency]
) -> Steps:
    rng = c.rng
    starts = datetime.combine(max(held_on, c.day), time(14), tzinfo=UTC)
    if (
        yield from c.at(
            starts.date(),
            lambda: reviews.schedule_review(
                c.child_id,
                review_id,
                starts,
                "Synthetic YJS office",
                None,
                [Invitee(a) for a in invited],
                c.sp,
            ),
        )
    ) is None:
        return False
    move = rng.choices([-1, 0, 1], weights=[15, 45, 40])[0]
    stage = min(6, max(1, c.stage + move))
    rationale = "Synthetic: what changed in the child's life" if stage != c.stage else None
    if (
        yield from c.at(
            starts.date(),
            lambda: reviews.record_review_held(
                c.child_id,
                review_id,
                held_on=starts.date(),
                attendance=_attendance(rng, invited),
                stage=stage,
                rationale=rationale,
                progress=[],
                actions=[],
                next_review_on=None,
                meta=c.sp,
            ),
        )
    ) is None:
        return False
    c.stage = stage
    (
        yield from c.at(
            c.day,
            lambda: formulation.record_review_assessment(
                c.child_id,
                review_id=review_id,
                stage=stage,
                assessed_on=c.day,
                rationale=rationale,
                meta=c.sp,
            ),
        )
    )
    return True


def _notice_overdue(reviews: Any, child_id: UUID, meta: Meta) -> bool:
    """What the daily tick does, for this one case (the tick itself walks every case)."""
    changed: bool = reviews.notice_overdue(child_id, date.today(), meta)
    return changed


def _transition(c: Child, reviews: Any) -> Steps:
    from services.reviews.values import RECEIVING_ORGANISATION_OPTIONAL, TransitionKind

    kind = c.rng.choice(list(TransitionKind))
    organisation = (
        None if kind in RECEIVING_ORGANISATION_OPTIONAL else "Synthetic receiving organisation"
    )
    try:
        yield from c.at(
            c.day, lambda: reviews.record_transition(c.child_id, kind, c.day, organisation, c.sp)
        )
    except DomainError:  # e.g. leaving custody while not in custody: not this child's story
        return


async def publish_in_time_order(
    system: System, nats_url: str, progress: Callable[[int], None] | None = None
) -> int:
    """Publish every stored event to the stream in time order across services, through each
    service's own relay (so a seeded folder's stream is causal: a child's registration comes
    before their formulation). For a folder seeded with the system stopped."""
    from shared.bus import connect, ensure_stream
    from shared.natsauth import Identity, identity_for
    from shared.relay import PositionStore, Relay

    settings = system.settings
    nc = await connect(settings, nats_url, name="ecm-demo")
    connections = {settings.nats_user: nc}
    published = 0
    try:
        await ensure_stream(nc.jetstream(), settings)
        positions = PositionStore(system.ops)
        relays = []
        for plugin in system.plugins:
            app = system.apps.get(plugin.name)
            if app is None or plugin.contracts is None:
                continue
            identity = identity_for(
                plugin.name,
                settings.nats_identities_dir,
                Identity(settings.nats_user, settings.nats_password),
            )
            if identity.user not in connections:
                connections[identity.user] = await connect(
                    settings, nats_url, name=identity.user or "ecm", identity=identity
                )
            relay = Relay(
                app,
                plugin.contracts,
                connections[identity.user].jetstream(),
                positions,
                system.keys,
                batch_size=1,
            )
            await relay.resume()
            relays.append(relay)
        pending = {id(r): _pending_times(r) for r in relays}
        while True:
            live = [r for r in relays if pending[id(r)]]
            if not live:
                return published
            live.sort(key=lambda r: pending[id(r)][0])
            first = live[0]
            # Publish this relay's run of events up to the next service's first event.
            until = pending[id(live[1])][0] if len(live) > 1 else None
            times = pending[id(first)]
            run = len(times) if until is None else max(1, _leading(times, until))
            first.batch_size = run
            covered = await first.publish_pending()
            published += covered
            if progress:
                progress(covered)
            pending[id(first)] = times[covered:] or _pending_times(first)
    finally:
        for connection in connections.values():
            await connection.drain()


def _leading(times: list[datetime], until: datetime) -> int:
    """How many of `times`, from the first, are no later than `until`."""
    return sum(1 for _ in itertools.takewhile(lambda t: t <= until, times))


def _pending_times(relay: Any, limit: int = 500) -> list[datetime]:
    """The timestamps of the next unpublished notifications of a relay's store."""
    notifications = relay.app.notifications(relay.position + 1, limit)
    mapper = relay.app.mapper
    return [mapper.to_sealed_domain_event(n).timestamp for n in notifications]


def publish_offline(system: System, progress: Callable[[int], None] | None = None) -> int:
    """Start the folder's embedded NATS on a free port, publish the seeded events in time
    order, stop it again (the system itself is not running)."""
    import asyncio

    from shared.natsauth import Identity, embedded_users
    from shared.natsserver import EmbeddedNats

    settings = system.settings
    assert settings.nats_identities_dir is not None
    users = embedded_users(
        Identity(settings.nats_user, settings.nats_password),
        settings.nats_identities_dir,
        system.nats_services(),
    )
    nats = EmbeddedNats(
        settings.data_path / "nats",
        port=0,
        user=settings.nats_user,
        password=settings.nats_password,
        sync_interval=settings.nats_sync_interval,
        users=users,
    )
    nats.start()
    try:
        return asyncio.run(publish_in_time_order(system, nats.url, progress))
    finally:
        nats.stop()
