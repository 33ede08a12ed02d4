"""Writing an export: CSV and Parquet per dataset, the data dictionary, the parameters and an
offline HTML report with charts (inline SVG: no script, no network)."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from services.evaluation import dictionary
from services.evaluation.dataset import Export, Table

Step = Callable[[str], None]


def _csv(table: Table) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=table.columns, extrasaction="raise")
    writer.writeheader()
    for row in table.rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buffer.getvalue().encode()


def _parquet(table: Table) -> bytes:
    columns = {c: [row.get(c) for row in table.rows] for c in table.columns}
    arrow = (
        pa.table(columns)
        if table.rows
        else pa.table({c: pa.array([], pa.string()) for c in table.columns})
    )
    sink = io.BytesIO()
    pq.write_table(arrow, sink)
    return sink.getvalue()


def files(export: Export, step: Step | None = None) -> dict[str, bytes]:
    """Every file of the export by name, in a stable order."""
    from services.evaluation.report import html_report

    out: dict[str, bytes] = {}
    for table in export.tables.values():
        folder = "tables/" if table.aggregate else "data/"
        out[f"{folder}{table.name}.csv"] = _csv(table)
        out[f"{folder}{table.name}.parquet"] = _parquet(table)
        if step:
            step(table.name)
    entries = dictionary.rows()
    out["dictionary.csv"] = _csv(
        Table("dictionary", ["dataset", "field", "type", "definition"], entries)
    )
    out["dictionary.json"] = json.dumps(entries, indent=1).encode()
    out["parameters.json"] = json.dumps(parameters(export), indent=1).encode()
    out["report.html"] = html_report(export).encode()
    if step:
        step("report")
    return out


def parameters(export: Export) -> dict[str, Any]:
    """The parameters used, and what each table holds."""
    return {
        **export.parameters.as_dict(),
        "tables": {
            t.name: {
                "rows": len(t.rows),
                "suppressed_cells": t.suppressed_cells,
                "kind": "aggregate" if t.aggregate else "record-level",
            }
            for t in export.tables.values()
        },
    }


def write(export: Export, folder: Path, step: Step | None = None) -> list[Path]:
    """Write the export under `folder` (created); returns the paths written."""
    written = []
    for name, content in files(export, step).items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        written.append(path)
    return written


def zipped(export: Export) -> bytes:
    """The export as one zip file (what the evaluator downloads through the API)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files(export).items():
            archive.writestr(name, content)
    return buffer.getvalue()


def html_table(table: Table) -> str:
    """A table as HTML (suppressed cells shown as a dash with a note)."""
    head = "".join(f"<th scope='col'>{escape(c)}</th>" for c in table.columns)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{'&ndash;' if row.get(c) is None else escape(str(row.get(c)))}</td>"
            for c in table.columns
        )
        + "</tr>"
        for row in table.rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
