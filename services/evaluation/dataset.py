"""An evaluation export: pseudonymised record-level datasets and suppressed aggregate tables."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from services.evaluation import dictionary
from services.evaluation.measures import (
    AGENCIES,
    ATTENDANCE,
    OUTCOMES,
    PATHWAY,
    TRANSITIONS,
    ChildFacts,
    ChildRecord,
    Parameters,
    cohort,
    referrals_by_area_month,
    timing_summary,
)
from services.evaluation.projects import Project
from services.evaluation.suppression import Grid, suppress, suppress_linked
from shared.domain import Area

STAGES = [str(n) for n in range(1, 7)]
TIMINGS = (
    "days_referral_to_screening",
    "days_referral_to_consent",
    "days_referral_to_formulation_meeting",
    "days_referral_to_report",
    "days_referral_to_first_review",
)


@dataclass
class Table:
    """One dataset: its columns and rows (values are plain: str, int, float, bool or None)."""

    name: str
    columns: list[str]
    rows: list[dict[str, Any]]
    aggregate: bool = False
    suppressed_cells: int = 0


@dataclass
class Export:
    """Everything one export ships."""

    parameters: Parameters
    tables: dict[str, Table] = field(default_factory=dict)

    def add(self, table: Table) -> None:
        """Add a dataset."""
        self.tables[table.name] = table


@dataclass
class GridSpec:
    """An aggregate table before suppression: its labels and counts."""

    name: str
    label_columns: list[str]
    labels: list[list[str]]
    col_labels: list[str]
    counts: list[list[int]]

    def grid(self) -> Grid:
        """The counts with their totals."""
        return Grid.of(["|".join(label) for label in self.labels], self.col_labels, self.counts)

    def table(self, shown: list[list[int | None]], hidden: set[tuple[int, int]]) -> Table:
        """The table as published."""
        one_column = len(self.col_labels) == 1  # its row "total" is the cell: leave it out
        columns = [*self.label_columns, *self.col_labels, *([] if one_column else ["total"])]
        rows = []
        for i, values in enumerate(shown):
            label = (
                self.labels[i]
                if i < len(self.labels)
                else (["total"] + [""] * (len(self.label_columns) - 1))
            )
            row: dict[str, Any] = dict(zip(self.label_columns, label, strict=True))
            for j, column in enumerate(self.col_labels):
                row[column] = values[j]
            if not one_column:
                row["total"] = values[-1]
            rows.append(row)
        return Table(self.name, columns, rows, aggregate=True, suppressed_cells=len(hidden))


def _grid_table(
    name: str,
    label_columns: list[str],
    labels: list[list[str]],
    col_labels: list[str],
    counts: list[list[int]],
    threshold: int,
) -> Table:
    spec = GridSpec(name, label_columns, labels, col_labels, counts)
    return spec.table(*suppress(spec.grid(), threshold))


def _row_totals_linked(first: GridSpec, second: GridSpec, threshold: int) -> list[Table]:
    """Two tables that split the same row totals differently, suppressed together."""
    grids = [first.grid(), second.grid()]
    last = [len(g.cells[0]) - 1 for g in grids]
    links = [((0, i, last[0]), (1, i, last[1])) for i in range(len(grids[0].cells))]
    published = suppress_linked(grids, links, threshold)
    return [spec.table(*out) for spec, out in zip((first, second), published, strict=True)]


def build(
    facts: dict[str, ChildFacts],
    params: Parameters,
    project: Project,
    date_of_birth: Callable[[str], date | None] = lambda _c: None,
) -> Export:
    """The export for a project: record-level rows keyed by its pseudonyms, and aggregates."""
    records = cohort(facts, params, date_of_birth)
    export = Export(params)
    _record_level(export, records, project)
    _aggregates(export, facts, records, params)
    return export


def _record_level(export: Export, records: list[ChildRecord], project: Project) -> None:
    keyed = sorted(((project.pseudonym(r.child_id), r) for r in records), key=lambda p: p[0])
    child_columns = ["pseudonym", *[c for c in dictionary.FIELDS["children"] if c != "pseudonym"]]
    export.add(Table("children", child_columns, [{"pseudonym": p, **r.row} for p, r in keyed]))
    for name, attribute in (
        ("stages", "stages"),
        ("reviews", "reviews"),
        ("attendance", "attendance"),
    ):
        columns = list(dictionary.FIELDS[name])
        rows = [{"pseudonym": p, **item} for p, r in keyed for item in getattr(r, attribute)]
        export.add(Table(name, columns, rows))


def _aggregates(
    export: Export, facts: dict[str, ChildFacts], records: list[ChildRecord], params: Parameters
) -> None:
    threshold = params.threshold
    areas = [str(a) for a in Area] if params.area is None else [params.area]
    labels, counts, outcomes = referrals_by_area_month(facts, params)
    export.add(
        _grid_table(
            "referrals_by_area_month",
            ["area", "month"],
            [label.split("|") for label in labels],
            list(outcomes),
            counts,
            threshold,
        )
    )
    assert list(outcomes) == list(OUTCOMES)
    pathway = Counter(r.row["pathway_status"] for r in records)
    export.add(
        _grid_table(
            "attrition",
            ["pathway_status"],
            [[p] for p in PATHWAY],
            ["children"],
            [[pathway[p]] for p in PATHWAY],
            threshold,
        )
    )

    timing_rows = []
    for measure in TIMINGS:
        stats = timing_summary([r.row[measure] for r in records])
        if stats["n"] < threshold:  # too few to show even how many
            stats = dict.fromkeys(stats)
        timing_rows.append({"measure": measure, **stats})
    export.add(
        Table(
            "timings",
            ["measure", "n", "median", "p25", "p75", "mean"],
            timing_rows,
            aggregate=True,
            suppressed_cells=sum(r["n"] is None for r in timing_rows),
        )
    )

    by_area: dict[str, list[ChildRecord]] = {a: [] for a in areas}
    for r in records:
        by_area.setdefault(str(r.row["area"]), []).append(r)
    export.add(
        _grid_table(
            "review_cadence",
            ["area"],
            [[a] for a in by_area],
            ["within_cadence", "outside_cadence"],
            [
                [
                    sum(r.row["review_intervals_within_cadence"] for r in rs),
                    sum(
                        r.row["review_intervals_assessed"]
                        - r.row["review_intervals_within_cadence"]
                        for r in rs
                    ),
                ]
                for rs in by_area.values()
            ],
            threshold,
        )
    )
    export.add(
        _grid_table(
            "review_timeliness",
            ["area"],
            [[a] for a in by_area],
            ["held_on_time", "held_late", "missed"],
            [
                [
                    sum(not v["held_late"] for r in rs for v in r.reviews),
                    sum(bool(v["held_late"]) for r in rs for v in r.reviews),
                    sum(r.row["reviews_missed"] for r in rs),
                ]
                for rs in by_area.values()
            ],
            threshold,
        )
    )

    for meeting in ("formulation", "review"):
        tally = Counter(
            (a["agency"], a["attendance"])
            for r in records
            for a in r.attendance
            if a["meeting"] == meeting
        )
        export.add(
            _grid_table(
                f"attendance_{meeting}",
                ["agency"],
                [[a] for a in AGENCIES],
                list(ATTENDANCE),
                [[tally[(a, v)] for v in ATTENDANCE] for a in AGENCIES],
                threshold,
            )
        )

    flows = Counter(
        (str(r.row["stage_at_formulation"]), str(r.row["stage_at_latest_review"]))
        for r in records
        if r.row["stage_at_formulation"] is not None and r.row["stage_at_latest_review"] is not None
    )
    export.add(
        _grid_table(
            "stage_flows",
            ["stage_at_formulation"],
            [[s] for s in STAGES],
            [f"review_stage_{s}" for s in STAGES],
            [[flows[(a, b)] for b in STAGES] for a in STAGES],
            threshold,
        )
    )

    moves: Counter[tuple[str, str]] = Counter()
    for r in records:
        number = 0
        for s in r.stages:
            if s["source"] == "review":
                number += 1
                if s["movement"]:
                    moves[(str(min(number, 6)) if number < 6 else "6+", s["movement"])] += 1
    review_labels = ["1", "2", "3", "4", "5", "6+"]
    export.add(
        _grid_table(
            "stage_movements",
            ["review_number"],
            [[n] for n in review_labels],
            ["up", "same", "down"],
            [[moves[(n, m)] for m in ("up", "same", "down")] for n in review_labels],
            threshold,
        )
    )

    planned = [p for r in records for p in facts[r.child_id].interventions]
    statuses = ["planned", "started", "completed", "stopped"]
    # Both split the interventions planned at each stage: their row totals are one count.
    for table in _row_totals_linked(
        GridSpec(
            "sequencing",
            ["intervention_stage"],
            [[s] for s in STAGES],
            ["in_sequence", "overridden"],
            [
                [
                    sum(str(p.stage) == s and not p.out_of_sequence for p in planned),
                    sum(str(p.stage) == s and bool(p.out_of_sequence) for p in planned),
                ]
                for s in STAGES
            ],
        ),
        GridSpec(
            "interventions",
            ["intervention_stage"],
            [[s] for s in STAGES],
            statuses,
            [
                [sum(str(p.stage) == s and p.status == st for p in planned) for st in statuses]
                for s in STAGES
            ],
        ),
        threshold,
    ):
        export.add(table)
    export.add(
        _grid_table(
            "transitions",
            ["kind"],
            [[k] for k in TRANSITIONS],
            ["transitions"],
            [[sum(r.row[f"transitions_{k}"] for r in records)] for k in TRANSITIONS],
            threshold,
        )
    )
    export.add(_reoffending(records, threshold))


def _reoffending(records: list[ChildRecord], threshold: int) -> Table:
    rows = []
    suppressed = 0
    for window, complete, count, breaches in (
        (
            "comparison_year_before_referral",
            "comparison_complete",
            "comparison_proven_offences",
            "comparison_breaches",
        ),
        (
            "follow_up_year_from_referral",
            "follow_up_complete",
            "follow_up_proven_reoffences",
            "follow_up_breaches",
        ),
    ):
        members = [r.row for r in records if r.row[complete]]
        offenders = sum(m[count] > 0 for m in members)
        offences = sum(m[count] for m in members)
        row: dict[str, Any] = {
            "window": window,
            "cohort": len(members),
            "reoffenders": offenders,
            "proven_reoffences": offences,
            "binary_rate": round(offenders / len(members), 4) if members else None,
            "frequency_per_child": round(offences / len(members), 4) if members else None,
            "frequency_per_reoffender": round(offences / offenders, 4) if offenders else None,
            "children_with_breaches": sum(m[breaches] > 0 for m in members),
        }
        # The cohort splits into reoffenders and the rest; either side small reveals people,
        # and every figure made from the counts (the rates) would give them back.
        hide = {k for k in row if k != "window"} if len(members) < threshold else set()
        if not hide and (0 < offenders < threshold or 0 < len(members) - offenders < threshold):
            hide = {
                "reoffenders",
                "proven_reoffences",
                "binary_rate",
                "frequency_per_child",
                "frequency_per_reoffender",
            }
        with_breaches = row["children_with_breaches"]
        if 0 < with_breaches < threshold or 0 < len(members) - with_breaches < threshold:
            hide.add("children_with_breaches")
        suppressed += len(hide)
        rows.append({k: (None if k in hide else v) for k, v in row.items()})
    columns = [
        "window",
        "cohort",
        "reoffenders",
        "proven_reoffences",
        "binary_rate",
        "frequency_per_child",
        "frequency_per_reoffender",
        "children_with_breaches",
    ]
    return Table("reoffending", columns, rows, aggregate=True, suppressed_cells=suppressed)
