"""Request field types every service uses: one rule per kind of input, stated in the schema.

Each rule fails with a ValueError whose text is the rule, so the error handler answers 422
naming the field and the rule in the same words in every service.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, WithJsonSchema

from shared.domain import Invalid

# -- text ------------------------------------------------------------------------------------

LINE_BREAKS = frozenset("\u2028\u2029")
MULTI_LINE_ALLOWED = frozenset("\n\r\t")
SINGLE_LINE_PATTERN = "^[^\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029]*$"
SINGLE_LINE_RULE = "must be a single line (no control characters such as CR, LF or tab)"
MULTI_LINE_RULE = "must not contain control characters other than line breaks and tabs"
VISIBLE_RULE = "must contain a visible character"
VISIBLE_CATEGORIES = frozenset("LNPS")  # letters, numbers, punctuation, symbols


def _control(char: str) -> bool:
    return unicodedata.category(char) == "Cc" or char in LINE_BREAKS


def check_single_line(value: str) -> str:
    """Refuse control characters (CR, LF, tab, NUL, C1) and Unicode line separators."""
    if any(_control(c) for c in value):
        raise ValueError(SINGLE_LINE_RULE)
    return value


def check_multi_line(value: str) -> str:
    """Refuse control characters other than CR, LF and tab."""
    if any(_control(c) and c not in MULTI_LINE_ALLOWED for c in value):
        raise ValueError(MULTI_LINE_RULE)
    return value


def check_visible(value: str) -> str:
    """Refuse text made only of spaces, zero-width or other invisible characters."""
    if not any(unicodedata.category(c)[0] in VISIBLE_CATEGORIES for c in value):
        raise ValueError(VISIBLE_RULE)
    return value


def check_single_line_text(value: str) -> str:
    """A single line with something visible in it."""
    return check_visible(check_single_line(value))


def check_multi_line_text(value: str) -> str:
    """Free text with something visible in it."""
    return check_visible(check_multi_line(value))


SINGLE_LINE = AfterValidator(check_single_line_text)
"""Metadata for `Annotated[str, Field(...lengths...), SINGLE_LINE, SINGLE_LINE_DOC]`."""
SINGLE_LINE_DOC = Field(
    description="One line of text with at least one visible character.",
    json_schema_extra={"pattern": SINGLE_LINE_PATTERN},
)
MULTI_LINE = AfterValidator(check_multi_line_text)
"""Metadata for `Annotated[str, Field(...lengths...), MULTI_LINE]`: line breaks allowed."""


def check_email(value: str) -> str:
    """An address email-validator accepts (no display name, no line breaks), normalised."""
    try:
        checked = validate_email(value, check_deliverability=False)
    except EmailNotValidError as e:
        raise ValueError(f"is not an email address ({e})") from None
    return checked.normalized


Email = Annotated[
    str,
    Field(min_length=3, max_length=320),
    AfterValidator(check_email),
    Field(
        description="An email address (no display name, no line breaks).",
        json_schema_extra={"format": "email"},
    ),
]


# -- whole numbers ---------------------------------------------------------------------------

ExpectedVersion = Annotated[
    int | None,
    Field(
        default=None,
        strict=True,
        ge=1,
        description="The record's version you last read (a whole number, 1 or more); the "
        "change is refused with 409 if the record has moved on.",
    ),
]
"""Optimistic concurrency: a JSON integer of at least 1 (`"1"` and `1.0` are refused)."""

# -- dates -----------------------------------------------------------------------------------

ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
DATE_RULE = "must be a date (YYYY-MM-DD)"
FIRST_CASE_DAY = date(2019, 1, 1)
"""Nothing in ECM happened before 2019 (the project began then)."""
FIRST_LIFE_DAY = date(1900, 1, 1)
MAX_AGE_YEARS = 25
PLANNING_HORIZON = timedelta(days=366)


def iso_date(value: Any) -> Any:
    """Only a YYYY-MM-DD string (or a date) is a date: `0` is not 1970-01-01."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not ISO_DATE.fullmatch(value):
        raise ValueError(DATE_RULE)
    return value


