"""The measures the ECM evaluations report, computed from the evaluation read model.

Everything here is pure computation over rows already read: no clock (the `as_of` day is a
parameter), no randomness, no identifiers out. Dates leave only as days since the child's
index referral; ages only as bands. Definitions live in `dictionary.py`, one per field.
"""

from __future__ import annotations

import calendar
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Engine, select

from services.evaluation.projection import (
    attendance,
    cadences,
    children,
    consents,
    interventions,
    metadata,
    offences,
    referrals,
    reviews,
    stages,
    transitions,
)

PROVEN = frozenset({"conviction", "youth_caution", "youth_conditional_caution"})
BREACH = "breach_proven"
AGENCIES = (
    "yjs",
    "education",
    "health",
    "camhs",
    "social_care",
    "police",
    "family",
    "ecm",
    "other",
)
ATTENDANCE = ("attended", "apologies", "did_not_attend")
OUTCOMES = ("accepted", "consultation", "declined", "withdrawn", "awaiting_screening")
PATHWAY = (
    "awaiting_screening",
    "declined",
    "withdrawn",
    "consultation",
    "accepted_no_consent",
    "consent_refused_or_withdrawn",
    "consent_given_awaiting_meeting",
    "formulation_meeting_held",
    "report_issued",
    "reviewed",
)
TRANSITIONS = (
    "entering_custody",
    "leaving_custody",
    "school_move",
    "placement_move",
    "transfer_to_adult_services",
    "transfer_to_probation",
)
AGE_BANDS = ("under_12", "12_13", "14_15", "16_17", "18_plus")


@dataclass(frozen=True)
class Parameters:
    """What an export covers: children first referred in [start, end], as the record stood
    at the end of `as_of`, in one area or all."""

    project: str
    start: date
    end: date
    as_of: date
    area: str | None = None
    threshold: int = 5

    def as_dict(self) -> dict[str, Any]:
        """For parameters.json and the report."""
        return {
            "project": self.project,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "as_of": self.as_of.isoformat(),
            "area": self.area or "all",
            "suppression_threshold": self.threshold,
        }


def add_months(day: date, months: int) -> date:
    """The same day `months` later (the month's last day where it is shorter)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def age_band(date_of_birth: date | None, on: date) -> str | None:
    """The child's age band on a day (never the age or the date of birth itself)."""
    if date_of_birth is None:
        return None
    age = (
        on.year
        - date_of_birth.year
        - ((on.month, on.day) < (date_of_birth.month, date_of_birth.day))
    )
    if age < 12:
        return "under_12"
    if age >= 18:
        return "18_plus"
    low = age - age % 2
    return f"{low}_{low + 1}"


@dataclass
class ChildFacts:
    """Everything the read model holds about one child (internal: never exported as is)."""

    child_id: str
    area: str | None
    referrals: list[Any] = field(default_factory=list)
    consents: list[Any] = field(default_factory=list)
    stages: list[Any] = field(default_factory=list)
    attendance: list[Any] = field(default_factory=list)
    interventions: list[Any] = field(default_factory=list)
    reviews: list[Any] = field(default_factory=list)
    cadences: list[Any] = field(default_factory=list)
    transitions: list[Any] = field(default_factory=list)
    offences: list[Any] = field(default_factory=list)
    meeting_on: date | None = None
    report_on: date | None = None
    stage_at_formulation: int | None = None
    closed_on: date | None = None


