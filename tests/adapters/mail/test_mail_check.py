"""`dutydesk check --online` logs into the real Dovecot and SMTP server: each login passes or says what to fix."""

from __future__ import annotations

from mail_harness import desk_data
from mail_servers import PASSWORD, Dovecot, SmtpSink

from adapters.mail.check import MailProbe
from bot.settings import settings_from_data


async def test_the_mail_logins_pass_with_the_right_password_and_fail_with_a_wrong_one(
        dovecot: Dovecot, smtp: SmtpSink) -> None:
    good = settings_from_data(desk_data(dovecot, smtp), "t", env={"DUTYDESK_MAIL__PASSWORD": PASSWORD})
    findings = await MailProbe().run(good)
    assert [(f.subject, f.ok) for f in findings] == [("IMAP login", True), ("folder INBOX", True),
                                                     ("SMTP login", True)]
    bad = settings_from_data(desk_data(dovecot, smtp), "t", env={"DUTYDESK_MAIL__PASSWORD": "wrong"})
    findings = await MailProbe().run(bad)
    assert [(f.subject, f.ok) for f in findings] == [("IMAP login", False), ("SMTP login", False)]
    # Dovecot answers NO at once; the test SMTP server (aiosmtpd) lets a refused login run into the read timeout
    assert "DUTYDESK_MAIL__PASSWORD" in findings[0].text
    folder = settings_from_data(desk_data(dovecot, smtp, mail={"folder": "Nope"}), "t",
                                env={"DUTYDESK_MAIL__PASSWORD": PASSWORD})
    assert ("folder Nope", False) in [(f.subject, f.ok) for f in await MailProbe().run(folder)]
    away = settings_from_data(desk_data(dovecot, smtp, mail={"imap": "imap://127.0.0.1:1"}), "t",
                              env={"DUTYDESK_MAIL__PASSWORD": PASSWORD})
    [imap, _smtp] = await MailProbe().run(away)
    assert not imap.ok and "cannot reach" in imap.text
