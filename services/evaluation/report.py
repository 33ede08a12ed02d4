"""The offline HTML report: charts from the suppressed aggregate tables only, the tables, the
data dictionary and the parameters. Charts are matplotlib figures inlined as SVG."""

from __future__ import annotations

import io
from html import escape
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display; chosen before pyplot loads

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from services.evaluation import dictionary
from services.evaluation.dataset import Export, Table
from services.evaluation.outputs import html_table

plt.rcParams.update({"svg.hashsalt": "ecm-evaluation", "svg.fonttype": "none", "font.size": 9})
STYLE = """body{font-family:Arial,Helvetica,sans-serif;margin:2em;max-width:70em;color:#0b0c0c}
table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #b1b4b6;
padding:2px 6px;text-align:right}th{background:#f3f2f1}h2{border-top:2px solid #1d70b8;
padding-top:0.5em}.note{color:#505a5f}figure{margin:0.5em 0}"""


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _values(table: Table, column: str) -> list[float]:
    return [
        float(r[column]) if isinstance(r.get(column), int | float) else 0.0 for r in table.rows[:-1]
    ]


def _stage_flows(table: Table) -> str:
    figure, axes = plt.subplots(figsize=(5, 4))
    grid = [
        [
            float(r[f"review_stage_{s}"]) if r[f"review_stage_{s}"] is not None else 0.0
            for s in range(1, 7)
        ]
        for r in table.rows[:-1]
    ]
    image = axes.imshow(grid, cmap="Blues", origin="lower", extent=(0.5, 6.5, 0.5, 6.5))
    axes.set_xlabel("TRM stage at latest review")
    axes.set_ylabel("TRM stage at formulation")
    axes.set_title("Stage flows (suppressed cells shown as 0)")
    figure.colorbar(image, ax=axes, label="children")
    return _svg(figure)


def _bars(title: str, labels: list[str], series: dict[str, list[float]], ylabel: str) -> str:
    figure, axes = plt.subplots(figsize=(7, 3.2))
    width = 0.8 / max(len(series), 1)
    for k, (name, values) in enumerate(series.items()):
        axes.bar([i + k * width for i in range(len(labels))], values, width, label=name)
    axes.set_xticks(
        [i + width * (len(series) - 1) / 2 for i in range(len(labels))],
        labels,
        rotation=30,
        ha="right",
    )
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.legend(fontsize=7)
    return _svg(figure)


def _timings(table: Table) -> str:
    figure, axes = plt.subplots(figsize=(7, 3))
    rows = [r for r in table.rows if r["median"] is not None]
    labels = [str(r["measure"]).removeprefix("days_referral_to_") for r in rows]
    medians = [float(r["median"]) for r in rows]
    low = [float(r["median"]) - float(r["p25"]) for r in rows]
    high = [float(r["p75"]) - float(r["median"]) for r in rows]
    axes.barh(labels, medians, xerr=[low, high], color="#1d70b8", capsize=3)
    axes.set_xlabel("days from referral (median, interquartile range)")
    axes.set_title("Time from referral to each step")
    return _svg(figure)


def charts(export: Export) -> list[tuple[str, str]]:
    """(caption, svg) for each chart."""
    t = export.tables
    out = [
        (
            "Stage flows: TRM stage at formulation against the latest review",
            _stage_flows(t["stage_flows"]),
        )
    ]
    for meeting in ("formulation", "review"):
        table = t[f"attendance_{meeting}"]
        out.append(
            (
                f"Attendance by agency at {meeting}s",
                _bars(
                    f"Attendance at {meeting}s",
                    [str(r["agency"]) for r in table.rows[:-1]],
                    {v: _values(table, v) for v in ("attended", "apologies", "did_not_attend")},
                    "attendance records",
                ),
            )
        )
    out.append(("Time from referral to formulation and review", _timings(t["timings"])))
    cadence = t["review_cadence"]
    out.append(
        (
            "Review cadence kept",
            _bars(
                "Review intervals against the planned cadence",
                [str(r["area"]) for r in cadence.rows[:-1]],
                {
                    "within cadence": _values(cadence, "within_cadence"),
                    "outside cadence": _values(cadence, "outside_cadence"),
                },
                "intervals",
            ),
        )
    )
    reoffending = t["reoffending"]
    out.append(
        (
            "Proven reoffending: the year before referral and the year after",
            _bars(
                "Proven reoffending (binary rate)",
                [str(r["window"]).replace("_", " ") for r in reoffending.rows],
                {
                    "binary rate": [float(r["binary_rate"] or 0) for r in reoffending.rows],
                    "frequency per child": [
                        float(r["frequency_per_child"] or 0) for r in reoffending.rows
                    ],
                },
                "rate",
            ),
        )
    )
    return out


def html_report(export: Export) -> str:
    """The whole report as one self-contained HTML page."""
    params: dict[str, Any] = export.parameters.as_dict()
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>ECM evaluation report</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>ECM evaluation report</h1>",
        "<p class='note'>Synthetic or pseudonymised data only. Counts under the threshold "
        "are suppressed (&ndash;), with further cells suppressed so that totals do not reveal "
        "them; charts show suppressed cells as 0.</p>",
        "<h2>Parameters</h2><table><tbody>",
    ]
    parts += [
        f"<tr><th scope='row'>{escape(k)}</th><td>{escape(str(v))}</td></tr>"
        for k, v in params.items()
    ]
    parts.append(
        f"<tr><th scope='row'>children in cohort</th><td>"
        f"{len(export.tables['children'].rows)}</td></tr></tbody></table>"
    )
    parts.append("<h2>Charts</h2>")
    for caption, svg in charts(export):
        parts.append(f"<figure>{svg}<figcaption>{escape(caption)}</figcaption></figure>")
    parts.append("<h2>Tables</h2>")
    for table in export.tables.values():
        if table.aggregate:
            parts.append(
                f"<h3>{escape(table.name)}</h3><p class='note'>"
                f"{escape(dictionary.DATASETS.get(table.name, ''))}</p>"
            )
            parts.append(html_table(table))
    parts.append(
        "<h2>Data dictionary</h2><table><thead><tr><th>dataset</th><th>field</th>"
        "<th>type</th><th>definition</th></tr></thead><tbody>"
    )
    parts += [
        "<tr>"
        + "".join(
            f"<td style='text-align:left'>{escape(e[k])}</td>"
            for k in ("dataset", "field", "type", "definition")
        )
        + "</tr>"
        for e in dictionary.rows()
    ]
    parts.append("</tbody></table></body></html>")
    return "".join(parts)
