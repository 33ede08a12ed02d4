"""Subject access: everything held about a child, decrypted, as HTML and JSON."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from jinja2 import Environment, StrictUndefined

from services.governance.audit import STORE, child_trail
from services.governance.erasure import child_is_known, governance
from services.governance.history import current_records, plain
from shared.crypto import FieldCipher
from shared.domain import Meta, RecordNotFound

if TYPE_CHECKING:
    from services.plugin import Resources

NOTICE_WORDS = ("Notice", "Partner")


def notices_sent(
    system: Resources, child_id: UUID, history: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The notices sent about the child: the notifications service's own view if it has one."""
    app = system.every_store().get("notifications")
    finder = getattr(app, "notices_for_child", None)
    if callable(finder):
        return [plain(n) for n in finder(child_id)]
    return [
        e
        for e in history
        if e["service"] == "notifications" and any(word in e["event_type"] for word in NOTICE_WORDS)
    ]


SHARED_RECORDS: dict[str, frozenset[str]] = {
    # A supervision session is about practitioners and may discuss several children: the
    # report says this child was discussed, when and with whom, never what about the others.
    "SupervisionSession": frozenset(
        {"practitioner_id", "supervisor_id", "held_on", "kind", "logged_by"}
    ),
}
WITHHELD = "left out: this record is shared with other people"


def only_this_child(item: dict[str, Any], key: str, child_id: UUID) -> dict[str, Any]:
    """An event or record as the report shows it: shared records keep only what is this
    child's (the fact they were discussed), never other children or the free text."""
    keep = SHARED_RECORDS.get(str(item.get("aggregate_type")))
    values = item.get(key)
    if keep is None or not isinstance(values, dict):
        return item
    shown = {k: v for k, v in values.items() if k in keep}
    shown["children"] = [str(child_id)]
    shown["themes"] = WITHHELD
    return {**item, key: shown}


def subject_access_document(
    system: Resources, child_id: UUID, meta: Meta, produced_at: datetime
) -> dict[str, Any]:
    """Everything held about the child: every event decrypted in order, records, notices."""
    if not child_is_known(system, child_id):  # not just any id that some event mentions
        raise RecordNotFound(f"child {child_id} not found")
    entries = child_trail(
        system.engine(STORE), system.contracts, child_id, cipher=FieldCipher(system.vault)
    )
    history = [only_this_child(e.as_dict(), "data", child_id) for e in entries]
    erasure = governance(system).erasure_of(child_id)
    return {
        "title": "Subject access report",
        "child_id": str(child_id),
        "produced_at": produced_at.isoformat(),
        "produced_by": {"id": meta.actor_id, "role": meta.actor_role},
        "reason": meta.reason,
        "erased": system.vault.is_erased(child_id),
        "erased_on": plain(erasure.erased_on) if erasure else None,
        "services_searched": sorted(system.contracts),
        "current_record": [
            only_this_child(r, "state", child_id) for r in current_records(system, entries)
        ],
        "events": history,
        "notices": notices_sent(system, child_id, history),
    }


def provide_subject_access(
    system: Resources, child_id: UUID, meta: Meta, produced_at: datetime
) -> dict[str, Any]:
    """Produce the document and record the disclosure (who saw everything, when, why)."""
    document = subject_access_document(system, child_id, meta, produced_at)
    disclosure_id = governance(system).record_subject_access(
        child_id, produced_at.date(), len(document["events"]), document["services_searched"], meta
    )
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
    """Write the readable HTML document and the JSON file, each created new (never over an
    existing file or through a symbolic link) with owner-only permissions from the start."""
    html_path, json_path = output_paths(out)
    html_path.parent.mkdir(parents=True, exist_ok=True)
    for path, text in (
        (html_path, render_html(document)),
        (json_path, json.dumps(document, indent=2, ensure_ascii=False)),
    ):
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        with os.fdopen(os.open(path, flags, 0o600), "w", encoding="utf-8") as file:
            file.write(text)
    return html_path, json_path


