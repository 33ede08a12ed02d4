"""Pseudonymised evaluation datasets: keyed pseudonyms per export, relative or coarse dates."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import Engine, select

from services.evaluation.projection import (
    attendance,
    children,
    interventions,
    metadata,
    referrals,
    stages,
)

PARTNER_AGENCIES = ("education", "health", "camhs", "social_care", "police")


def _days(start: date | None, end: date | None) -> int | None:
    return (end - start).days if start and end else None


def _quarter(day: date | None) -> str | None:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}" if day else None


def export_rows(engine: Engine, export_key: bytes | None = None) -> list[dict[str, Any]]:
    """One row per child; the pseudonym is keyed by a fresh random key unless one is given."""
    key = export_key or secrets.token_bytes(32)
    metadata.create_all(engine)  # an export before the first event is simply empty
    with engine.connect() as conn:
        child_rows = conn.execute(select(children).order_by(children.c.child_id)).all()
        stage_rows = conn.execute(
            select(stages).order_by(stages.c.assessed_on, stages.c.message_id)
        ).all()
        attendance_rows = conn.execute(select(attendance)).all()
        intervention_rows = conn.execute(select(interventions)).all()
        referral_rows = conn.execute(
            select(referrals).order_by(referrals.c.referred_on, referrals.c.referral_id)
        ).all()
    latest_referral: dict[str, Any] = {}
    referral_count: dict[str, int] = defaultdict(int)
    for made in referral_rows:
        latest_referral[made.child_id] = made
        referral_count[made.child_id] += 1
    trajectory: dict[str, list[int]] = defaultdict(list)
    review_stages: dict[str, list[int]] = defaultdict(list)
    for row in stage_rows:
        trajectory[row.child_id].append(row.stage)
        if row.source == "review":
            review_stages[row.child_id].append(row.stage)
    attended: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for row in attendance_rows:
        counts = attended[row.child_id][row.agency]
        counts[1] += 1
        counts[0] += row.attendance == "attended"
    plans: dict[str, list[Any]] = defaultdict(list)
    for row in intervention_rows:
        plans[row.child_id].append(row)
    rows: list[dict[str, Any]] = []
    for child in child_rows:
        cid = child.child_id
        at_formulation = child.stage_at_formulation
        latest_review = review_stages[cid][-1] if review_stages[cid] else None
        movement = None
        if at_formulation is not None and latest_review is not None:
            movement = (
                "up"
                if latest_review > at_formulation
                else "down"
                if latest_review < at_formulation
                else "same"
            )
        planned = plans[cid]
        referral = latest_referral.get(cid)
        referred_on = referral.referred_on if referral else None
        out: dict[str, Any] = {
            "pseudonym": hmac.new(key, cid.encode(), hashlib.sha256).hexdigest()[:16],
            "area": child.area,
            "referrals": referral_count[cid],
            "referred_quarter": _quarter(referred_on),
            "referral_outcome": (referral.outcome or "referred") if referral else None,
            "days_referral_to_screening": _days(
                referred_on, referral.screened_on if referral else None
            ),
            "days_referral_to_formulation_meeting": _days(
                referred_on, child.formulation_meeting_on
            ),
            "days_referral_to_report": _days(referred_on, child.report_issued_on),
            "stage_at_formulation": at_formulation,
            "latest_review_stage": latest_review,
            "stage_movement": movement,
            "stage_trajectory": trajectory[cid],
            "reviews_held": child.reviews_held,
            "reviews_overdue": child.reviews_overdue,
            "interventions_planned": len(planned),
            "interventions_completed": sum(p.status == "completed" for p in planned),
            "interventions_stopped": sum(p.status == "stopped" for p in planned),
            "interventions_out_of_sequence": sum(p.out_of_sequence for p in planned),
            "sequencing_overrides": sum(p.overridden for p in planned),
            "transitions": child.transitions,
            "closed": child.closed_on is not None,
        }
        for agency in PARTNER_AGENCIES:
            came, recorded = attended[cid].get(agency, (0, 0))
            out[f"{agency}_attended"] = came
            out[f"{agency}_invited"] = recorded
        rows.append(out)
    # By pseudonym, never by internal id: row order must not link one export to another.
    rows.sort(key=lambda row: str(row["pseudonym"]))
    return rows


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Referral numbers and attrition, partner participation, fidelity, stage movement."""
    outcomes: dict[str, int] = defaultdict(int)
    movement: dict[str, int] = defaultdict(int)
    for row in rows:
        outcomes[row["referral_outcome"] or "unknown"] += 1
        if row["stage_movement"]:
            movement[row["stage_movement"]] += 1
    planned = sum(r["interventions_planned"] for r in rows)
    out_of_sequence = sum(r["interventions_out_of_sequence"] for r in rows)
    participation = {}
    for agency in PARTNER_AGENCIES:
        invited = sum(r[f"{agency}_invited"] for r in rows)
        came = sum(r[f"{agency}_attended"] for r in rows)
        participation[agency] = round(came / invited, 3) if invited else None
    return {
        "children": len(rows),
        "referral_outcomes": dict(outcomes),
        "stage_movement": dict(movement),
        "interventions_planned": planned,
        "sequencing_fidelity": round(1 - out_of_sequence / planned, 3) if planned else None,
        "sequencing_overrides": sum(r["sequencing_overrides"] for r in rows),
        "partner_attendance_rate": participation,
        "reviews_held": sum(r["reviews_held"] for r in rows),
        "reviews_overdue": sum(r["reviews_overdue"] for r in rows),
    }
