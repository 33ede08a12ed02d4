"""Calendar invitations for meeting and review notices (iCalendar, RFC 5545).

One UID per meeting or review (`<meeting id>@ecm-record`), so a partner's calendar moves the
same entry when it is rescheduled and removes it on a METHOD:CANCEL with that UID. SEQUENCE
rises with each notice about it (the time the notice was queued, in seconds). The icalendar
library escapes every text value, so no venue can add a property or a line of its own.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event, vCalAddress

from services.notifications.domain import Notice, NoticeKind

PRODID = "-//ECM Record//Partner notices//EN"
DURATION = timedelta(hours=1)
REQUESTS = frozenset(
    {
        NoticeKind.FORMULATION_MEETING_SCHEDULED,
        NoticeKind.FORMULATION_MEETING_RESCHEDULED,
        NoticeKind.REVIEW_SCHEDULED,
        NoticeKind.REVIEW_RESCHEDULED,
    }
)
CANCELS = frozenset({NoticeKind.FORMULATION_MEETING_CANCELLED, NoticeKind.REVIEW_CANCELLED})


def uid_for(subject_id: str) -> str:
    """The calendar UID of a meeting or review: the same in every notice about it."""
    return f"{subject_id}@ecm-record"


def method_of(notice: Notice) -> str | None:
    """REQUEST for a meeting set or moved, CANCEL for one called off, else no invitation."""
    if notice.kind in REQUESTS:
        return "REQUEST"
    if notice.kind in CANCELS:
        return "CANCEL"
    return None


def invitation(
    notice: Notice, *, summary: str, location: str | None, link: str, organiser: str
) -> str | None:
    """The iCalendar text for the notice, or None when it is not about a meeting in time."""
    method = method_of(notice)
    if method is None or not notice.subject_id or not notice.when:
        return None
    try:
        start = datetime.fromisoformat(notice.when)
    except ValueError:
        return None
    if start.tzinfo is None:
        return None
    try:
        # In UTC ("Z"): a fixed offset without a zone name would be written as floating time.
        start = start.astimezone(UTC)
    except OverflowError:
        return None
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", method)
    event = Event()
    event.add("uid", uid_for(notice.subject_id))
    event.add("dtstamp", notice.queued_at)
    event.add("sequence", int(notice.queued_at.timestamp()))
    event.add("dtstart", start)
    event.add("dtend", start + DURATION)
    event.add("summary", summary)
    if location:
        event.add("location", location)
    event.add("url", link)
    event.add("description", f"Details and acknowledgement: {link}")
    organizer = vCalAddress(f"mailto:{organiser}")
    organizer.params["cn"] = "ECM team"
    event.add("organizer", organizer)
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    calendar.add_component(event)
    text: str = calendar.to_ical().decode()
    return text
