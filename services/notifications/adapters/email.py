"""SMTP email channel (aiosmtplib): plain text, a stable Message-ID per notice."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib
from email_validator import EmailNotValidError, validate_email

from services.notifications.adapters import DeliveryError, Recipient
from services.notifications.content import NoticeMessage
from services.notifications.settings import NotifySettings


class SmtpSender:
    """Sends notices through an SMTP relay (secure email, e.g. NHSmail's relay)."""

    name = "email"

    def __init__(self, settings: NotifySettings) -> None:
        self.settings = settings

    def build(self, message: NoticeMessage, recipient: Recipient) -> EmailMessage:
        """The email for one notice; the Message-ID lets a mailbox spot a repeat delivery."""
        try:
            # Addresses stored before email-validator checked them at the edge may hold a line
            # break, which would push every header after To into the body.
            address = validate_email(recipient.email, check_deliverability=False).normalized
        except EmailNotValidError as error:
            raise DeliveryError(
                f"smtp: the contact's email address is not valid ({error})"
            ) from None
        email = EmailMessage()
        email["From"] = self.settings.smtp_from
        email["To"] = address
        email["Subject"] = message.subject
        email["Date"] = formatdate(usegmt=True)
        email["Message-ID"] = f"<{message.notice_id}@ecm-record>"
        email["X-ECM-Notice-Id"] = str(message.notice_id)
        email.set_content(message.text())
        if message.calendar and message.calendar_method:
            # Calendar clients add, move or remove the entry by its UID.
            email.add_attachment(
                message.calendar,
                subtype="calendar",
                filename="invitation.ics",
                params={"method": message.calendar_method},
            )
        return email

    async def send(self, message: NoticeMessage, recipient: Recipient, attempt: int) -> str:
        """Hand the email to the SMTP server; the reference is the Message-ID."""
        email = self.build(message, recipient)
        s = self.settings
        try:
            await aiosmtplib.send(
                email,
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username,
                password=s.smtp_password,
                use_tls=s.smtp_use_tls,
                start_tls=None if s.smtp_use_tls else s.smtp_starttls,
                timeout=s.send_timeout_seconds,
            )
        except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPConnectTimeoutError) as error:
            raise DeliveryError(
                f"smtp: cannot reach {s.smtp_host}:{s.smtp_port}: {error}"
            ) from error
        except aiosmtplib.SMTPException as error:
            raise DeliveryError(f"smtp: {type(error).__name__}: {error}") from error
        except OSError as error:
            raise DeliveryError(
                f"smtp: cannot reach {s.smtp_host}:{s.smtp_port}: {error}"
            ) from error
        return str(email["Message-ID"])
