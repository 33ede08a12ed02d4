"""Keyed blind indexes for finding a child without keeping the searched values at rest.

Each searchable value is normalised, then kept only as an HMAC-SHA256 under a key derived
from the master key (HKDF, its own `info`, never stored). A family name is indexed by every
prefix of at least MIN_PREFIX letters, so a prefix search is one exact lookup.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Iterator
from datetime import date
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shared.crypto import load_master_key
from shared.identifiers import clean_nhs_number, clean_upn
from shared.settings import Settings

MIN_PREFIX = 2
MAX_PREFIX = 40


class SearchKey(StrEnum):
    """What a blind index entry stands for."""

    FAMILY_NAME_PREFIX = "family_name_prefix"
    GIVEN_NAME = "given_name"
    DATE_OF_BIRTH = "date_of_birth"
    NHS_NUMBER = "nhs_number"
    UPN = "upn"


SEARCHABLE_FIELDS = ("family_name", "given_name", "date_of_birth", "nhs_number", "upn")


def search_key(settings: Settings) -> bytes:
    """The HMAC key of the child search indexes, derived from the master key (never stored)."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"ecm-record child search v1")
    return hkdf.derive(load_master_key(settings.master_key))


def normalise_name(value: str) -> str:
    """Case, accents, spaces, hyphens and apostrophes do not matter: letters and digits only."""
    decomposed = unicodedata.normalize("NFKD", value.casefold())
    kept = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[\W_]+", "", kept)


def digest(key: bytes, kind: SearchKey, normalised: str) -> str:
    """The blind index of one normalised value (bound to what it stands for)."""
    mac = hmac.new(key, digestmod=hashlib.sha256)
    mac.update(kind.value.encode())
    mac.update(b"\x00")
    mac.update(normalised.encode())
    return mac.hexdigest()


def entries(key: bytes, field: str, value: Any) -> Iterator[tuple[SearchKey, str]]:
    """The blind index entries of one field's (opened) value; nothing for an empty value."""
    if value is None or value == "":
        return
    if field == "family_name":
        name = normalise_name(str(value))[:MAX_PREFIX]
        for end in range(min(MIN_PREFIX, len(name)), len(name) + 1):
            if end:
                yield (
                    SearchKey.FAMILY_NAME_PREFIX,
                    digest(key, SearchKey.FAMILY_NAME_PREFIX, name[:end]),
                )
    elif field == "given_name":
        name = normalise_name(str(value))
        if name:
            yield SearchKey.GIVEN_NAME, digest(key, SearchKey.GIVEN_NAME, name)
    elif field == "date_of_birth":
        day = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
        yield SearchKey.DATE_OF_BIRTH, digest(key, SearchKey.DATE_OF_BIRTH, day.isoformat())
    elif field == "nhs_number":
        yield (
            SearchKey.NHS_NUMBER,
            digest(key, SearchKey.NHS_NUMBER, _clean(clean_nhs_number, value)),
        )
    elif field == "upn":
        yield SearchKey.UPN, digest(key, SearchKey.UPN, _clean(clean_upn, value))


def _clean(cleaner: Any, value: Any) -> str:
    try:
        return str(cleaner(str(value)))
    except ValueError:  # an old value stored before validation: index it as it is
        return re.sub(r"\s+", "", str(value)).upper()


def query_digest(key: bytes, kind: SearchKey, value: str | date) -> str:
    """The blind index a search for `value` looks up (ValueError when it cannot match)."""
    if kind == SearchKey.FAMILY_NAME_PREFIX:
        name = normalise_name(str(value))[:MAX_PREFIX]
        if len(name) < MIN_PREFIX:
            raise ValueError(f"must have at least {MIN_PREFIX} letters")
        return digest(key, kind, name)
    if kind == SearchKey.GIVEN_NAME:
        name = normalise_name(str(value))
        if not name:
            raise ValueError("must have at least one letter")
        return digest(key, kind, name)
    if kind == SearchKey.DATE_OF_BIRTH:
        day = value if isinstance(value, date) else date.fromisoformat(str(value))
        return digest(key, kind, day.isoformat())
    if kind == SearchKey.NHS_NUMBER:
        return digest(key, kind, clean_nhs_number(str(value)))
    return digest(key, kind, clean_upn(str(value)))
