"""Rules of the notifications domain: the partner directory and a notice's life."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from services.notifications.domain import (
    Channel,
    Notice,
    NoticeKind,
    NoticeStatus,
    PartnerContact,
    RetryPolicy,
    ecm_reference,
    notice_id_for,
)
from shared.domain import Conflict, Invalid, Meta, NotFound
from shared.vocabulary import Agency

META = Meta("sp-1", "senior_practitioner", "corr-1", "cause-1")
SYSTEM = Meta("notifications", "system", "corr-1", "reviews:7")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=3, backoff_seconds=(10.0, 60.0))
CHILD = UUID("1234abcd-0000-4000-8000-000000000001")


def queued(contact_id: UUID | None = None) -> Notice:
    return Notice(
        source_message_id="reviews:7",
        contact_id=contact_id or uuid4(),
        child_id=CHILD,
        agency="education",
        kind=NoticeKind.REVIEW_SCHEDULED,
        subject_id="r-1",
        what="ECM review meeting",
        when="2026-03-10T10:00:00+00:00",
        venue="Room 4",
        online_link=None,
        due_at=T0,
        meta=SYSTEM,
    )


def test_a_partner_contact_needs_a_real_email_address() -> None:
    with pytest.raises(Invalid, match="email: is not an email address"):
        PartnerContact.register(
            agency=Agency.EDUCATION,
            name="Pat Teacher",
            email="not-an-address",
            webhook_url=None,
            preferred_channel=Channel.EMAIL,
            webhook_secret=None,
            meta=META,
        )


def test_a_contact_who_prefers_webhooks_must_give_a_webhook_url() -> None:
    with pytest.raises(Invalid, match="webhook_url: is required"):
        PartnerContact.register(
            agency=Agency.POLICE,
            name="Sgt Example",
            email="sgt@example.org",
            webhook_url=None,
            preferred_channel=Channel.WEBHOOK,
            webhook_secret=None,
            meta=META,
        )


def test_one_notice_id_per_source_message_and_contact() -> None:
    contact = uuid4()
    assert notice_id_for("reviews:7", contact) == notice_id_for("reviews:7", contact)
    assert notice_id_for("reviews:7", contact) != notice_id_for("reviews:8", contact)
    assert notice_id_for("reviews:7", contact) != notice_id_for("reviews:7", uuid4())
    assert queued(contact).id == notice_id_for("reviews:7", contact)


def test_a_new_notice_is_queued_and_due_at_once() -> None:
    notice = queued()
    assert notice.status == NoticeStatus.QUEUED
    assert notice.is_due(T0)
    assert not notice.is_due(T0 - timedelta(seconds=1))
    assert notice.reference == ecm_reference(CHILD) == "1234abcd"


def test_a_failed_attempt_is_retried_after_the_backoff() -> None:
    notice = queued()
    notice.record_failure("smtp: connection refused", T0, POLICY, SYSTEM)
    assert notice.status == NoticeStatus.FAILED
    assert notice.attempts == 1
    assert notice.next_attempt_at == T0 + timedelta(seconds=10)
    assert not notice.is_due(T0 + timedelta(seconds=9))
    assert notice.is_due(T0 + timedelta(seconds=10))
    notice.record_failure("smtp: connection refused", T0, POLICY, SYSTEM)
    assert notice.next_attempt_at == T0 + timedelta(seconds=60)


def test_a_notice_that_keeps_failing_stays_failed_until_an_operator_retries_it() -> None:
    notice = queued()
    for _ in range(3):
        notice.record_failure("webhook: receiver answered HTTP 500", T0, POLICY, SYSTEM)
    assert notice.status == NoticeStatus.FAILED
    assert notice.gave_up
    assert not notice.is_due(T0 + timedelta(days=365))
    later = T0 + timedelta(hours=2)
    notice.retry(later, META)
    assert str(notice.status) == "queued"
    assert notice.is_due(later)
    notice.record_failure("webhook: receiver answered HTTP 500", later, POLICY, SYSTEM)
    assert notice.next_attempt_at == later + timedelta(seconds=10)
    assert notice.attempts == 4


def test_a_sent_notice_records_channel_reference_and_attempt() -> None:
    notice = queued()
    notice.record_failure("timeout", T0, POLICY, SYSTEM)
    notice.record_sent(Channel.EMAIL, "<id@ecm-record>", T0 + timedelta(seconds=10), SYSTEM)
    assert notice.status == NoticeStatus.SENT
    assert (notice.channel, notice.provider_reference, notice.attempts) == (
        Channel.EMAIL,
        "<id@ecm-record>",
        2,
    )
    assert not notice.is_due(T0 + timedelta(days=1))
    with pytest.raises(Conflict, match="status: notice is sent"):
        notice.record_sent(Channel.EMAIL, "again", T0, SYSTEM)


def test_only_a_failed_notice_can_be_retried() -> None:
    with pytest.raises(Conflict, match="status: only a failed notice can be retried"):
        queued().retry(T0, META)


def test_only_the_addressee_can_acknowledge_and_only_once() -> None:
    contact = uuid4()
    notice = queued(contact)
    with pytest.raises(NotFound):
        notice.acknowledge(uuid4(), T0, META)
    notice.acknowledge(contact, T0, META)
    assert notice.status == NoticeStatus.ACKNOWLEDGED
    assert not notice.is_due(T0 + timedelta(days=1))
    with pytest.raises(Conflict, match="already acknowledged"):
        notice.acknowledge(contact, T0, META)


def test_a_long_error_is_kept_on_one_line_and_shortened() -> None:
    notice = queued()
    notice.record_failure("line one\nline two " + "x" * 5000, T0, POLICY, SYSTEM)
    assert notice.last_error is not None
    assert "\n" not in notice.last_error
    assert len(notice.last_error) == 1000
