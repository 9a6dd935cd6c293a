"""Mentions the bot writes: a person named so that their client notifies them (a Matrix ``matrix.to`` pill with
``m.mentions``, a Slack ``<@U…>``).

The core writes ``mention(key, text)``: ``text`` (what every reader sees, ``@Mira``) marked with the person's
``[people]`` key between private-use characters. An adapter that declares ``Capability.MENTIONS`` turns each marked
part into its platform's mention of that person's account (:func:`split`); for every other platform the outbox sends
the plain text (:func:`plain`). The marks never come from outside: every text a platform hands in is made plain
(``bot.core.types.Frozen``: a forged mention is left as its visible text), so nothing a person writes can mention
anybody.

``space_link(ticket, text)`` marks ``text`` (usually the ticket's id) the same way as a link to the ticket's private
space (the key ``#HW-42``): Slack shows it as ``HW-42 <#C…>``; a platform without such links shows ``text``.
"""

from __future__ import annotations

import re

OPEN, SEP, CLOSE = "\ue000", "\ue001", "\ue002"
MARKS = re.compile("[\ue000-\ue002]")
_MENTION = re.compile("\ue000([^\ue000-\ue002]+)\ue001([^\ue000-\ue002]*)\ue002")
# a mention cut off by clipping: its visible text so far (or nothing, when the cut fell into the key)
_CUT = re.compile("\ue000[^\ue000-\ue002]*(?:\ue001([^\ue000-\ue002]*))?$")


def mention(key: str, text: str) -> str:
    """``text`` as a mention of the person ``key`` (a ``[people]`` key)."""
    return f"{OPEN}{unmarked(key)}{SEP}{unmarked(text)}{CLOSE}"


SPACE = "#"  # a marked key that starts with it names a ticket's space, not a person ([people] keys never do)


def space_link(ticket: str, text: str) -> str:
    """``text`` as a link to the private space of ``ticket`` (its key, ``HW-42``)."""
    return mention(SPACE + ticket, text)


def unmarked(text: str) -> str:
    """``text`` without any mark."""
    return MARKS.sub("", text)


def defused(text: str) -> str:
    """A text from outside as plain text: a (forged) mention is its visible text, any other mark is dropped."""
    return unmarked(_MENTION.sub(lambda match: match.group(2), text))


def plain(text: str) -> str:
    """The bot's ``text`` with every mention as its visible text (for platforms without mentions); a mention cut
    off at its end (a clipped message) keeps only its visible part."""
    return defused(_CUT.sub(lambda match: match.group(1) or "", text))


def split(text: str) -> list[str | tuple[str, str]]:
    """``text`` as plain parts and ``(key, visible text)`` mentions, in order; stray marks are dropped."""
    parts: list[str | tuple[str, str]] = []
    at = 0
    for match in _MENTION.finditer(text):
        if match.start() > at:
            parts.append(unmarked(text[at:match.start()]))
        parts.append((match.group(1), match.group(2)))
        at = match.end()
    if at < len(text):
        parts.append(plain(text[at:]))
    return parts
