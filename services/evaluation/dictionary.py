"""The data dictionary shipped with every export: one definition per dataset and field."""

from __future__ import annotations

START = (
    "Day 0 is the child's index referral: their first referral made within the export's "
    "from/to window. Every day count is days after it."
)

DATASETS: dict[str, str] = {
    "children": "One row per child in the cohort (first referred within the window, in the "
    "area if one was chosen), keyed by the project pseudonym. " + START,
    "stages": "Each TRM stage assessment from the index referral on: at formulation (report) "
    "and at each review, with its day and its movement from the assessment before.",
    "reviews": "Each review held, in order, with its interval from the review before and the "
    "cadence planned for that interval.",
    "attendance": "Each attendance record at the formulation meeting and at reviews, by agency.",
    "referrals_by_area_month": "Every referral made within the window by area and month of "
    "referral, by screening outcome (suppressed).",
    "attrition": "Children by the furthest point of the ECM pathway they reached (suppressed).",
    "timings": "Days from the index referral to each step: n, median, quartiles, mean "
    "(statistics suppressed when n is under the threshold).",
    "review_cadence": "Review intervals kept within the planned cadence, and missed and overdue "
    "reviews (suppressed).",
    "review_timeliness": "Reviews held on time (by their due day), held late, and missed (due "
    "before the as-of day, not held), by area (suppressed).",
    "attendance_formulation": "Attendance records at formulation meetings by agency and "
    "attendance (suppressed); education is its own row.",
    "attendance_review": "Attendance records at reviews by agency and attendance (suppressed); "
    "education is its own row.",
    "stage_flows": "Children by TRM stage at formulation (rows) and at their latest review "
    "(columns) (suppressed).",
    "stage_movements": "Stage assessments at reviews by movement from the assessment before "
    "(up, same, down), by review number (suppressed).",
    "sequencing": "Interventions planned by the TRM stage they address: in sequence, or out of "
    "sequence under a psychologist's override (suppressed). The override flag is "
    "taken from the planning event itself.",
    "interventions": "Interventions by TRM stage and current status (suppressed).",
    "transitions": "Transitions supported (custody, school, placement, adult services, "
    "probation) from the index referral on (suppressed).",
    "reoffending": "Proven reoffending as the Ministry of Justice measures it, with the start "
    "at the index referral: offences committed in the year from the start and "
    "proven by a conviction or caution within that year or a further six months. "
    "The comparison window is the year before referral, proven by six months "
    "after it. Only children whose window is complete by the as-of day are "
    "counted. Breaches of orders are not reoffences (as in the MoJ measure) and "
    "are counted apart. Cells suppressed under the threshold.",
}

