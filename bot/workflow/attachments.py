"""Files sent to a ticket: screenshots in JPG, GIF or PNG (handbook 003 2.4) are kept as attachments
(file name and type, and the platform's reference); any other type is refused with a message that
says which types are taken. A screenshot answers the intake field ``screenshot``.

Adapters put the files of a message on ``InboundEvent.attachments`` (name, MIME type, size, ref).
"""

from __future__ import annotations

import mimetypes

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.desk import Desk
from bot.core.types import Attachment
from bot.i18n import t
from bot.tickets import service
from bot.workflow import intake, rules
from storage.models import Attachment as AttachmentRow
from storage.models import Person, Ticket

ALLOWED = {"image/jpeg": "JPG", "image/gif": "GIF", "image/png": "PNG"}
MAX_NAME = 255


def mime_of(attachment: Attachment) -> str:
    """The declared type, else the one the file name suggests."""
    declared = (attachment.mime_type or "").split(";")[0].strip().lower()
    if declared and declared != "application/octet-stream":
        return declared
    guessed, _ = mimetypes.guess_type(attachment.name)
    return (guessed or declared or "application/octet-stream").lower()


async def receive(session: AsyncSession, desk: Desk, ticket: Ticket, author: Person,
                  attachments: tuple[Attachment, ...], lang: str) -> list[str]:
    """Stores the accepted files; returns one refusal sentence (in ``lang``) per refused file."""
    refusals = []
    now = desk.clock.now()
    for attachment in attachments:
        mime = mime_of(attachment)
        name = attachment.name[:MAX_NAME]
        if mime not in ALLOWED:
            refusals.append(t(lang, "intake.bad_attachment", name=name, type=mime,
                              allowed=", ".join(ALLOWED.values())))
            continue
        event = service.log(session, ticket, "attachment", now, author, new=mime, body=name, public=True)
        await session.flush()
        session.add(AttachmentRow(ticket_id=ticket.id, event_id=event.id, file_name=name, mime_type=mime,
                                  size=attachment.size, ref=attachment.ref, created_at=now))
        if "screenshot" in rules.missing(desk.settings, ticket):
            await intake.fill(session, desk, ticket, "screenshot", name, author)
    return refusals
