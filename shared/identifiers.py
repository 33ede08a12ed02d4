"""Checks for the identifiers the record holds: NHS number and Unique Pupil Number."""

from __future__ import annotations

from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.gb import nhs, upn


def _reason(error: StdnumError, what: str) -> str:
    if isinstance(error, InvalidChecksum):
        return "check digit does not match" if what == "nhs" else "check letter does not match"
    if isinstance(error, InvalidLength):
        return "must be 10 digits" if what == "nhs" else "must be 13 characters"
    if isinstance(error, InvalidFormat | InvalidComponent):
        return "must be 10 digits" if what == "nhs" else "has an invalid format"
    return "is not valid"


def clean_nhs_number(value: str) -> str:
    """A valid NHS number without spaces, or ValueError saying which rule failed."""
    try:
        return str(nhs.validate(value))
    except StdnumError as e:
        raise ValueError(_reason(e, "nhs")) from None


def clean_upn(value: str) -> str:
    """A valid Unique Pupil Number in upper case, or ValueError saying which rule failed."""
    try:
        return str(upn.validate(value))
    except StdnumError as e:
        raise ValueError(_reason(e, "upn")) from None