def load_facts(engine: Engine) -> dict[str, ChildFacts]:
    """Read the whole evaluation read model into memory, grouped by child."""
    metadata.create_all(engine)  # an export before the first event is simply empty
    facts: dict[str, ChildFacts] = {}
    with engine.connect() as conn:
        for row in conn.execute(select(children)):
            facts[row.child_id] = ChildFacts(
                row.child_id,
                row.area,
                meeting_on=row.formulation_meeting_on,
                report_on=row.report_issued_on,
                stage_at_formulation=row.stage_at_formulation,
                closed_on=row.closed_on,
            )
        groups: list[tuple[str, Any, tuple[Any, ...]]] = [
            ("referrals", referrals, (referrals.c.referred_on, referrals.c.referral_id)),
            ("consents", consents, (consents.c.recorded_on, consents.c.message_id)),
            ("stages", stages, (stages.c.assessed_on, stages.c.message_id)),
            ("attendance", attendance, (attendance.c.message_id, attendance.c.position)),
            ("interventions", interventions, (interventions.c.intervention_id,)),
            ("reviews", reviews, (reviews.c.due_on, reviews.c.review_id)),
            ("cadences", cadences, (cadences.c.set_on, cadences.c.message_id)),
            ("transitions", transitions, (transitions.c.occurred_on, transitions.c.transition_id)),
            ("offences", offences, (offences.c.committed_on, offences.c.offence_id)),
        ]
        for name, table, order in groups:
            for row in conn.execute(select(table).order_by(*order)):
                child = facts.get(row.child_id)
                if child is not None:
                    getattr(child, name).append(row)
    return facts


def _days(start: date, end: date | None) -> int | None:
    return (end - start).days if end is not None else None


def _first(days: Iterable[date | None]) -> date | None:
    present = [d for d in days if d is not None]
    return min(present) if present else None


@dataclass(frozen=True)
class Window:
    """A reoffending window: offences committed in [start, end), proven by `proven_by`."""

    start: date
    end: date
    proven_by: date

    def counts(self, offence_rows: list[Any]) -> tuple[int, int]:
        """(proven offences, proven breaches) in the window."""
        proven = breaches = 0
        for row in offence_rows:
            if row.retracted or row.proven_on is None:
                continue
            if not (self.start <= row.committed_on < self.end and row.proven_on < self.proven_by):
                continue
            if row.outcome in PROVEN:
                proven += 1
            elif row.outcome == BREACH:
                breaches += 1
        return proven, breaches


def reoffending_windows(start: date) -> tuple[Window, Window]:
    """(comparison, follow-up) windows around a start day, as the MoJ measure defines them:
    one year of offences, proven within it or a further six months."""
    comparison = Window(add_months(start, -12), start, add_months(start, 6))
    follow_up = Window(start, add_months(start, 12), add_months(start, 18))
    return comparison, follow_up


@dataclass
class ChildRecord:
    """One child's derived measures, with internal id (the export pseudonymises it)."""

    child_id: str
    row: dict[str, Any]
    stages: list[dict[str, Any]]
    reviews: list[dict[str, Any]]
    attendance: list[dict[str, Any]]


def _consent(child: ChildFacts, referral_id: str, as_of: date) -> tuple[str | None, date | None]:
    given_on: date | None = None
    last: str | None = None
    for row in child.consents:
        if row.referral_id != referral_id or row.recorded_on > as_of:
            continue
        last = row.consent
        if row.consent == "given" and given_on is None:
            given_on = row.recorded_on
    return last, given_on


def _pathway(
    outcome: str | None,
    consent: str | None,
    consent_on: date | None,
    meeting_on: date | None,
    report_on: date | None,
    first_review: date | None,
) -> str:
    if outcome is None:
        return "awaiting_screening"
    if outcome != "accepted":
        return outcome
    if first_review is not None:
        return "reviewed"
    if report_on is not None:
        return "report_issued"
    if meeting_on is not None:
        return "formulation_meeting_held"
    if consent in ("refused", "withdrawn"):
        return "consent_refused_or_withdrawn"
    if consent_on is not None:
        return "consent_given_awaiting_meeting"
    return "accepted_no_consent"


def _cadence_on(child: ChildFacts, day: date) -> int | None:
    weeks: int | None = None
    for row in child.cadences:
        if row.set_on <= day or weeks is None:
            weeks = row.weeks
    return weeks


