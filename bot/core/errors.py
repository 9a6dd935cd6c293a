"""One error model: a request that cannot be done as asked raises :class:`Refused` where that is found out —
in a command, in a service, in a guard several calls below — and the dispatcher turns it into the error
reply, in the reader's language, in one place (``Dispatcher._work``).

A refusal carries a catalogue key and the values of its placeholders. A value that must be worded for the
reader (a state, a date, a documentation field) is a callable taking the language, usually a :class:`Worded`:
that stays the plain value for code and tests (``"triage"``) and is worded only when the refusal is shown
(``"in Bearbeitung"``).

Services refuse before they write: what a command wrote before the refusal is not undone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.i18n import t


class Worded(str):
    """A value that is data (it compares, hashes and prints as ``value``) and is worded per language when
    called with one (``Worded("triage", state_name)("de")``)."""

    wording: Callable[[str], str]

    def __new__(cls, value: str, wording: Callable[[str], str]) -> Worded:
        worded = super().__new__(cls, value)
        worded.wording = wording
        return worded

    def __call__(self, lang: str) -> str:
        return self.wording(lang)

    def __reduce__(self) -> tuple[Any, ...]:
        return str, (str(self),)  # copies and pickles are the plain value


def in_language(value: object, lang: str) -> object:
    """``value`` as the reader of ``lang`` sees it: a callable (a :class:`Worded`) is asked for its wording."""
    return value(lang) if callable(value) else value


class Refused(Exception):
    """A request that cannot be done as asked: ``key`` and ``values`` make the message for the person who asked."""

    def __init__(self, key: str, /, **values: object) -> None:
        super().__init__(key)
        self.key = key
        self.values = values

    def text(self, lang: str, **context: object) -> str:
        """The refusal in ``lang``; ``context`` fills what only the place of the reply knows (the command prefix)."""
        values = {name: in_language(value, lang) for name, value in self.values.items()}
        return t(lang, self.key, **{**context, **values})


class BadValue(ValueError):
    """An argument a person typed that a command does not take, raised in a command's argument validator:
    ``key`` and ``values`` say, in the reader's language, what was typed and what is allowed. Pydantic's own
    English never reaches a person (bot/core/registry.py)."""

    def __init__(self, key: str, /, **values: object) -> None:
        super().__init__(key)
        self.key = key
        self.values = values

    def text(self, lang: str) -> str:
        return t(lang, self.key, **{name: in_language(value, lang) for name, value in self.values.items()})
