"""The whole-story timeline drawn as SVG on the server: life-story entries above the axis,
service events below it, and the child's TRM stage as a band over time.

Pure functions of the timeline items the API returns: no JavaScript is needed to see it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from markupsafe import escape

WIDTH, HEIGHT = 960, 420
LEFT, RIGHT = 40, 20
AXIS_Y = 230
BAND_TOP, BAND_HEIGHT = 384, 22
STAGE_FILL = {1: "#f3f2f1", 2: "#d2e2f1", 3: "#a5c5e3", 4: "#c3e7d6", 5: "#85d1ad", 6: "#00703c"}
LIFE_FILL, SERVICE_FILL = "#1d70b8", "#6f72af"
PRECISION_WORDS = {
    "exact": "",
    "month": " (month)",
    "year": " (year)",
    "approximate_age": " (about)",
}


@dataclass(frozen=True)
class Mark:
    """One item placed on the drawing."""

    x: float
    y: float
    label: str
    title: str
    life: bool
    approximate: bool


def _day(item: dict[str, Any]) -> date | None:
    value = item.get("on")
    return date.fromisoformat(value) if isinstance(value, str) else None


def _label(item: dict[str, Any]) -> str:
    details = item.get("details") or {}
    for key in ("category", "decision", "stage_label", "status", "intervention_type"):
        value = details.get(key)
        if isinstance(value, str) and value:
            return value.replace("_", " ")
    return str(item.get("event_type", item.get("kind", "")))


def _stages(items: list[dict[str, Any]]) -> list[tuple[date, int]]:
    """When the stage in force changed, in date order."""
    changes: list[tuple[date, int]] = []
    for item in sorted((i for i in items if _day(i) is not None), key=lambda i: _day(i) or 0):
        stage, day = item.get("stage_in_force"), _day(item)
        if isinstance(stage, int) and day is not None and (not changes or changes[-1][1] != stage):
            changes.append((day, stage))
    return changes


def draw(items: list[dict[str, Any]], today: date) -> str:
    """The SVG document (as markup) for `items`; escaping is done here, for every label."""
    dated = [i for i in items if _day(i) is not None]
    undated = len(items) - len(dated)
    days = [d for d in (_day(i) for i in dated) if d is not None]
    start = min(days, default=today)
    end = max([*days, today])
    span = max((end - start).days, 1)

    def x_of(day: date) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * (day - start).days / span

    marks: list[Mark] = []
    above = below = 0
    for item in sorted(dated, key=lambda i: (_day(i) or today, str(i.get("recorded_at")))):
        day = _day(item) or today
        life = item.get("kind") == "life_story"
        precision = str(item.get("precision", "exact"))
        if life:
            y = AXIS_Y - 30 - 26 * (above % 7)
            above += 1
        else:
            y = AXIS_Y + 30 + 22 * (below % 5)
            below += 1
        label = _label(item)
        title = f"{day.isoformat()}{PRECISION_WORDS.get(precision, '')}: {label}"
        marks.append(Mark(x_of(day), y, label[:28], title, life, precision != "exact"))

    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="ecm-timeline" viewBox="0 0 {WIDTH} '
        f'{HEIGHT}" role="img" aria-labelledby="timeline-title timeline-desc">',
        '<title id="timeline-title">Whole-story timeline</title>',
        f'<desc id="timeline-desc">{len(marks)} dated items from {start.isoformat()} to '
        f"{end.isoformat()}: life-story entries above the line, service events below it, the "
        f"TRM stage as a band along the bottom. {undated} items have no date. The same items "
        "are listed in the table view.</desc>",
        f'<text x="{LEFT}" y="18" font-size="14" fill="#0b0c0c">Life story</text>',
        f'<text x="{LEFT}" y="{AXIS_Y + 20}" font-size="14" fill="#0b0c0c">Service events</text>',
        f'<line x1="{LEFT}" y1="{AXIS_Y}" x2="{WIDTH - RIGHT}" y2="{AXIS_Y}" stroke="#0b0c0c" '
        'stroke-width="2"/>',
    ]
    for year in range(start.year + 1, end.year + 1):
        x = x_of(date(year, 1, 1))
        out.append(
            f'<line x1="{x:.1f}" y1="{AXIS_Y - 6}" x2="{x:.1f}" y2="{AXIS_Y + 6}" '
            'stroke="#0b0c0c"/>'
        )
        if (end.year - start.year) <= 20 or year % 5 == 0:
            out.append(
                f'<text x="{x:.1f}" y="{AXIS_Y - 10}" font-size="12" '
                f'text-anchor="middle" fill="#0b0c0c">{year}</text>'
            )
    for mark in marks:
        fill = LIFE_FILL if mark.life else SERVICE_FILL
        dash = ' stroke-dasharray="3 2"' if mark.approximate else ""
        out.append("<g>")
        out.append(f"<title>{_esc(mark.title)}</title>")
        out.append(
            f'<line x1="{mark.x:.1f}" y1="{AXIS_Y}" x2="{mark.x:.1f}" y2="{mark.y:.1f}" '
            f'stroke="{fill}"{dash}/>'
        )
        out.append(f'<circle cx="{mark.x:.1f}" cy="{mark.y:.1f}" r="5" fill="{fill}"/>')
        out.append(
            f'<text x="{mark.x + 8:.1f}" y="{mark.y + 4:.1f}" font-size="12" '
            f'fill="#0b0c0c">{_esc(mark.label)}</text>'
        )
        out.append("</g>")
    changes = _stages(items)
    out.append(
        f'<text x="{LEFT}" y="{BAND_TOP - 6}" font-size="12" fill="#0b0c0c">TRM stage</text>'
    )
    for n, (day, stage) in enumerate(changes):
        x0 = x_of(day)
        x1 = x_of(changes[n + 1][0]) if n + 1 < len(changes) else x_of(end)
        fill = STAGE_FILL.get(stage, "#f3f2f1")
        text_fill = "#ffffff" if stage == 6 else "#0b0c0c"
        out.append(
            f'<rect x="{x0:.1f}" y="{BAND_TOP}" width="{max(x1 - x0, 2):.1f}" '
            f'height="{BAND_HEIGHT}" fill="{fill}" stroke="#505a5f"/>'
        )
        out.append(
            f'<text x="{x0 + 4:.1f}" y="{BAND_TOP + 15}" font-size="12" '
            f'fill="{text_fill}">Stage {stage}</text>'
        )
    out.append("</svg>")
    return "\n".join(out)


def _esc(value: str) -> str:
    return str(escape(value))