def child_record(
    child: ChildFacts, params: Parameters, date_of_birth: Callable[[str], date | None]
) -> ChildRecord | None:
    """The child's measures, or None when they are not in the export's cohort."""
    as_of = params.as_of
    made = [r for r in child.referrals if r.referred_on is not None and r.referred_on <= as_of]
    in_window = [r for r in made if params.start <= r.referred_on <= params.end]
    if not in_window or (params.area and child.area != params.area):
        return None
    index = in_window[0]
    start: date = index.referred_on
    outcome = (
        index.outcome if index.screened_on is not None and index.screened_on <= as_of else None
    )
    consent, consent_on = _consent(child, index.referral_id, as_of)
    meeting_on = child.meeting_on if child.meeting_on and child.meeting_on <= as_of else None
    report_on = child.report_on if child.report_on and child.report_on <= as_of else None
    held = sorted(
        (r for r in child.reviews if r.held_on is not None and r.held_on <= as_of),
        key=lambda r: (r.held_on, r.review_id),
    )
    first_review = held[0].held_on if held else None

    stage_rows: list[dict[str, Any]] = []
    previous: int | None = None
    at_formulation = child.stage_at_formulation if report_on else None
    for stage in child.stages:
        if stage.assessed_on > as_of or stage.assessed_on < start:
            continue
        movement = (
            None
            if previous is None
            else ("up" if stage.stage > previous else "down" if stage.stage < previous else "same")
        )
        stage_rows.append(
            {
                "source": "review" if stage.source == "review" else "formulation",
                "day": (stage.assessed_on - start).days,
                "stage": stage.stage,
                "movement": movement,
            }
        )
        previous = stage.stage
    review_stages = [s["stage"] for s in stage_rows if s["source"] == "review"]
    latest_review = review_stages[-1] if review_stages else None
    overall = None
    if at_formulation is not None and latest_review is not None:
        overall = (
            "up"
            if latest_review > at_formulation
            else "down"
            if latest_review < at_formulation
            else "same"
        )

    review_rows: list[dict[str, Any]] = []
    kept = intervals = 0
    for number, review in enumerate(held, start=1):
        interval = (review.held_on - held[number - 2].held_on).days if number > 1 else None
        weeks = _cadence_on(child, held[number - 2].held_on) if number > 1 else None
        within = None if interval is None or weeks is None else interval <= weeks * 7
        if within is not None:
            intervals += 1
            kept += within
        review_rows.append(
            {
                "review_number": number,
                "due_day": _days(start, review.due_on),
                "held_day": (review.held_on - start).days,
                "interval_days": interval,
                "planned_weeks": weeks,
                "within_cadence": within,
                "held_late": review.due_on is not None and review.held_on > review.due_on,
                "overdue_flagged": bool(review.overdue),
            }
        )
    missed = [r for r in child.reviews if r.held_on is None or r.held_on > as_of]
    missed = [r for r in missed if r.due_on is not None and r.due_on < as_of]
    overdue = [r for r in child.reviews if r.overdue and (r.due_on is None or r.due_on <= as_of)]

    attendance_rows = [
        {"meeting": r.meeting, "agency": r.agency, "attendance": r.attendance}
        for r in child.attendance
    ]
    if meeting_on is None:
        attendance_rows = [r for r in attendance_rows if r["meeting"] != "formulation"]
    if not held:
        attendance_rows = [r for r in attendance_rows if r["meeting"] != "review"]

    planned = child.interventions
    comparison, follow_up = reoffending_windows(start)
    follow_complete = as_of >= follow_up.proven_by
    comparison_complete = as_of >= comparison.proven_by
    offence_rows = [
        r
        for r in child.offences
        if r.committed_on <= as_of and (r.proven_on is None or r.proven_on <= as_of)
    ]
    before, breaches_before = comparison.counts(offence_rows)
    after, breaches_after = follow_up.counts(offence_rows)
    transition_rows = [t for t in child.transitions if start <= t.occurred_on <= as_of]

    row: dict[str, Any] = {
        "area": child.area,
        "age_band_at_referral": age_band(date_of_birth(child.child_id), start),
        "referred_quarter": f"{start.year}-Q{(start.month - 1) // 3 + 1}",
        "referrals_in_window": len(in_window),
        "screening_outcome": outcome or "awaiting_screening",
        "consent": consent,
        "pathway_status": _pathway(
            outcome, consent, consent_on, meeting_on, report_on, first_review
        ),
        "days_referral_to_screening": _days(start, index.screened_on if outcome else None),
        "days_referral_to_consent": _days(start, consent_on),
        "days_referral_to_formulation_meeting": _days(start, meeting_on),
        "days_referral_to_report": _days(start, report_on),
        "days_referral_to_first_review": _days(start, first_review),
        "stage_at_formulation": at_formulation,
        "stage_at_latest_review": latest_review,
        "stage_movement": overall,
        "reviews_held": len(held),
        "review_intervals_assessed": intervals,
        "review_intervals_within_cadence": kept,
        "reviews_missed": len(missed),
        "reviews_overdue": len(overdue),
        "interventions_planned": len(planned),
        "interventions_in_sequence": sum(not p.out_of_sequence for p in planned),
        "interventions_overridden": sum(bool(p.overridden) for p in planned),
        "interventions_started": sum(p.status == "started" for p in planned),
        "interventions_completed": sum(p.status == "completed" for p in planned),
        "interventions_stopped": sum(p.status == "stopped" for p in planned),
        "transitions_supported": len(transition_rows),
        "case_closed": child.closed_on is not None and child.closed_on <= as_of,
        "comparison_complete": comparison_complete,
        "comparison_proven_offences": before if comparison_complete else None,
        "comparison_breaches": breaches_before if comparison_complete else None,
        "follow_up_complete": follow_complete,
        "follow_up_proven_reoffences": after if follow_complete else None,
        "follow_up_breaches": breaches_after if follow_complete else None,
    }
    for kind in TRANSITIONS:
        row[f"transitions_{kind}"] = sum(t.kind == kind for t in transition_rows)
    return ChildRecord(child.child_id, row, stage_rows, review_rows, attendance_rows)