def free_output_paths(out: Path) -> tuple[Path, Path]:
    """The output paths, or FileExistsError naming the first that already exists."""
    paths = output_paths(out)
    for path in paths:
        if path.exists() or path.is_symlink():
            raise FileExistsError(f"{path} already exists: choose another --out")
    return paths


STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:72rem;color:#1b1b1b}
h1{font-size:1.6rem} h2{margin-top:2rem;border-bottom:2px solid #1d70b8}
table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{border:1px solid #b1b4b6;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f2f1;width:12rem} table.kv th{width:10rem}
.none{color:#6f777b} .erased{background:#fff4d6;padding:.5rem;border-left:4px solid #f47738}
"""

TEMPLATE = """\
{%- macro value(v) -%}
{%- if v is none or (v is mapping and not v) or (v is iterable and v is not string and not v)
-%}<span class="none">—</span>
{%- elif v is mapping -%}<table class="kv">{% for k, x in v.items() %}<tr><th>{{ k }}</th>\
<td>{{ value(x) }}</td></tr>{% endfor %}</table>
{%- elif v is iterable and v is not string -%}<ul>{% for x in v %}<li>{{ value(x) }}</li>\
{% endfor %}</ul>
{%- else -%}{{ v }}{%- endif -%}
{%- endmacro -%}
<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{{ d.title }} — {{ d.child_id }}</title>
<style>{{ style }}</style></head><body>
<h1>{{ d.title }}</h1>
<p>Everything ECM Record holds about this child: every recorded change in order, with who \
made it, when and why; the current record; and the notices sent to partner agencies.</p>
<table class="kv">
<tr><th>Child (pseudonymous id)</th><td>{{ d.child_id }}</td></tr>
<tr><th>Produced at</th><td>{{ d.produced_at }}</td></tr>
<tr><th>Produced by</th><td>{{ value(d.produced_by) }}</td></tr>
<tr><th>Reason</th><td>{{ value(d.reason) }}</td></tr>
<tr><th>Services searched</th><td>{{ value(d.services_searched) }}</td></tr>
<tr><th>Events</th><td>{{ d.events | length }}</td></tr>
</table>
{% if d.erased %}<p class="erased">This child's personal data was erased on \
{{ value(d.erased_on) }}: personal fields can no longer be read and are shown empty. The \
non-personal history remains for audit.</p>{% endif %}
<h2>Current record</h2>
{% for record in d.current_record %}
<h3>{{ record.aggregate_type }} ({{ record.service }}) {{ record.aggregate_id }}</h3>
{{ value(record | dictsort | rejectattr(0, "in", hidden) | list | to_dict) }}
{% endfor %}
<h2>History</h2><table><tr><th>#</th><th>When</th><th>Service</th><th>What</th><th>Who</th>\
<th>Why</th><th>Details</th></tr>
{% for e in d.events %}<tr><td>{{ loop.index }}</td><td>{{ e.occurred_at }}</td>\
<td>{{ e.service }}</td><td>{{ e.event_type }}</td><td>{{ e.actor.id }} ({{ e.actor.role }})</td>\
<td>{{ value(e.reason) }}</td><td>{{ value(e.data) }}</td></tr>
{% endfor %}</table>
<h2>Notices sent</h2>
{% if d.notices %}{{ value(d.notices) }}{% else %}<p>No notices were sent.</p>{% endif %}
</body></html>
"""

_environment = Environment(autoescape=True, undefined=StrictUndefined, keep_trailing_newline=True)
_environment.filters["to_dict"] = dict
_template = _environment.from_string(TEMPLATE)


def render_html(document: dict[str, Any]) -> str:
    """The subject access report as a self-contained HTML page (Jinja2, autoescaped)."""
    return _template.render(
        d=document, style=STYLE, hidden=("service", "aggregate_id", "aggregate_type")
    )
