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
from services.evaluation.suppression import Grid, derivable_cells, suppress
from tests.evaluation.cohort import BORN, cohort
from tests.evaluation.test_measures import PROJECT

grids = st.integers(1, 5).flatmap(lambda rows: st.integers(1, 5).flatmap(
    lambda cols: st.lists(st.lists(st.integers(0, 30), min_size=cols, max_size=cols),
                          min_size=rows, max_size=rows)))


@settings(max_examples=300, deadline=None)
@given(grids, st.integers(2, 10))
def test_no_suppressed_cell_can_be_worked_out_from_the_totals(counts: list[list[int]],
                                                               threshold: int) -> None:
    grid = Grid.of([f"r{i}" for i in range(len(counts))],
                   [f"c{j}" for j in range(len(counts[0]))], counts)
    shown, hidden = suppress(grid, threshold)
    assert all(v is None or v == 0 or v >= threshold for row in shown for v in row)
    assert derivable_cells(grid, shown) == []
    assert all(shown[i][j] is None for i, j in hidden)
    # Nothing is hidden that needs no hiding: a table with no small count is shown whole.
    if not any(0 < v < threshold for row in grid.cells for v in row):
        assert not hidden


def test_a_lone_small_cell_takes_a_second_cell_of_its_row_and_column_with_it() -> None:
    grid = Grid.of(["a", "b", "c"], ["x", "y"], [[10, 3], [8, 12], [20, 30]])
    shown, _ = suppress(grid, 5)
    assert shown == [[None, None, 13], [None, None, 20], [20, 30, 50], [38, 45, 83]]


def _grid_tables(export: Export) -> list[Table]:
    return [t for t in export.tables.values() if t.aggregate
            and t.name not in ("timings", "reoffending")]


def _counts(table: Table) -> list[list[Any]]:
    labels = {"area", "month", "pathway_status", "agency", "stage_at_formulation",
              "review_number", "intervention_stage", "kind"}
    columns = [c for c in table.columns if c not in labels]
    return [[row[c] for c in columns] for row in table.rows]


def test_every_aggregate_table_of_an_export_is_safe_at_the_default_threshold(
        tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/eval.sqlite")
    project_as_of(cohort().deliveries(), date(2026, 1, 31), engine)
    facts = load_facts(engine)

    def export(threshold: int) -> Export:
        params = Parameters("trial", date(2024, 1, 1), date(2024, 12, 31), date(2026, 1, 31),
                            None, threshold)
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
    assert safe.tables["attrition"].suppressed_cells > 0
    reoffending = {r["window"]: r for r in safe.tables["reoffending"].rows}
    after = reoffending["follow_up_year_from_referral"]
    assert after["cohort"] is None and after["binary_rate"] is None  # a cohort of 4 < 5
    timings = {r["measure"]: r for r in safe.tables["timings"].rows}
    assert timings["days_referral_to_screening"]["median"] is None  # n = 4 < 5
