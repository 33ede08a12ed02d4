"""The notices filter's reading of a child's reference, and the referral correction's body."""

from __future__ import annotations

from uuid import UUID

from starlette.datastructures import FormData

from services.web.pages_actions import ACTIONS, body_of
from services.web.pages_ops import _reference

CHILD = UUID("1234abcd-0000-4000-8000-000000000001")


def test_a_reference_is_eight_hex_characters_or_a_whole_child_id() -> None:
    assert _reference(None) == "" and _reference("  ") == ""
    assert _reference(str(CHILD)) == "1234abcd"
    assert _reference(" 1234ABCD ") == "1234abcd"
    assert _reference("1234abc") is None
    assert _reference("1234abcz") is None
    assert _reference("<script>") is None


def test_a_referral_correction_sends_months_as_a_number_and_text_as_text() -> None:
    action = ACTIONS["referral-correct"]
    months = FormData(
        [("field", "expected_involvement_months"), ("value", "9"), ("reason", "Synthetic")]
    )
    assert body_of(action, months) == {
        "field": "expected_involvement_months",
        "value": 9,
        "reason": "Synthetic",
    }
    words = FormData([("field", "reason"), ("value", "9"), ("reason", "Synthetic")])
    assert body_of(action, words)["value"] == "9"
    bad = FormData([("field", "expected_involvement_months"), ("value", "nine")])
    assert body_of(action, bad)["value"] == "nine"  # the API names the field and rule
