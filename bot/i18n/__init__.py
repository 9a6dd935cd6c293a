"""Message catalogues: every user-facing sentence lives in ``bot/i18n/<lang>.yaml``.

A key missing from a language falls back to English; a test keeps the three catalogues
complete and their placeholders identical.

A sentence that depends on a number is a mapping of CLDR plural categories (``one``, ``few``, ``many``,
``other``) to sentences; ``{count}`` picks the form by the language's plural rules (Babel):

    copied_head:
      one: "Перенесено из {channel} ({count} сообщение):"
      few: "Перенесено из {channel} ({count} сообщения):"
      many: "Перенесено из {channel} ({count} сообщений):"
      other: "Перенесено из {channel} ({count} сообщения):"
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml

LANGUAGES = ("de", "en", "ru")
FALLBACK = "en"
_DIR = Path(__file__).parent
PLURAL_CATEGORIES = frozenset({"zero", "one", "two", "few", "many", "other"})
COUNT = "count"  # the placeholder whose number picks a plural form
INFORMAL = "informal."  # de/ru: a requester's sentence in "du"/"ты", for desks with [desk] formal = false

Entry = str | dict[str, str]
_OWN_STOP = re.compile(r"(\{\w+\})\.")


@cache
def catalogue(lang: str) -> dict[str, Entry]:
    path = _DIR / f"{lang}.yaml"
    if not path.exists():  # an incomplete install still speaks English instead of failing
        return {}
    with path.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    return _flatten(data)


def is_plural(value: object) -> bool:
    return isinstance(value, dict) and "other" in value and set(value) <= PLURAL_CATEGORIES


def forms(entry: Entry) -> list[str]:
    """The sentences of an entry: one, or one per plural category."""
    return list(entry.values()) if isinstance(entry, dict) else [entry]


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Entry]:
    flat: dict[str, Entry] = {}
    for key, value in data.items():
        full = f"{prefix}{key}"
        if is_plural(value):
            flat[full] = {str(k): str(v) for k, v in value.items()}
        elif isinstance(value, dict):
            flat.update(_flatten(value, full + "."))
        else:
            flat[full] = str(value)
    return flat


def t(lang: str | None, key: str, /, *, informal: object = False, **values: Any) -> str:
    """The sentence ``key`` in ``lang`` with ``values`` filled in; ``informal`` for a requester of a desk that says
    "du"/"ты" (``informal.<key>`` where the language has it; typed ``object`` so that ``**values`` of any type
    pass the type check, read as a truth value)."""
    lang = lang if lang in LANGUAGES else FALLBACK
    entry = catalogue(lang).get(f"{INFORMAL}{key}") if informal else None
    if entry is None:
        entry = catalogue(lang).get(key)
    if entry is None:
        lang, entry = FALLBACK, catalogue(FALLBACK).get(key)
    if entry is None:
        raise KeyError(f"message {key!r} is in no catalogue")
    text = entry if isinstance(entry, str) else _plural(lang, entry, values.get(COUNT))
    if not values:
        return text
    # a value that ends a sentence with its own full stop ("25. Nov.", "2028 г.") takes the sentence's
    text = _OWN_STOP.sub(lambda m: m.group(1) if str(values.get(m.group(1)[1:-1], "")).endswith(".") else m.group(0),
                         text)
    return text.format(**values)


def _plural(lang: str, entry: dict[str, str], count: Any) -> str:
    if not isinstance(count, int | float):
        raise TypeError(f"a plural message needs a number as {{{COUNT}}}, not {count!r}")
    from bot.i18n.format import plural_form  # Babel's locale data loads on first use

    return entry.get(plural_form(lang, count), entry["other"])
