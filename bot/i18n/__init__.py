"""Message catalogues: every user-facing sentence lives in ``bot/i18n/<lang>.yaml``.

A key missing from a language falls back to English; a test keeps the three catalogues
complete and their placeholders identical.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

LANGUAGES = ("de", "en", "ru")
FALLBACK = "en"
_DIR = Path(__file__).parent


@cache
def catalogue(lang: str) -> dict[str, str]:
    path = _DIR / f"{lang}.yaml"
    if not path.exists():  # an incomplete install still speaks English instead of failing
        return {}
    with path.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    return _flatten(data)


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in data.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, full + "."))
        else:
            flat[full] = str(value)
    return flat


def t(lang: str | None, key: str, /, **values: Any) -> str:
    """The sentence ``key`` in ``lang`` with ``values`` filled in."""
    lang = lang if lang in LANGUAGES else FALLBACK
    text = catalogue(lang).get(key)
    if text is None:
        text = catalogue(FALLBACK).get(key)
    if text is None:
        raise KeyError(f"message {key!r} is in no catalogue")
    return text.format(**values) if values else text
