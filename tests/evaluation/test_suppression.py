"""Small-number suppression: no count under the threshold is shown, and none can be worked out
from the totals published beside it."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine

from services.evaluation.dataset import Export, Table, build
from services.evaluation.measures import Parameters, load_facts
from services.evaluation.service import project_as_of
from services.evaluation.suppression import (
    Grid,
    derivable_cells,
    derivable_linked,
    suppress,
    suppress_linked,
)
from tests.evaluation.cohort import BORN, cohort
from tests.evaluation.test_measures import PROJECT

grids = st.integers(1, 5).flatmap(
    lambda rows: st.integers(1, 5).flatmap(
        lambda cols: st.lists(
            st.lists(st.integers(0, 30), min_size=cols, max_size=cols), min_size=rows, max_size=rows
        )
    )
)


@settings(max_examples=300, deadline=None)
@given(grids, st.integers(2, 10))
def test_no_suppressed_cell_can_be_worked_out_from_the_totals(
    counts: list[list[int]], threshold: int
) -> None:
    grid = Grid.of(
        [f"r{i}" for i in range(len(counts))], [f"c{j}" for j in range(len(counts[0]))], counts
    )
    shown, hidden = suppress(grid, threshold)
    assert all(v is None or v == 0 or v >= threshold for row in shown for v in row)
    assert derivable_cells(grid, shown) == []
    assert all(shown[i][j] is None for i, j in hidden)
    # Nothing is hidden that needs no hiding: a table with no small count is shown whole.
    if not any(0 < v < threshold for row in grid.cells for v in row):
        assert not hidden


@settings(max_examples=150, deadline=None)
@given(grids, st.integers(2, 10), st.data())
def test_tables_that_share_row_totals_give_nothing_away_together(
    counts: list[list[int]], threshold: int, data: st.DataObject
) -> None:
    width = data.draw(st.integers(1, 4))
    other = [
        data.draw(st.lists(st.integers(0, 30), min_size=width, max_size=width)) for _ in counts
    ]
    for row, split in zip(counts, other, strict=True):  # the second splits the same totals
        scale = sum(row)
        split[:] = [0] * width
        for k in range(scale):
            split[k % width] += 1
    first = Grid.of(
        [f"r{i}" for i in range(len(counts))], [f"c{j}" for j in range(len(counts[0]))], counts
    )
    second = Grid.of([f"r{i}" for i in range(len(other))], [f"d{j}" for j in range(width)], other)
    last = [len(first.cells[0]) - 1, len(second.cells[0]) - 1]
    links = [((0, i, last[0]), (1, i, last[1])) for i in range(len(first.cells))]
    published = suppress_linked([first, second], links, threshold)
    shown = [published[0][0], published[1][0]]
    assert derivable_linked([first, second], links, shown) == []
    for table in shown:
        assert all(v is None or v == 0 or v >= threshold for row in table for v in row)


def test_a_lone_small_cell_takes_a_second_cell_of_its_row_and_column_with_it() -> None:
    grid = Grid.of(["a", "b", "c"], ["x", "y"], [[10, 3], [8, 12], [20, 30]])
    shown, _ = suppress(grid, 5)
    assert shown == [[None, None, 13], [None, None, 20], [20, 30, 50], [38, 45, 83]]


def _grid_tables(export: Export) -> list[Table]:
    return [
        t
        for t in export.tables.values()
        if t.aggregate and t.name not in ("timings", "reoffending")
    ]


def _counts(table: Table) -> list[list[Any]]:
    labels = {
        "area",
        "month",
        "pathway_status",
        "agency",
        "stage_at_formulation",
        "review_number",
        "intervention_stage",
        "kind",
    }
    columns = [c for c in table.columns if c not in labels]
    return [[row[c] for c in columns] for row in table.rows]


def test_every_aggregate_table_of_an_export_is_safe_at_the_default_threshold(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/eval.sqlite")
    project_as_of(cohort().deliveries(), date(2026, 1, 31), engine)
    facts = load_facts(engine)

    def export(threshold: int) -> Export:
        params = Parameters(
            "trial", date(2024, 1, 1), date(2024, 12, 31), date(2026, 1, 31), None, threshold
        )
        return build(facts, params, PROJECT, BORN.get)

    raw, safe = export(1), export(5)
    checked = 0
    for table in _grid_tables(safe):
        full = _counts(raw.tables[table.name])
        shown = _counts(table)
        if len(full[0]) == 1:  # one column: its row total is the cell itself
            full = [[v, v] for (v,) in full]
            shown = [[v, v] for (v,) in shown]
        grid = Grid([""] * len(full), [""] * len(full[0]), full)
        assert all(v is None or v == 0 or v >= 5 for row in shown for v in row), table.name
        assert derivable_cells(grid, shown) == [], table.name
        checked += 1
    assert checked >= 10
    # Sequencing and interventions split the same row totals: neither gives the other away.
    pair = [raw.tables["sequencing"], raw.tables["interventions"]]
    grids = [Grid([""] * len(t.rows), [""] * (len(t.columns) - 1), _counts(t)) for t in pair]
    last = [len(g.cells[0]) - 1 for g in grids]
    links = [((0, i, last[0]), (1, i, last[1])) for i in range(len(grids[0].cells))]
    shown = [_counts(safe.tables["sequencing"]), _counts(safe.tables["interventions"])]
    assert derivable_linked(grids, links, shown) == []
    assert safe.tables["attrition"].suppressed_cells > 0
    reoffending = {r["window"]: r for r in safe.tables["reoffending"].rows}
    after = reoffending["follow_up_year_from_referral"]
    assert after["cohort"] is None and after["binary_rate"] is None  # a cohort of 4 < 5
    timings = {r["measure"]: r for r in safe.tables["timings"].rows}
    assert timings["days_referral_to_screening"]["median"] is None  # n = 4 < 5