def cohort(
    facts: dict[str, ChildFacts], params: Parameters, date_of_birth: Callable[[str], date | None]
) -> list[ChildRecord]:
    """Every child in the export's cohort, with their measures."""
    records = [child_record(child, params, date_of_birth) for child in facts.values()]
    return [r for r in records if r is not None]


def referrals_by_area_month(
    facts: dict[str, ChildFacts], params: Parameters
) -> tuple[list[str], list[list[int]], list[str]]:
    """Rows (area, month), columns: screening outcomes; every referral made in the window."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(OUTCOMES, 0))
    for child in facts.values():
        if params.area and child.area != params.area:
            continue
        for r in child.referrals:
            if (
                r.referred_on is None
                or not params.start <= r.referred_on <= params.end
                or r.referred_on > params.as_of
            ):
                continue
            outcome = r.outcome if r.screened_on and r.screened_on <= params.as_of else None
            counts[f"{child.area}|{r.referred_on:%Y-%m}"][outcome or "awaiting_screening"] += 1
    labels = sorted(counts)
    return labels, [[counts[k][o] for o in OUTCOMES] for k in labels], list(OUTCOMES)


def timing_summary(values: list[int | None]) -> dict[str, Any]:
    """n, median, quartiles and mean of the known values."""
    known = sorted(v for v in values if v is not None)
    if not known:
        return {"n": 0, "median": None, "p25": None, "p75": None, "mean": None}
    quartiles = (
        statistics.quantiles(known, n=4, method="inclusive") if len(known) > 1 else [known[0]] * 3
    )
    return {
        "n": len(known),
        "median": statistics.median(known),
        "p25": quartiles[0],
        "p75": quartiles[2],
        "mean": round(statistics.fmean(known), 1),
    }
