"""Message catalogues: the three languages have the same keys and placeholders, every sentence formats,
every key the code asks for exists, and an unknown language falls back to English."""

from __future__ import annotations

import ast
import string
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.i18n import FALLBACK, INFORMAL, LANGUAGES, Entry, catalogue, forms, t

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("bot", "commands", "adapters")
OTHERS = tuple(lang for lang in LANGUAGES if lang != FALLBACK)

# Calls that take a catalogue key, and the position of the key (positional index, keyword name).
# ``t(lang, key)``, ``ctx.t(key)``, ``reply(ctx, key)``, ``Command(names, args, handler, summary)`` and the
# exceptions and helpers that carry a key to one of those.
KEY_ARGS: dict[str, tuple[int, str | None]] = {
    "t": (1, None),
    ".t": (0, None),
    "reply": (1, None),
    "Command": (3, "summary"),
    "ParseError": (0, None),
    "Refused": (0, None),
    "tell_requester": (3, None),
    "notify_duty": (2, None),
    "tell": (3, None),
    "post_duty": (2, None),
}


def placeholders(entry: Entry) -> set[str]:
    """The placeholders of an entry (of all its plural forms together)."""
    return {field for text in forms(entry) for _, field, _, _ in string.Formatter().parse(text) if field is not None}


def dummies(entry: Entry) -> dict[str, object]:
    # a plural entry picks its form by {count}, a number
    return {name: (2 if name == "count" else f"<{name}>") for name in placeholders(entry)}


# --- the catalogues agree -------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", OTHERS)
def test_same_keys_as_english(lang: str) -> None:
    # informal.* holds a requester's sentences in "du"/"ты": English has no such form
    english, other = set(catalogue(FALLBACK)), {k for k in catalogue(lang) if not k.startswith(INFORMAL)}
    lacking, extra = sorted(english - other), sorted(other - english)
    assert not lacking, f"{lang}.yaml lacks these keys of en.yaml: {', '.join(lacking)}"
    assert not extra, f"{lang}.yaml has keys that en.yaml does not: {', '.join(extra)}"


@pytest.mark.parametrize("lang", OTHERS)
def test_informal_forms_replace_a_sentence_with_the_same_placeholders(lang: str) -> None:
    words = catalogue(lang)
    informal = {k.removeprefix(INFORMAL): e for k, e in words.items() if k.startswith(INFORMAL)}
    assert lang == FALLBACK or informal, f"{lang}.yaml has no informal forms"
    for key, entry in informal.items():
        assert key in words, f"{lang}: informal.{key} replaces no sentence"
        assert placeholders(entry) == placeholders(words[key]), f"{lang}: informal.{key} has other placeholders"
        assert t(lang, key, informal=True, **dummies(entry)) != t(lang, key, **dummies(entry))


# The sentences that address the team, never a requester: their "Sie"/"вы" stays on an informal desk too.
STAFF_ONLY = ("duty.", "escalation.", "handover.", "routing.", "ticket.assigned_to_you", "ticket.taken",
              "ticket.list_head_staff", "ticket.list_empty_staff", "help.ticket_ack", "intake.taken_waiting",
              "mailbox.")   # the Head of Mailbox: the holder and the colleague a mail is forwarded to
FORMAL_ADDRESS = {
    "de": r"\b(Sie|Ihnen|Ihr|Ihre|Ihren|Ihrem|Ihrer|Ihres)\b",
    "ru": r"(?i)(?<!\w)(вы|вас|вам|вами|ваш|ваша|ваше|ваши|вашего|вашей|вашему|вашим|ваших|вашу)(?!\w)",
}


@pytest.mark.parametrize("lang", sorted(FORMAL_ADDRESS))
def test_every_sentence_a_requester_reads_has_its_informal_form(lang: str) -> None:
    """A desk with ``formal = false`` says "du"/"ты" everywhere, not in some sentences and "Sie" in the next."""
    import re

    words = catalogue(lang)
    pattern = re.compile(FORMAL_ADDRESS[lang])
    lacking = sorted(
        key for key, entry in words.items()
        if not key.startswith(INFORMAL) and not key.startswith(STAFF_ONLY) and f"{INFORMAL}{key}" not in words
        and any(pattern.search(text) for text in forms(entry)))
    assert not lacking, f"{lang}.yaml: these sentences say Sie/вы and have no informal form: {', '.join(lacking)}"


def test_formal_by_default_informal_when_the_desk_says_so() -> None:
    assert "Sind Sie zufrieden?" in t("de", "closing.question", key="HW-1", text="…", prefix="/")
    assert "Bist du zufrieden?" in t("de", "closing.question", informal=True, key="HW-1", text="…", prefix="/")
    assert "Вас устраивает" in t("ru", "closing.question", key="HW-1", text="…", prefix="/")
    assert "Тебя устраивает" in t("ru", "closing.question", informal=True, key="HW-1", text="…", prefix="/")
    # English has one form; a sentence without an informal form is the same either way
    assert t("en", "closing.thanks", informal=True, key="HW-1") == t("en", "closing.thanks", key="HW-1")
    assert t("de", "ticket.closed", informal=True, key="HW-1") == t("de", "ticket.closed", key="HW-1")


@pytest.mark.parametrize("lang", OTHERS)
def test_same_placeholders_as_english(lang: str) -> None:
    english, other = catalogue(FALLBACK), catalogue(lang)
    differ: dict[str, tuple[list[str], list[str]]] = {
        key: (sorted(placeholders(english[key])), sorted(placeholders(other[key])))
        for key in english.keys() & other.keys()
        if placeholders(english[key]) != placeholders(other[key])
    }
    assert not differ, f"placeholders differ between en.yaml and {lang}.yaml (en, {lang}): {differ}"


