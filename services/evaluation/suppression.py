"""Small-number suppression for aggregate tables, with secondary suppression.

A table is a grid of counts with its row totals, column totals and grand total published
beside it. Primary suppression hides every count from 1 to threshold - 1 (zeros are shown:
a zero tells nothing about a person). Secondary suppression then hides further cells until
no hidden cell can be worked out from what is shown: each hidden cell is checked against the
whole linear system of the published totals (a hidden cell is derivable exactly when its unit
vector lies in the row space of the constraints restricted to the hidden cells), and while
one is derivable the smallest shown cell on one of its lines is hidden too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SUPPRESSED = None
"""How a suppressed cell is written (empty in CSV, null in Parquet and JSON)."""


@dataclass
class Grid:
    """Counts with margins: cells[i][j] for i < rows, j < cols; row r and col c are totals."""

    row_labels: list[str]
    col_labels: list[str]
    cells: list[list[int]]

    @classmethod
    def of(cls, row_labels: list[str], col_labels: list[str], counts: list[list[int]]) -> Grid:
        """Add the row totals, the column totals and the grand total."""
        full = [[*row, sum(row)] for row in counts]
        totals = [sum(col) for col in zip(*full, strict=True)] if full else [0] * (
            len(col_labels) + 1)
        return cls([*row_labels, "total"], [*col_labels, "total"], [*full, totals])

    def lines(self) -> list[list[tuple[int, int]]]:
        """Each set of cells whose values sum to zero with signs (cells minus their total)."""
        rows, cols = len(self.cells) - 1, len(self.cells[0]) - 1
        out = [[(i, j) for j in range(cols + 1)] for i in range(rows + 1)]
        out += [[(i, j) for i in range(rows + 1)] for j in range(cols + 1)]
        return out


def _derivable(grid: Grid, hidden: set[tuple[int, int]]) -> list[tuple[int, int]]:
    """The hidden cells whose value follows from the shown cells and the totals."""
    if not hidden:
        return []
    order = sorted(hidden)
    index = {cell: k for k, cell in enumerate(order)}
    rows, cols = len(grid.cells) - 1, len(grid.cells[0]) - 1
    constraints = []
    for line in grid.lines():
        vector = np.zeros(len(order))
        for cell in line:
            if cell in index:
                total = cell[1] == cols if line[0][0] == line[-1][0] else cell[0] == rows
                vector[index[cell]] = -1.0 if total else 1.0
        if vector.any():
            constraints.append(vector)
    if not constraints:
        return []
    matrix = np.array(constraints)
    rank = np.linalg.matrix_rank(matrix)
    found = []
    for cell, k in index.items():
        unit = np.zeros(len(order))
        unit[k] = 1.0
        if np.linalg.matrix_rank(np.vstack([matrix, unit])) == rank:
            found.append(cell)
    return found


def suppress(grid: Grid, threshold: int) -> tuple[list[list[int | None]], set[tuple[int, int]]]:
    """The grid with small counts and whatever would reveal them hidden; and the hidden set."""
    hidden = {(i, j) for i, row in enumerate(grid.cells) for j, value in enumerate(row)
              if 0 < value < threshold}
    while True:
        exposed = _derivable(grid, hidden)
        if not exposed:
            break
        lines = [line for line in grid.lines() if any(c in line for c in exposed)]
        # A line with a single hidden cell is what gives it away: hide a second cell there.
        single = [line for line in lines if sum(c in hidden for c in line) == 1]
        candidates = [c for line in (single or lines) for c in line if c not in hidden]
        if not candidates:  # every cell on its lines is hidden already: hide everything
            hidden |= {(i, j) for i in range(len(grid.cells))
                       for j in range(len(grid.cells[0]))}
            break
        # Prefer inner cells over totals, then the smallest non-zero count.
        rows, cols = len(grid.cells) - 1, len(grid.cells[0]) - 1
        hidden.add(min(candidates, key=lambda c: (c[0] == rows or c[1] == cols,
                                                   grid.cells[c[0]][c[1]] == 0,
                                                   grid.cells[c[0]][c[1]], c)))
    shown: list[list[int | None]] = [
        [SUPPRESSED if (i, j) in hidden else value for j, value in enumerate(row)]
        for i, row in enumerate(grid.cells)]
    return shown, hidden


def derivable_cells(grid: Grid, shown: list[list[int | None]]) -> list[tuple[int, int]]:
    """For tests and checks: hidden cells of a published table that its totals give away."""
    hidden = {(i, j) for i, row in enumerate(shown) for j, v in enumerate(row) if v is None}
    return _derivable(grid, hidden)