FIELDS: dict[str, dict[str, tuple[str, str]]] = {
    "children": {
        "pseudonym": (
            "text",
            "HMAC-SHA256 of the internal id under the project's secret (20 "
            "hex); the same in every export of the project, in no other.",
        ),
        "area": ("text", "The child's Youth Justice Service."),
        "age_band_at_referral": (
            "text",
            "Age on the index referral day in bands: under_12, "
            "12_13, 14_15, 16_17, 18_plus; empty if unknown.",
        ),
        "referred_quarter": ("text", "Calendar quarter of the index referral (YYYY-Qn)."),
        "referrals_in_window": ("integer", "Referrals of the child made within the window."),
        "screening_outcome": (
            "text",
            "Outcome of screening the index referral: accepted, "
            "consultation, declined, withdrawn, awaiting_screening.",
        ),
        "consent": (
            "text",
            "Consent to formulation as last recorded for the index referral: "
            "given, refused, withdrawn; empty if none recorded.",
        ),
        "pathway_status": ("text", "Furthest point reached (see the attrition table)."),
        "days_referral_to_screening": ("integer", "Days from referral to screening outcome."),
        "days_referral_to_consent": ("integer", "Days from referral to consent first given."),
        "days_referral_to_formulation_meeting": (
            "integer",
            "Days to the first formulation meeting held.",
        ),
        "days_referral_to_report": ("integer", "Days to the first formulation report issued."),
        "days_referral_to_first_review": ("integer", "Days to the first review held."),
        "stage_at_formulation": ("integer", "TRM stage (1-6) in the formulation report."),
        "stage_at_latest_review": ("integer", "TRM stage at the latest review held."),
        "stage_movement": ("text", "Latest review stage against formulation: up, same, down."),
        "reviews_held": ("integer", "Reviews held by the as-of day."),
        "review_intervals_assessed": (
            "integer",
            "Intervals between consecutive reviews held for which a cadence was planned.",
        ),
        "review_intervals_within_cadence": (
            "integer",
            "Of those, intervals no longer than the planned cadence (weeks x 7 days).",
        ),
        "reviews_missed": ("integer", "Reviews due before the as-of day and not held by it."),
        "reviews_overdue": (
            "integer",
            "Reviews flagged overdue (not held by their due date), whether held later or not.",
        ),
        "interventions_planned": ("integer", "Interventions planned."),
        "interventions_in_sequence": ("integer", "Planned within the TRM sequencing rule."),
        "interventions_overridden": ("integer", "Planned out of sequence under an override."),
        "interventions_started": ("integer", "Started and not yet completed or stopped."),
        "interventions_completed": ("integer", "Completed."),
        "interventions_stopped": ("integer", "Stopped before completion."),
        "transitions_supported": ("integer", "Transitions recorded from the index referral on."),
        "case_closed": ("boolean", "The ECM case was closed by the as-of day."),
        "comparison_complete": (
            "boolean",
            "The comparison window's waiting period (six months "
            "after referral) has passed by the as-of day.",
        ),
        "comparison_proven_offences": (
            "integer",
            "Proven offences committed in the year before referral (empty if incomplete).",
        ),
        "comparison_breaches": ("integer", "Proven breaches of orders in that window."),
        "follow_up_complete": (
            "boolean",
            "The follow-up's waiting period (18 months after "
            "referral) has passed by the as-of day.",
        ),
        "follow_up_proven_reoffences": (
            "integer",
            "Proven reoffences committed in the year from referral (empty if incomplete).",
        ),
        "follow_up_breaches": ("integer", "Proven breaches of orders in the follow-up."),
    },
    "stages": {
        "pseudonym": ("text", "As in children."),
        "source": ("text", "formulation (report or psychologist's assessment) or review."),
        "day": ("integer", "Days since the index referral."),
        "stage": ("integer", "TRM stage 1-6."),
        "movement": ("text", "Against the assessment before: up, same, down (empty: first)."),
    },
    "reviews": {
        "pseudonym": ("text", "As in children."),
        "review_number": ("integer", "1 for the first review held, and so on."),
        "due_day": ("integer", "Day the review was due."),
        "held_day": ("integer", "Day the review was held."),
        "interval_days": ("integer", "Days since the review before (empty for the first)."),
        "planned_weeks": ("integer", "Cadence in force at the review before, in weeks."),
        "within_cadence": ("boolean", "interval_days <= planned_weeks x 7."),
        "held_late": ("boolean", "Held after its due day."),
        "overdue_flagged": ("boolean", "Flagged overdue by the daily check."),
    },
    "attendance": {
        "pseudonym": ("text", "As in children."),
        "meeting": ("text", "formulation or review."),
        "agency": ("text", "Agency type (education separately from other agencies)."),
        "attendance": ("text", "attended, apologies, did_not_attend."),
    },
}

for _transition in (
    "entering_custody",
    "leaving_custody",
    "school_move",
    "placement_move",
    "transfer_to_adult_services",
    "transfer_to_probation",
):
    FIELDS["children"][f"transitions_{_transition}"] = (
        "integer",
        f"Transitions of kind {_transition} from the index referral on.",
    )

AGGREGATE_NOTE = (
    "Aggregate tables: rows and columns as labelled, with totals; a count from "
    "1 to threshold - 1 is suppressed (empty), and further cells are suppressed "
    "so that no suppressed count can be worked out from the totals."
)


def rows() -> list[dict[str, str]]:
    """The dictionary as rows: dataset, field, type, definition."""
    out = [
        {"dataset": name, "field": "", "type": "dataset", "definition": text}
        for name, text in DATASETS.items()
    ]
    for dataset, fields in FIELDS.items():
        out += [
            {"dataset": dataset, "field": name, "type": kind, "definition": text}
            for name, (kind, text) in fields.items()
        ]
    out.append({"dataset": "*", "field": "", "type": "note", "definition": AGGREGATE_NOTE})
    return out