def _years_ago(today: date, years: int) -> date:
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # 29 February
        return today.replace(year=today.year - years, day=28)


def check_not_in_the_future(value: date) -> date:
    """A day that has come (today or earlier): the one home of "not in the future"."""
    if value > date.today():
        raise ValueError("must not be in the future")
    return value


def checked_day(
    field: str, value: date, rule: Callable[[date], date] = check_not_in_the_future
) -> date:
    """`value` checked by one of the day rules here, as the domain's Invalid naming `field`
    (for days that arrive outside a pydantic model: query parameters, parts of a value)."""
    try:
        return rule(value)
    except ValueError as error:
        raise Invalid(f"{field}: {error}", field=field) from None


def check_date_of_birth(value: date) -> date:
    """A child's date of birth: within the last 25 years, not in the future."""
    today = date.today()
    check_not_in_the_future(value)
    if value < _years_ago(today, MAX_AGE_YEARS):
        raise ValueError(f"must be within the last {MAX_AGE_YEARS} years")
    return value


def check_case_day(value: date) -> date:
    """Something that happened in the child's ECM work: from 2019, not in the future."""
    check_not_in_the_future(value)
    if value < FIRST_CASE_DAY:
        raise ValueError(f"must not be before {FIRST_CASE_DAY.isoformat()}")
    return value


def check_planned_day(value: date) -> date:
    """Something planned or due in the child's ECM work: from 2019 to a year ahead."""
    if value < FIRST_CASE_DAY:
        raise ValueError(f"must not be before {FIRST_CASE_DAY.isoformat()}")
    if value > date.today() + PLANNING_HORIZON:
        raise ValueError("must not be more than a year ahead")
    return value


def check_life_day(value: date) -> date:
    """A day in the child's life story (or family history): from 1900, not in the future."""
    check_not_in_the_future(value)
    if value < FIRST_LIFE_DAY:
        raise ValueError(f"must not be before {FIRST_LIFE_DAY.isoformat()}")
    return value


def check_as_of(value: date) -> date:
    """A point-in-time read: a past day (or today) from 1900."""
    check_not_in_the_future(value)
    if value < FIRST_LIFE_DAY:
        raise ValueError(f"must not be before {FIRST_LIFE_DAY.isoformat()}")
    return value


DateOfBirth = Annotated[
    date,
    BeforeValidator(iso_date),
    AfterValidator(check_date_of_birth),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date",
            "description": "YYYY-MM-DD, within the last 25 years, not in the future.",
        }
    ),
]
CaseDay = Annotated[
    date,
    BeforeValidator(iso_date),
    AfterValidator(check_case_day),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date",
            "description": "YYYY-MM-DD, from 2019-01-01, not in the future.",
        }
    ),
]
PlannedDay = Annotated[
    date,
    BeforeValidator(iso_date),
    AfterValidator(check_planned_day),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date",
            "description": "YYYY-MM-DD, from 2019-01-01 to a year ahead.",
        }
    ),
]
LifeDay = Annotated[
    date,
    BeforeValidator(iso_date),
    AfterValidator(check_life_day),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date",
            "description": "YYYY-MM-DD, from 1900-01-01, not in the future.",
        }
    ),
]
AsOfDay = Annotated[
    date,
    BeforeValidator(iso_date),
    AfterValidator(check_as_of),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date",
            "description": "YYYY-MM-DD from 1900-01-01, not in the future: the record "
            "as it stood at the end of that day.",
        }
    ),
]


# -- responses -------------------------------------------------------------------------------


def assume_utc(value: Any) -> Any:
    """A stored timestamp without an offset (SQLite drops it) is UTC: say so."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


Timestamp = Annotated[AwareDatetime, BeforeValidator(assume_utc)]
"""A moment in a response: always with its offset (UTC when the store kept none)."""
