"""What a partner is told: what, when, where, who to contact, a link back. Nothing else."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jwt

from services.notifications.calendar import invitation, method_of
from services.notifications.domain import Notice

FOOTER = (
    "This notice carries the minimum needed to take part. Please do not reply with details "
    "about the child; contact the ECM team instead."
)


def _local_zone() -> ZoneInfo | None:
    try:
        return ZoneInfo("Europe/London")
    except ZoneInfoNotFoundError:
        return None


LINE_BREAKING = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def one_line(value: str | None) -> str | None:
    """`value` with every control character and line break turned into one space.

    Each part of a notice is rendered as one line (an email header or body line, a webhook
    field, a calendar property): text stored before single-line input was enforced must not
    add lines ("Contact: ...") or headers of its own.
    """
    return None if value is None else LINE_BREAKING.sub(" ", value)


def human_when(value: str | None) -> str | None:
    """An ISO date or date-time as UK readers expect it ("Tuesday 3 March 2026, 10:00")."""
    if not value:
        return None
    try:
        if "T" not in value and len(value) <= 10:
            return date.fromisoformat(value).strftime("%A %-d %B %Y")
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    zone = _local_zone()
    if moment.tzinfo is not None and zone is not None:
        try:
            moment = moment.astimezone(zone)
        except OverflowError:  # e.g. 0001-01-01T00:00+14:00: no UK time exists; say it as given
            return value
        return moment.strftime("%A %-d %B %Y, %H:%M (UK time)")
    return moment.strftime("%A %-d %B %Y, %H:%M")


def human_where(venue: str | None, online_link: str | None) -> str | None:
    """The venue and/or online link, on one line."""
    parts = [p for p in (venue, f"online: {online_link}" if online_link else None) if p]
    return "; ".join(parts) or None


@dataclass(frozen=True)
class ActionLine:
    """One action agreed at a review, for the recipient's agency: by when, and what."""

    due_on: str
    text: str

    def line(self) -> str:
        """The action on one line."""
        return f"- {self.text} (by {human_when(self.due_on) or self.due_on})"


@dataclass(frozen=True)
class NoticeMessage:
    """A notice ready for a channel; the child appears only as the ECM reference."""

    notice_id: UUID
    kind: str
    reference: str
    what: str
    when: str | None
    where: str | None
    venue: str | None
    online_link: str | None
    contact: str
    link: str
    calendar: str | None = None
    """An iCalendar invitation (or cancellation) for a meeting or review notice."""
    calendar_method: str | None = None
    actions: tuple[ActionLine, ...] = ()
    """A review held: the actions owned by the recipient's agency, and no other."""

    @property
    def subject(self) -> str:
        """An email subject line."""
        return f"{self.what} (ECM ref {self.reference})"

    def text(self) -> str:
        """A plain-text body."""
        lines = [f"ECM notice, reference {self.reference}", "", f"What: {self.what}"]
        if self.when:
            lines.append(f"When: {self.when}")
        if self.where:
            lines.append(f"Where: {self.where}")
        if self.actions:
            lines += ["Actions for your agency:", *(a.line() for a in self.actions)]
        lines += [
            f"Contact: {self.contact}",
            f"Details and acknowledgement: {self.link}",
            "",
            FOOTER,
        ]
        return "\n".join(lines) + "\n"

    def as_json(self) -> dict[str, Any]:
        """The webhook payload."""
        return {
            "notice_id": str(self.notice_id),
            "kind": self.kind,
            "reference": self.reference,
            "what": self.what,
            "when": self.when,
            "where": {"venue": self.venue, "online_link": self.online_link},
            "contact": self.contact,
            "link": self.link,
            "calendar": self.calendar,
            "actions": [{"due_on": a.due_on, "text": a.text} for a in self.actions],
        }

    def personalisation(self) -> dict[str, str]:
        """GOV.UK Notify template fields (every one present; Notify refuses missing ones)."""
        return {
            "what": self.what,
            "when": self.when or "-",
            "where": self.where or "-",
            "contact": self.contact,
            "link": self.link,
            "reference": self.reference,
            "actions": "\n".join(a.line() for a in self.actions) or "-",
        }


PARTNER_LINK_DAYS = 60
"""How long the link in a notice opens it, from when the notice was queued."""
PARTNER_LINK_TYPE = "ecm-partner-notice"


def partner_link_token(notice_id: UUID, contact_id: UUID, expires_at: datetime, secret: str) -> str:
    """A signed token that opens one notice for its one contact (read and acknowledge only)."""
    claims = {
        "typ": PARTNER_LINK_TYPE,
        "notice": str(notice_id),
        "contact": str(contact_id),
        "exp": int(expires_at.timestamp()),
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def read_partner_link_token(token: str, secret: str) -> tuple[UUID, UUID]:
    """The (notice, contact) a link token opens; jwt.PyJWTError if forged, altered or expired."""
    claims = jwt.decode(
        token,
        secret,
        algorithms=["HS256"],
        options={"require": ["exp", "typ", "notice", "contact"]},
    )
    if claims.get("typ") != PARTNER_LINK_TYPE:
        raise jwt.InvalidTokenError("not a partner notice link")
    try:
        return UUID(str(claims["notice"])), UUID(str(claims["contact"]))
    except ValueError:
        raise jwt.InvalidTokenError("not a partner notice link") from None


def notice_link(notice: Notice, public_base_url: str, link_secret: str = "") -> str:
    """The link back in a notice: `<base>/notices/<id>?t=<signed token>` (the plain link only
    where no link secret is configured). Deterministic, so every retry sends the same link."""
    link = f"{public_base_url.rstrip('/')}/notices/{notice.id}"
    if not link_secret:
        return link
    expires = notice.queued_at + timedelta(days=PARTNER_LINK_DAYS)
    return f"{link}?t={partner_link_token(notice.id, notice.contact_id, expires, link_secret)}"


def compose(
    notice: Notice, public_base_url: str, team_contact: str, link_secret: str = ""
) -> NoticeMessage:
    """The message for a notice: content from the notice, contact and link from settings."""
    venue, online_link = one_line(notice.venue), one_line(notice.online_link)
    reference, what = one_line(notice.reference) or "", one_line(notice.what) or ""
    where = human_where(venue, online_link)
    contact = one_line(team_contact) or ""
    link = notice_link(notice, public_base_url, link_secret)
    return NoticeMessage(
        notice_id=notice.id,
        kind=str(notice.kind),
        reference=reference,
        what=what,
        when=one_line(human_when(notice.when)),
        where=where,
        venue=venue,
        online_link=online_link,
        contact=contact,
        link=link,
        calendar=invitation(
            notice,
            summary=f"{what} (ECM ref {reference})",
            location=where,
            link=link,
            organiser=contact,
        ),
        calendar_method=method_of(notice),
        actions=tuple(_action_lines(notice)),
    )


ERASED_TEXT = "(no longer available)"


def _action_lines(notice: Notice) -> list[ActionLine]:
    """The notice's actions, each on one line (a text erased since reads as such)."""
    return [
        ActionLine(
            one_line(str(a.get("due_on") or "")) or "", one_line(a.get("text")) or ERASED_TEXT
        )
        for a in getattr(notice, "actions", [])
    ]
