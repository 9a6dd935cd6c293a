"""The Head of Mailbox: the ``/mailbox`` commands (the holder's buttons run them); holding a mail is the
dispatcher's first look at a new mail (bot/mailbox/service.py ``hold``)."""

from __future__ import annotations

from bot.core.features import Features
from commands import mailbox


def register(features: Features) -> None:
    mailbox.register(features.commands)
