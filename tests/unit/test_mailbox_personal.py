"""Whether a mail addresses a colleague personally (bot/mailbox/personal.py): To/Cc and salutations, configurable."""

from __future__ import annotations

from bot.mailbox.personal import addressed
from bot.settings import Settings


def settings(**mail: object) -> Settings:
    return Settings.model_validate({
        "people": {"paul": {"name": "Paul Meier", "email": "Paul@Agency.example"},
                   "paula": {"name": "Paula", "roles": ["agent"]},
                   "maria": {"name": "Maria", "roles": [], "email": "maria@example.com"}},
        "mail": {"address": "support@agency.example", **mail},
    })


def test_an_address_in_to_or_cc_names_the_colleague() -> None:
    s = settings()
    assert addressed(s, ["support@agency.example", "paul@agency.example"], "Subject\n\nText") == "paul"
    assert addressed(s, ["support@agency.example"], "Subject\n\nText") is None
    # somebody who is no member of the team (no roles) is nobody's colleague
    assert addressed(s, ["maria@example.com"], "Subject") is None


def test_salutations_in_three_languages() -> None:
    s = settings(names={"paul": ["Павел"]})
    for text in ("Re: invoice\n\nHallo Paul,\nwie geht's", "Dear Paul\nhello", "Frage\n\nGuten Tag Herr Paul Meier,",
                 "Вопрос\n\nЗдравствуйте, Павел!", "hi paul", "Sehr geehrter Herr Paul,"):
        assert addressed(s, [], text) == "paul", text
    # the name is a whole word: Paula is not Paul; a greeting further down the mail is no salutation
    assert addressed(s, [], "Hallo Paula,") == "paula"
    assert addressed(s, [], "Hallo Team,\nPaul said\nwe\nshould\nwrite. Dear Paul") is None
    assert addressed(s, [], "Paul, hallo") is None


def test_configurable() -> None:
    # only addresses: a salutation alone is no longer personal; own greetings replace the default ones
    assert addressed(settings(personal=["to"]), [], "Hallo Paul,") is None
    assert addressed(settings(personal=["salutation"]), ["paul@agency.example"], "Hi all") is None
    assert addressed(settings(salutations=["moin moin"]), [], "Moin moin Paul") == "paul"
    assert addressed(settings(salutations=["moin moin"]), [], "Hallo Paul") is None
