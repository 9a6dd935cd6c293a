"""Every catalogue entry rendered in every language, as a reader gets it: no key missing, no placeholder left
unfilled, no English left in German or Russian text, commands named with the platform's prefix, and plural
forms for every category the language has (issue #16, "Time and language")."""

from __future__ import annotations

import re
import string

import pytest

from bot.i18n import FALLBACK, LANGUAGES, catalogue, forms, is_plural, t
from bot.i18n.format import locale

# Values are shown as <name> and taken out before the words are looked at: what remains is the catalogue's own
# wording. Commands are rendered with Matrix's prefix "!".
SAMPLES: dict[str, object] = {"count": 3, "prefix": "!", "priority": 2}

# Words that are English (or a raw key) and must not stand in German text outside a command a reader types.
ENGLISH_IN_GERMAN = {
    "the", "and", "you", "your", "is", "are", "please", "press", "nobody", "none", "queued", "assigned", "taken",
    "over", "ack", "of", "to", "for", "with", "from", "not", "state", "today", "tomorrow", "TEXT", "COMMAND",
    "STATE", "VALUE", "REASON", "PERSON", "DATE", "FROM",
}
# Latin words a Russian text may hold: names of things that are written so in Russian too.
LATIN_IN_RUSSIAN = {
    "SLA", "FAQ", "Prio", "P", "dutydesk", "Matrix", "Slack", "JPG", "GIF", "PNG", "LAN", "Wi-Fi", "Windows",
    "macOS", "Firefox", "e-mail", "ID", "SHOW-STOPPER", "LIMITED", "USABILITY", "NICE", "TO", "HAVE",
    "join", "rule", "invite", "cancel", "HW",
    # what a person types literally: the FAQ reference syntax, the deletion workflow's step words
    "faq", "paid", "exception",
    # a sample name in an example of what to type
    "Maria", "Huber",
}
# Keys that only ever speak on one platform: the console and Slack name their own commands.
PLATFORM_ONLY = ("console.", "slack.")

# A command as a reader types it: the prefix, the command's words, its lowercase arguments and placeholders.
COMMAND = re.compile(r"(?<![\w!])![a-z]+(?:[ ](?:[a-z][a-z_\-]*|<[a-z_]+>|@[\w\-]+|\d+|…|-p\d))*")
LATIN_WORD = re.compile(r"[A-Za-z](?:[A-Za-z\-]*[A-Za-z])?")
RAW_KEY = re.compile(r"\b(?:state|priority|event|duty|ticket|help|parse)\.[a-z_]+\b")


def rendered(lang: str, key: str, entry: object) -> list[str]:
    """The entry in each of its forms, filled with sample values."""
    counts = [1, 2, 5, 21] if is_plural(entry) else [SAMPLES["count"]]
    out = []
    for count in counts:
        fields = {f for text in forms(entry) for _, f, _, _ in string.Formatter().parse(text) if f}  # type: ignore[arg-type]
        values = {f: SAMPLES.get(f, f"<{f}>") for f in fields}
        values["count"] = count
        out.append(t(lang, key, **values))
    return out


def words_outside_commands(text: str) -> list[str]:
    text = COMMAND.sub(" ", text)
    # values, links, config keys ([desk] sla), names written so in every language
    text = re.sub(r"<[a-z_0-9]+>|https?://\S+|\[[a-z_.]+\](?: [a-z_]+)?|\bE2EE\b|[\w.]+@[\w.]+|--[a-z]+|"
                  r"\d{4}-\d\d-\d\dT\d\d:\d\d", " ", text)   # … e-mail addresses, options, ISO instants
    return LATIN_WORD.findall(text)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_entry_renders_without_a_gap(lang: str) -> None:
    english = catalogue(FALLBACK)
    problems = []
    for key in english:
        own = catalogue(lang).get(key)
        if own is None:
            problems.append(f"{key}: missing")
            continue
        for text in rendered(lang, key, own):
            if "{" in text or "}" in text:
                problems.append(f"{key}: a placeholder left unfilled: {text!r}")
            if RAW_KEY.search(text):
                problems.append(f"{key}: a raw catalogue key: {text!r}")
    assert not problems, f"{lang}:\n" + "\n".join(problems)


def test_no_english_in_german() -> None:
    problems = []
    for key, entry in catalogue("de").items():
        if key.startswith(PLATFORM_ONLY):
            continue
        for text in rendered("de", key, entry):
            found = sorted({w for w in words_outside_commands(text) if w in ENGLISH_IN_GERMAN})
            if found:
                problems.append(f"{key}: {', '.join(found)}: {text!r}")
    assert not problems, "English words in de.yaml:\n" + "\n".join(problems)


def test_no_latin_words_in_russian() -> None:
    problems = []
    for key, entry in catalogue("ru").items():
        if key.startswith(PLATFORM_ONLY):
            continue
        for text in rendered("ru", key, entry):
            found = sorted({w for w in words_outside_commands(text) if w not in LATIN_IN_RUSSIAN})
            if found:
                problems.append(f"{key}: {', '.join(found)}: {text!r}")
    assert not problems, "Latin words in ru.yaml:\n" + "\n".join(problems)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_commands_carry_the_platforms_prefix(lang: str) -> None:
    # "!ticket" on Matrix: a command spelled "/ticket" in a shared text is wrong on every platform but Slack
    spelled = re.compile(r"(?<![\w{}.:/])/(?:ticket|duty|help|queue|kb)\b|(?<![\w}/])\bticket (?:solve|close)\b")
    problems = [f"{key}: {text!r}" for key, entry in catalogue(lang).items() if not key.startswith(PLATFORM_ONLY)
                for text in forms(entry) if spelled.search(text)]
    assert not problems, f"{lang}: commands without {{prefix}}:\n" + "\n".join(problems)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_plural_entries_have_the_languages_forms(lang: str) -> None:
    needed = {"de": {"one", "other"}, "en": {"one", "other"}, "ru": {"one", "few", "many", "other"}}[lang]
    for key, entry in catalogue(lang).items():
        if is_plural(entry):
            assert needed <= set(entry), f"{lang}:{key} lacks the forms {sorted(needed - set(entry))}"


@pytest.mark.parametrize(("lang", "count", "word"), [
    ("ru", 1, "1 сообщение"), ("ru", 2, "2 сообщения"), ("ru", 5, "5 сообщений"), ("ru", 21, "21 сообщение"),
    ("ru", 11, "11 сообщений"), ("de", 1, "1 Nachricht"), ("de", 5, "5 Nachrichten"), ("en", 1, "1 message"),
    ("en", 2, "2 messages"),
])
def test_plural_forms_follow_the_languages_rules(lang: str, count: int, word: str) -> None:
    assert f"({word})" in t(lang, "privacy.copied_head", channel="#general", count=count)


def test_a_plural_needs_a_number() -> None:
    with pytest.raises(TypeError):
        t("ru", "privacy.copied_head", channel="#general", count="5")


def test_english_locale_is_day_month_24h() -> None:
    assert str(locale("en")) == "en_GB"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_text_sends_a_reader_to_a_button(lang: str) -> None:
    # Matrix has no buttons (it shows numbered choices), and a DM there gets none: every instruction names a command
    button = re.compile(r"button|knopf|knöpf|кнопк", re.IGNORECASE)
    labels = ("button", "_satisfied", "_not_fixed")  # the labels of buttons themselves
    problems = [key for key, entry in catalogue(lang).items() if not key.endswith(labels) and "button_" not in key
                and any(button.search(text) for text in forms(entry))]
    assert not problems, f"{lang}: texts that name a button: {', '.join(problems)}"