@pytest.mark.parametrize("lang", OTHERS)
def test_same_edge_whitespace_as_english(lang: str) -> None:
    # Some sentences are glued to others (`` (phone duty: {who})``); a lost leading space shows in chat.
    def edges(entry: Entry) -> tuple[bool, bool]:
        text = forms(entry)[-1]
        return text[:1].isspace(), text[-1:].isspace()

    english, other = catalogue(FALLBACK), catalogue(lang)
    differ = [key for key in english.keys() & other.keys() if edges(english[key]) != edges(other[key])]
    assert not differ, f"{lang}.yaml: leading/trailing whitespace differs from en.yaml: {', '.join(sorted(differ))}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_sentence_formats(lang: str) -> None:
    for key, entry in catalogue(lang).items():
        for text in forms(entry):
            assert text.strip(), f"{lang}:{key} is empty"
            for _, field, spec, conversion in string.Formatter().parse(text):
                assert field is None or field.isidentifier(), f"{lang}:{key}: placeholder {{{field}}} is no plain name"
                assert not spec and not conversion, f"{lang}:{key}: placeholder with a format spec or conversion"
            try:
                text.format(**dummies(entry))
            except (KeyError, IndexError, ValueError) as exc:
                pytest.fail(f"{lang}:{key} does not format: {exc!r}")
        assert t(lang, key, **dummies(entry))


def test_keys_are_namespaced() -> None:
    for lang in LANGUAGES:
        for key in catalogue(lang):
            assert "." in key, f"{lang}:{key} is a top-level string; keys live in a section"


# --- the code asks only for keys that exist -------------------------------------------------------------------


def _callee(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return "." + node.func.attr if node.func.attr == "t" else node.func.attr
    return None


def _key_arg(node: ast.Call) -> ast.expr | None:
    name = _callee(node)
    if name not in KEY_ARGS:
        return None
    index, keyword = KEY_ARGS[name]
    for kw in node.keywords:
        if keyword is not None and kw.arg == keyword:
            return kw.value
    if name == "reply" and not (node.args and isinstance(node.args[0], ast.Name) and node.args[0].id == "ctx"):
        return None
    return node.args[index] if len(node.args) > index else None


def _keys_in(expr: ast.expr, assigned: dict[str, list[ast.expr]]) -> Iterator[tuple[str, bool]]:
    """(key, is_prefix) for the string literals an argument can evaluate to.

    A plain name is followed to its assignments in the same function (``key = "a" if x else "b"``).
    """
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        yield expr.value, False
    elif isinstance(expr, ast.IfExp):
        yield from _keys_in(expr.body, assigned)
        yield from _keys_in(expr.orelse, assigned)
    elif isinstance(expr, ast.JoinedStr):
        head = expr.values[0] if expr.values else None
        if isinstance(head, ast.Constant) and isinstance(head.value, str) and len(expr.values) > 1:
            yield head.value, True
    elif isinstance(expr, ast.Name):
        for value in assigned.get(expr.id, []):
            yield from _keys_in(value, {})


def _assignments(scope: ast.AST) -> dict[str, list[ast.expr]]:
    assigned: dict[str, list[ast.expr]] = {}
    for node in ast.walk(scope):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    assigned.setdefault(target.id, []).append(node.value)
    return assigned


def used_keys() -> list[tuple[str, int, str, bool]]:
    """(file, line, key, is_prefix) for every catalogue key the sources pass to a key-taking call."""
    found: set[tuple[str, int, str, bool]] = set()
    for folder in SOURCES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            where = str(path.relative_to(ROOT))
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=where)
            scopes = [tree, *(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef))]
            for scope in scopes:
                assigned = _assignments(scope) if scope is not tree else {}
                for node in ast.walk(scope):
                    if isinstance(node, ast.Call) and (arg := _key_arg(node)) is not None:
                        found.update((where, node.lineno, key, is_prefix) for key, is_prefix in _keys_in(arg, assigned))
    return sorted(found)


def test_scan_finds_the_calls() -> None:
    keys = {key for _, _, key, _ in used_keys()}
    # One of each kind of call; if these vanish, the scan no longer sees the code.
    assert {"ticket.not_found", "parse.usage", "help.help", "console.banner", "error.internal"} <= keys
    assert {"state.", "sla.clock_", "priority."} <= keys
    # Followed through a local name: ``key = "ticket.next_p1_confirm" if confirm else f"ticket.next_p1_{role}"``.
    assert {"ticket.next", "ticket.next_p1_", "ticket.next_p1_confirm"} <= keys


def test_every_key_in_the_code_exists() -> None:
    english = catalogue(FALLBACK)
    missing = []
    for where, line, key, is_prefix in used_keys():
        exists = any(k.startswith(key) for k in english) if is_prefix else key in english
        if not exists:
            missing.append(f"{where}:{line}: {key}{'…' if is_prefix else ''}")
    assert not missing, "keys used in the code but not in en.yaml:\n" + "\n".join(missing)


# --- fallback ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["fr", "xx", "", None, "EN"])
def test_unknown_language_falls_back_to_english(lang: str | None) -> None:
    assert t(lang, "ticket.closed", key="HD-1") == str(catalogue(FALLBACK)["ticket.closed"]).format(key="HD-1")
    assert t(lang, "queue.oldest") == catalogue(FALLBACK)["queue.oldest"]


def test_languages_differ_from_english() -> None:
    # Catches a catalogue copied from English and left untranslated.
    for lang in OTHERS:
        assert t(lang, "ticket.closed", key="HD-1") != t(FALLBACK, "ticket.closed", key="HD-1")


def test_unknown_key_is_an_error() -> None:
    with pytest.raises(KeyError):
        t("de", "no.such.key")
