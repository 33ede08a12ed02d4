"""Governance domain and documents: erasure records, disclosure records, the SAR's files."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from uuid import uuid4

import pytest

from services.governance.domain import ChildErasure, SubjectAccessDisclosure
from services.governance.sar import output_paths, render_html
from shared.domain import Invalid, Meta

DPO = Meta("dpo-1", "auditor", "c-1", "c-1", "end of retention period")


def test_an_erasure_is_recorded_once_per_child_under_an_id_derived_from_the_child() -> None:
    child = uuid4()
    erasure = ChildErasure.record(child, date(2030, 1, 2), True, DPO)
    assert erasure.id == ChildErasure.create_id(child)
    assert ChildErasure.create_id(child) != ChildErasure.create_id(uuid4())
    assert (erasure.erased_by, erasure.reason) == ("dpo-1", "end of retention period")
    assert [type(e).__name__ for e in erasure.collect_events()] == ["ErasureRecorded"]


@pytest.mark.parametrize("reason", [None, "", "  ", "no"])
def test_an_erasure_without_a_reason_is_refused_naming_the_field(reason: str | None) -> None:
    with pytest.raises(Invalid, match=r"^reason: "):
        ChildErasure.record(uuid4(), date(2030, 1, 2), True, DPO.with_reason(reason))


def test_a_disclosure_records_who_saw_what_and_refuses_a_negative_count() -> None:
    disclosure = SubjectAccessDisclosure.record(uuid4(), date(2030, 1, 2), 12, ["referrals"], DPO)
    assert disclosure.produced_by == "dpo-1"
    with pytest.raises(Invalid, match="events_disclosed"):
        SubjectAccessDisclosure.record(uuid4(), date(2030, 1, 2), -1, [], DPO)


@pytest.mark.parametrize(
    ("out", "html", "json"),
    [
        ("sar/child", "sar/child.html", "sar/child.json"),
        ("sar/child.html", "sar/child.html", "sar/child.json"),
        ("sar/child.json", "sar/child.html", "sar/child.json"),
        ("sar/child.2030", "sar/child.2030.html", "sar/child.2030.json"),
    ],
)
def test_the_report_is_written_as_html_with_a_json_sibling(out: str, html: str, json: str) -> None:
    assert output_paths(Path(out)) == (Path(html), Path(json))


def test_the_html_report_escapes_everything_it_shows() -> None:
    document = {
        "title": "Subject access report",
        "child_id": "c-1",
        "produced_at": "2030-01-02",
        "produced_by": {"id": "dpo-1", "role": "auditor"},
        "reason": "<i>SAR-17</i>",
        "erased": True,
        "erased_on": "2030-01-01",
        "services_searched": ["referrals"],
        "current_record": [
            {
                "service": "referrals",
                "aggregate_id": "a-1",
                "aggregate_type": "Child",
                "state": {"given_name": "<script>alert(1)</script>"},
            }
        ],
        "events": [
            {
                "occurred_at": "2029-01-01",
                "service": "referrals",
                "event_type": "ChildRegistered",
                "actor": {"id": "cm-1", "role": "cm"},
                "reason": None,
                "data": {"family_name": "O'Brien & <Sons>"},
            }
        ],
        "notices": [],
    }
    page = render_html(document)
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "O&#39;Brien &amp; &lt;Sons&gt;" in page
    assert "&lt;i&gt;SAR-17&lt;/i&gt;" in page
    assert "erased on" in page and "No notices were sent." in page
