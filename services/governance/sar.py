"""Subject access: everything held about a child, decrypted, as HTML and JSON."""

from __future__ import annotations

import json
from datetime import datetime
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from services.governance.erasure import child_is_known, governance
from services.governance.history import child_history, current_records, plain
from shared.domain import Meta, RecordNotFound

if TYPE_CHECKING:
    from services.runtime import System

NOTICE_WORDS = ("Notice", "Partner")


def notices_sent(system: System, child_id: UUID,
                 history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The notices sent about the child: the notifications service's own view if it has one."""
    app = system.apps.get("notifications")
    finder = getattr(app, "notices_for_child", None)
    if callable(finder):
        return [plain(n) for n in finder(child_id)]
    return [e for e in history if e["service"] == "notifications"
            and any(word in e["event_type"] for word in NOTICE_WORDS)]


def subject_access_document(system: System, child_id: UUID, meta: Meta,
                            produced_at: datetime) -> dict[str, Any]:
    """Everything held about the child: every event decrypted in order, records, notices."""
    if not child_is_known(system, child_id):  # not just any id that some event mentions
        raise RecordNotFound(f"child {child_id} not found")
    entries = child_history(system, child_id, decrypt=True)
    history = [e.as_dict() for e in entries]
    erasure = governance(system).erasure_of(child_id) if "governance" in system.apps else None
    return {
        "title": "Subject access report",
        "child_id": str(child_id),
        "produced_at": produced_at.isoformat(),
        "produced_by": {"id": meta.actor_id, "role": meta.actor_role},
        "reason": meta.reason,
        "erased": system.vault.is_erased(child_id),
        "erased_on": plain(erasure.erased_on) if erasure else None,
        "services_searched": sorted(system.apps),
        "current_record": current_records(system, entries),
        "events": history,
        "notices": notices_sent(system, child_id, history),
    }


def provide_subject_access(system: System, child_id: UUID, meta: Meta,
                           produced_at: datetime) -> dict[str, Any]:
    """Produce the document and record the disclosure (who saw everything, when, why)."""
    document = subject_access_document(system, child_id, meta, produced_at)
    disclosure_id = governance(system).record_subject_access(
        child_id, produced_at.date(), len(document["events"]), document["services_searched"],
        meta)
    document["disclosure_id"] = str(disclosure_id)
    return document


def output_paths(out: Path) -> tuple[Path, Path]:
    """Where the HTML and JSON go: FILE.html + FILE.json, or FILE (.html) + a sibling .json."""
    if out.suffix.lower() in (".html", ".htm"):
        return out, out.with_suffix(".json")
    if out.suffix.lower() == ".json":
        return out.with_suffix(".html"), out
    return out.with_name(out.name + ".html"), out.with_name(out.name + ".json")


def write_files(document: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """Write the readable HTML document and the JSON file; owner-only permissions."""
    html_path, json_path = output_paths(out)
    html_path.parent.mkdir(parents=True, exist_ok=True)
    for path, text in ((html_path, render_html(document)),
                       (json_path, json.dumps(document, indent=2, ensure_ascii=False))):
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
        path.write_text(text, encoding="utf-8")
    return html_path, json_path


def _value(value: Any) -> str:
    if value is None:
        return '<span class="none">—</span>'
    if isinstance(value, dict):
        if not value:
            return '<span class="none">—</span>'
        rows = "".join(f"<tr><th>{escape(str(k))}</th><td>{_value(v)}</td></tr>"
                       for k, v in value.items())
        return f'<table class="kv">{rows}</table>'
    if isinstance(value, list):
        if not value:
            return '<span class="none">—</span>'
        return "<ul>" + "".join(f"<li>{_value(v)}</li>" for v in value) + "</ul>"
    return escape(str(value))


STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:72rem;color:#1b1b1b}
h1{font-size:1.6rem} h2{margin-top:2rem;border-bottom:2px solid #1d70b8}
table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{border:1px solid #b1b4b6;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f2f1;width:12rem} table.kv th{width:10rem}
.none{color:#6f777b} .erased{background:#fff4d6;padding:.5rem;border-left:4px solid #f47738}
"""


def render_html(document: dict[str, Any]) -> str:
    """The subject access report as a self-contained, readable HTML page."""
    d = document
    parts = [
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>{escape(d['title'])} — {escape(d['child_id'])}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{escape(d['title'])}</h1>",
        "<p>Everything ECM Record holds about this child: every recorded change in order, "
        "with who made it, when and why; the current record; and the notices sent to "
        "partner agencies.</p>",
        '<table class="kv">',
        f"<tr><th>Child (pseudonymous id)</th><td>{escape(d['child_id'])}</td></tr>",
        f"<tr><th>Produced at</th><td>{escape(d['produced_at'])}</td></tr>",
        f"<tr><th>Produced by</th><td>{_value(d['produced_by'])}</td></tr>",
        f"<tr><th>Reason</th><td>{_value(d.get('reason'))}</td></tr>",
        f"<tr><th>Services searched</th><td>{_value(d['services_searched'])}</td></tr>",
        f"<tr><th>Events</th><td>{len(d['events'])}</td></tr>",
        "</table>",
    ]
    if d["erased"]:
        parts.append(f'<p class="erased">This child\'s personal data was erased on '
                     f"{_value(d.get('erased_on'))}: personal fields can no longer be read "
                     "and are shown empty. The non-personal history remains for audit.</p>")
    parts.append("<h2>Current record</h2>")
    for record in d["current_record"]:
        parts.append(f"<h3>{escape(str(record.get('aggregate_type')))} "
                     f"({escape(record['service'])}) {escape(record['aggregate_id'])}</h3>")
        parts.append(_value({k: v for k, v in record.items()
                             if k not in ("service", "aggregate_id", "aggregate_type")}))
    parts.append("<h2>History</h2><table><tr><th>#</th><th>When</th><th>Service</th>"
                 "<th>What</th><th>Who</th><th>Why</th><th>Details</th></tr>")
    for i, e in enumerate(d["events"], 1):
        who = f"{e['actor']['id']} ({e['actor']['role']})"
        parts.append(
            f"<tr><td>{i}</td><td>{escape(str(e['occurred_at']))}</td>"
            f"<td>{escape(e['service'])}</td><td>{escape(e['event_type'])}</td>"
            f"<td>{escape(who)}</td><td>{_value(e['reason'])}</td>"
            f"<td>{_value(e['data'])}</td></tr>")
    parts.append("</table><h2>Notices sent</h2>")
    parts.append(_value(d["notices"]) if d["notices"] else "<p>No notices were sent.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)
