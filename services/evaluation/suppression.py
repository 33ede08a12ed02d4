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
        totals = (
            [sum(col) for col in zip(*full, strict=True)] if full else [0] * (len(col_labels) + 1)
        )
        return cls([*row_labels, "total"], [*col_labels, "total"], [*full, totals])

    def lines(self) -> list[list[tuple[int, int]]]:
        """Each set of cells whose values sum to zero with signs (cells minus their total)."""
        rows, cols = len(self.cells) - 1, len(self.cells[0]) - 1
        out = [[(i, j) for j in range(cols + 1)] for i in range(rows + 1)]
        out += [[(i, j) for i in range(rows + 1)] for j in range(cols + 1)]
        return out


Cell = tuple[int, int, int]  # (grid, row, column)
Link = tuple[Cell, Cell]
"""Two cells of different tables that publish the same count (e.g. the same row total)."""


class _Linked:
    """Several grids as one linear system; linked cells are one unknown."""

    def __init__(self, grids: list[Grid], links: list[Link]) -> None:
        self.grids = grids
        self.parent: dict[Cell, Cell] = {}
        for a, b in links:
            self.parent[self.find(a)] = self.find(b)
        self.lines: list[list[tuple[Cell, float]]] = []
        for g, grid in enumerate(grids):
            rows, cols = len(grid.cells) - 1, len(grid.cells[0]) - 1
            for line in grid.lines():
                across = line[0][0] == line[-1][0]  # a row (else a column)
                self.lines.append(
                    [
                        ((g, i, j), -1.0 if (j == cols if across else i == rows) else 1.0)
                        for i, j in line
                    ]
                )

    def find(self, cell: Cell) -> Cell:
        while self.parent.get(cell, cell) != cell:
            cell = self.parent[cell]
        return cell

    def value(self, cell: Cell) -> int:
        return self.grids[cell[0]].cells[cell[1]][cell[2]]

    def is_total(self, cell: Cell) -> bool:
        grid = self.grids[cell[0]].cells
        return cell[1] == len(grid) - 1 or cell[2] == len(grid[0]) - 1

    def derivable(self, hidden: set[Cell]) -> list[Cell]:
        """The hidden unknowns (class representatives) the published cells give away."""
        order = sorted(hidden)
        if not order:
            return []
        index = {cell: k for k, cell in enumerate(order)}
        constraints = []
        for line in self.lines:
            vector = np.zeros(len(order))
            for cell, sign in line:
                root = self.find(cell)
                if root in index:
                    vector[index[root]] += sign
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


def suppress_linked(
    grids: list[Grid], links: list[Link], threshold: int
) -> list[tuple[list[list[int | None]], set[tuple[int, int]]]]:
    """Suppress several tables together, so that no table's totals reveal a count another
    table hides; per grid, its cells as published and its hidden cells."""
    system = _Linked(grids, links)
    hidden = {
        system.find((g, i, j))
        for g, grid in enumerate(grids)
        for i, row in enumerate(grid.cells)
        for j, value in enumerate(row)
        if 0 < value < threshold
    }
    while True:
        exposed = set(system.derivable(hidden))
        if not exposed:
            break
        lines = [line for line in system.lines if any(system.find(c) in exposed for c, _ in line)]
        # A line with a single hidden cell is what gives it away: hide a second cell there.
        single = [line for line in lines if sum(system.find(c) in hidden for c, _ in line) == 1]
        candidates = {
            system.find(c)
            for line in (single or lines)
            for c, _ in line
            if system.find(c) not in hidden
        }
        if not candidates:  # every cell on its lines is hidden already: hide everything
            hidden |= {
                system.find((g, i, j))
                for g, grid in enumerate(grids)
                for i in range(len(grid.cells))
                for j in range(len(grid.cells[0]))
            }
            break
        # Prefer inner cells over totals, then the smallest non-zero count.
        hidden.add(
            min(
                candidates,
                key=lambda c: (system.is_total(c), system.value(c) == 0, system.value(c), c),
            )
        )
    out = []
    for g, grid in enumerate(grids):
        cells = {
            (i, j)
            for i in range(len(grid.cells))
            for j in range(len(grid.cells[0]))
            if system.find((g, i, j)) in hidden
        }
        shown: list[list[int | None]] = [
            [SUPPRESSED if (i, j) in cells else value for j, value in enumerate(row)]
            for i, row in enumerate(grid.cells)
        ]
        out.append((shown, cells))
    return out


def suppress(grid: Grid, threshold: int) -> tuple[list[list[int | None]], set[tuple[int, int]]]:
    """The grid with small counts and whatever would reveal them hidden; and the hidden set."""
    return suppress_linked([grid], [], threshold)[0]


def derivable_cells(grid: Grid, shown: list[list[int | None]]) -> list[tuple[int, int]]:
    """For tests and checks: hidden cells of a published table that its totals give away."""
    return [(i, j) for _, i, j in derivable_linked([grid], [], [shown])]


def derivable_linked(
    grids: list[Grid], links: list[Link], shown: list[list[list[int | None]]]
) -> list[Cell]:
    """For tests and checks: hidden cells that the published tables together give away."""
    system = _Linked(grids, links)
    hidden = {
        system.find((g, i, j))
        for g, table in enumerate(shown)
        for i, row in enumerate(table)
        for j, v in enumerate(row)
        if v is None
    }
    return system.derivable(hidden)
