"""`dutydesk check --online` for the support mailbox: the IMAP login and the folder, the SMTP login — each with
what to fix (bot/infra/checks.py)."""

from __future__ import annotations

import contextlib

from adapters.mail.connect import MailboxError, close_imap, open_imap, open_smtp
from bot.core.ports import Finding, failed, passed
from bot.settings import Settings


class MailProbe:
    area = "mail"

    def applies(self, settings: Settings) -> bool:
        return settings.mail_enabled

    async def run(self, settings: Settings) -> list[Finding]:
        config = settings.mail
        findings: list[Finding] = []
        try:
            imap = await open_imap(config)
        except MailboxError as exc:
            findings.append(failed(self.area, "IMAP login", exc.reason))
        else:
            try:
                answer = await imap.select(config.folder)
                findings.append(passed(self.area, "IMAP login", f"{config.login} on {config.imap_server.host}"))
                findings.append(passed(self.area, f"folder {config.folder}", "readable") if answer.result == "OK"
                                else failed(self.area, f"folder {config.folder}",
                                            "the mailbox has no such folder; check mail.folder"))
            finally:
                await close_imap(imap)
        try:
            smtp = await open_smtp(config)
        except MailboxError as exc:
            findings.append(failed(self.area, "SMTP login", exc.reason))
        else:
            with contextlib.suppress(Exception):
                await smtp.quit()
            findings.append(passed(self.area, "SMTP login", f"{config.login} on {config.smtp_server.host}"))
        return findings
