"""The Head of Mailbox: the ``/mailbox`` commands (the holder's buttons run them), and the mails still waiting
handed on at a duty window's start (the duty handover's hook); holding a mail is the dispatcher's first look at a
new mail (bot/mailbox/service.py ``hold``)."""

from __future__ import annotations

from bot.core.features import Features
from bot.duty.hooks import HANDOVER
from bot.mailbox import service
from commands import mailbox


def register(features: Features) -> None:
    mailbox.register(features.commands)
    features.on(HANDOVER, service.hand_over)
