"""How values are turned into bytes for storage: eventsourcing's JSON transcoder plus ours."""

from __future__ import annotations

from datetime import date
from typing import Any

from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Transcoding,
    UUIDAsHex,
)

from shared.domain import Meta


class DateAsISO(Transcoding):
    """Stores a date as its ISO text."""

    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class MetaAsDict(Transcoding):
    """Stores event metadata as a plain dict."""

    type = Meta
    name = "ecm_meta"

    def encode(self, obj: Meta) -> dict[str, Any]:
        return obj.as_dict()

    def decode(self, data: dict[str, Any]) -> Meta:
        return Meta(**data)


def register_ecm_transcodings(transcoder: JSONTranscoder) -> None:
    """Add ECM's own transcodings to a transcoder that has eventsourcing's defaults."""
    transcoder.register(DateAsISO())
    transcoder.register(MetaAsDict())


def make_transcoder() -> JSONTranscoder:
    """A transcoder with every transcoding ECM uses (same bytes as the event store)."""
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    register_ecm_transcodings(transcoder)
    return transcoder
