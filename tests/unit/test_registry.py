"""The command parser (bot/core/registry.py) on the real command set, plus a small registry of its own."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, field_validator

from bot.core.errors import in_language
from bot.core.registry import Arg, Command, Parsed, ParseError, Registry
from bot.features import build_registry

REGISTRY = build_registry()


def parsed(text: str) -> Parsed:
    result = REGISTRY.parse(text)
    assert isinstance(result, Parsed), result
    return result


def error(text: str, registry: Registry = REGISTRY) -> ParseError:
    result = registry.parse(text)
    assert isinstance(result, ParseError), result
    return result


def path(result: Parsed) -> str:
    return " ".join(result.command.path)


# --------------------------------------------------------------------------- commands and defaults


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("ticket printer on fire", "ticket new"),
        ("ticket new printer on fire", "ticket new"),
        ("TICKET New printer", "ticket new"),
        ("ticket show HW-1", "ticket show"),
        ("ticket list", "ticket list"),
        ("ticket list mine", "ticket list mine"),
        ("queue", "queue"),
        ("help", "help"),
        ("help ticket", "help"),
    ],
)
def test_longest_registered_path_wins(text: str, command: str) -> None:
    assert path(parsed(text)) == command


def test_a_subcommand_word_later_in_free_text_is_text() -> None:
    result = parsed("ticket the show must go on")
    assert path(result) == "ticket new"
    assert result.args.text == "the show must go on"


def test_ids_are_normalised_to_capitals() -> None:
    assert parsed("ticket show hw-42").args.key == "HW-42"


# --------------------------------------------------------------------------- options


@pytest.mark.parametrize(
    "text",
    [
        "ticket -p1 printer on fire",
        "ticket -p 1 printer on fire",
        "ticket --priority=1 printer on fire",
        "ticket --priority 1 printer on fire",
        "ticket -pP1 printer on fire",
        "ticket new -p prio1 printer on fire",
    ],
)
def test_priority_spellings(text: str) -> None:
    args = parsed(text).args
    assert (args.priority, args.text) == (1, "printer on fire")


def test_default_priority_is_normal() -> None:
    assert parsed("ticket printer").args.priority == 2


def test_several_options_and_a_quoted_value() -> None:
    args = parsed('ticket -p 3 --topic "mail server" outlook hangs').args
    assert (args.priority, args.topic, args.text) == (3, "mail server", "outlook hangs")
    args = parsed("ticket -t 'two words' x").args
    assert (args.topic, args.text) == ("two words", "x")
    args = parsed("ticket --topic=vpn x").args
    assert (args.topic, args.text) == ("vpn", "x")


def test_free_text_is_kept_verbatim() -> None:
    text = 'can\'t print the "Q3 report"  --  it\'s urgent: -p1 isn\'t an option here'
    args = parsed(f"ticket {text}").args
    assert (args.text, args.priority) == (text, 2)


def test_an_unbalanced_quote_in_free_text_is_kept() -> None:
    assert parsed('ticket the "quote never ends').args.text == 'the "quote never ends'
    assert parsed("ticket don't").args.text == "don't"


def test_double_dash_ends_the_options() -> None:
    args = parsed("ticket -p3 -- -p1 is what the error says").args
    assert (args.priority, args.text) == (3, "-p1 is what the error says")


def test_a_negative_number_starts_free_text() -> None:
    args = parsed("ticket -5 degrees in the server room").args
    assert args.text == "-5 degrees in the server room"


def test_multiline_text() -> None:
    args = parsed("ticket first line\n  second line\n").args
    assert args.text == "first line\n  second line"


# --------------------------------------------------------------------------- errors


def test_unknown_option() -> None:
    err = error("ticket -x printer")
    assert (err.reason, err.detail, path_of(err)) == ("parse.unknown_option", {"option": "-x"}, "ticket new")
    err = error("ticket --urgent printer")
    assert err.detail == {"option": "--urgent"}


def path_of(err: ParseError) -> str:
    assert err.command is not None
    return " ".join(err.command.path)


def test_option_without_value() -> None:
    err = error("ticket -p")
    assert (err.reason, err.detail) == ("parse.missing_value", {"option": "-p"})


def test_missing_argument() -> None:
    err = error("ticket show")
    assert (err.reason, err.detail, path_of(err)) == ("parse.missing", {"argument": "ID"}, "ticket show")
    assert error("ticket assign HW-1").detail == {"argument": "@PERSON"}
    assert error("ticket").detail == {"argument": "TEXT"}
    assert error("ticket -p1").detail == {"argument": "TEXT"}


def test_extra_argument() -> None:
    err = error("ticket show HW-1 HW-2")
    assert (err.reason, err.detail) == ("parse.extra", {"value": "HW-2"})
    assert error("queue now").detail == {"value": "now"}
    assert len(error("queue " + "x" * 100).detail["value"]) == 40


def worded(err, lang: str) -> dict[str, str]:
    return {name: in_language(value, lang) for name, value in err.detail.items()}  # type: ignore[misc]


def test_invalid_values_name_the_value_and_what_is_allowed_in_the_readers_language() -> None:
    err = error("ticket -p 7 printer")
    assert (err.reason, err.detail["argument"]) == ("parse.invalid", "1|2|3")
    assert worded(err, "en")["problem"] == '"7" is not a priority: write 1 (high), 2 (normal) or 3 (low).'
    assert worded(err, "de")["problem"] == "„7“ ist keine Priorität: 1 (hoch), 2 (normal) oder 3 (niedrig) angeben."
    err = error("ticket show 42")
    assert worded(err, "ru")["problem"] == "«42» — это не номер обращения; номер выглядит так: HW-42."
    assert worded(err, "ru")["argument"] == "НОМЕР"
    err = error("ticket status HW-1 sleeping")
    assert worded(err, "de")["argument"] == "STATUS"
    assert worded(err, "de")["problem"] == ("„sleeping“ ist kein Status, der sich setzen lässt; möglich sind: "
                                            "„Triage“, „in Bearbeitung“, „wartet auf anfragende Person“, „gelöst“.")
    # a state as the reader's language names it is understood
    assert parsed("ticket status HW-1 in Bearbeitung").args.state.value == "in_progress"
    assert parsed("ticket status HW-1 решено").args.state.value == "resolved"


def test_usage_placeholders_in_the_readers_language() -> None:
    reg = REGISTRY
    assert reg.commands[("ticket", "status")].usage("!", "de") == "!ticket status NUMMER STATUS…"
    assert reg.commands[("ticket", "status")].usage("!", "ru") == "!ticket status НОМЕР СТАТУС…"
    assert reg.commands[("ticket", "new")].usage("/", "en").endswith("TEXT…")


def test_empty_and_unknown() -> None:
    assert error("").reason == "parse.empty"
    assert error("   \n ").reason == "parse.empty"
    err = error("frobnicate now")
    assert (err.reason, err.detail, err.group, err.command) == ("parse.unknown", {"command": "frobnicate"}, (), None)


class WhoArgs(BaseModel):
    who: str


class CountArgs(BaseModel):
    n: int

    @field_validator("n")
    @classmethod
    def _small(cls, value: int) -> int:
        if value > 9:
            raise ValueError("at most 9")
        return value


async def nothing(_ctx, _args):
    return []


def small_registry() -> Registry:
    registry = Registry()
    registry.add(Command(("duty", "swap"), WhoArgs, nothing, "s", (Arg("who", "positional", metavar="@WHO"),)))
    registry.add(Command(("duty", "count"), CountArgs, nothing, "s", (Arg("n", "positional"),)))
    return registry


def test_unknown_subcommand_of_a_group_names_the_group() -> None:
    registry = small_registry()
    err = error("duty frobnicate", registry)
    assert (err.reason, err.group) == ("parse.unknown", ("duty",))
    assert [c.usage("!") for c in registry.in_group("duty")] == ["!duty count N", "!duty swap @WHO"]
    assert error("Duty", registry).group == ("duty",)


def test_validator_messages_and_types() -> None:
    registry = small_registry()
    assert registry.parse("duty count 3").args.n == 3  # type: ignore[union-attr]
    err = error("duty count 12", registry)
    # a validator's plain ValueError is English: the reader gets the value and the placeholder instead
    assert worded(err, "de") == {"argument": "N", "problem": "„12“ ist kein gültiger Wert für N."}
    assert error("duty count many", registry).reason == "parse.invalid"


def test_registering_a_path_twice_is_refused() -> None:
    registry = small_registry()
    with pytest.raises(ValueError, match="registered twice: duty swap"):
        registry.add(Command(("duty", "swap"), WhoArgs, nothing, "s"))


def test_usage_lines() -> None:
    assert REGISTRY.commands[("ticket", "new")].usage("/") == "/ticket [-p 1|2|3] [-t TOPIC] [--for CONTACT] TEXT…"
    assert REGISTRY.commands[("ticket", "new")].usage("/", staff=False) == "/ticket [-p 1|2|3] [-t TOPIC] TEXT…"
    assert REGISTRY.commands[("ticket", "assign")].usage("!") == "!ticket assign ID @PERSON [--due WHEN]"
    assert REGISTRY.commands[("help",)].usage("/") == "/help [COMMAND…]"  # "/help ticket vendor"


# --------------------------------------------------------------------------- properties

TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=80)


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_arbitrary_text_never_raises(text: str) -> None:
    assert isinstance(REGISTRY.parse(text), Parsed | ParseError)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["ticket ", "ticket new ", "ticket show ", "ticket assign HW-1 ", "queue ", "help ",
                        "ticket status HW-1 ", "ticket -p ", "ticket --topic ", "ticket -- "]), TEXT)
def test_arbitrary_text_after_a_command_never_raises(prefix: str, text: str) -> None:
    assert isinstance(REGISTRY.parse(prefix + text), Parsed | ParseError)


FREE = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=60).filter(
    lambda s: s.strip() and not s.split()[0].startswith("-")
)


@settings(max_examples=300, deadline=None)
@given(FREE)
def test_free_text_survives_unchanged(text: str) -> None:
    args = parsed("ticket new " + text).args
    assert args.text == text.strip()
    assert args.priority == 2


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["1", "2", "3"]), st.sampled_from(["-p{}", "-p {}", "--priority={}", "--priority {}",
                                                          "-p P{}", "-p prio{}"]), FREE)
def test_priority_forms_with_any_text(level: str, form: str, text: str) -> None:
    args = parsed(f"ticket {form.format(level)} {text}").args
    assert (args.priority, args.text) == (int(level), text.strip())


# --------------------------------------------------------------------------- inside a ticket's space


@pytest.mark.parametrize(
    ("text", "key", "rest"),
    [
        ("ticket take", "HW-42", {}),
        ("ticket solve It was the cache", "HW-42", {"text": "It was the cache"}),
        ("ticket close", "HW-42", {}),
        ("ticket priority 1", "HW-42", {"level": 1}),
        ("ticket take HW-7", "HW-7", {}),                       # another ticket named: its id wins
        ("ticket note hw-7 same switch", "HW-7", {"text": "same switch"}),
    ],
)
def test_a_space_command_takes_the_ticket_of_the_space(text: str, key: str, rest: dict[str, object]) -> None:
    result = REGISTRY.parse(text, space_ticket="HW-42")
    assert isinstance(result, Parsed), result
    assert result.args.key == key  # type: ignore[attr-defined]
    for name, value in rest.items():
        assert getattr(result.args, name) == value


def test_outside_a_space_the_id_is_still_required() -> None:
    assert error("ticket take").reason == "parse.missing"
    assert error("ticket close").reason == "parse.missing"
