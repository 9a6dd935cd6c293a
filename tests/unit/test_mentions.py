"""The bot's mentions (bot/core/mentions.py): marked by the core, plain for platforms without mentions, and never
from outside: a platform's text loses the marks on the way in, so a forged mention is only its visible text."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.core.mentions import mention, plain, split
from bot.core.types import ChannelRef, InboundEvent, OutboundMessage, Platform, Target, UserRef


def test_a_mention_is_plain_text_where_a_platform_has_none_and_a_part_where_it_has() -> None:
    text = f"Digest for {mention('mira', '@Mira')}: ask {mention('lea', 'Lea')}."
    assert plain(text) == "Digest for @Mira: ask Lea."
    assert split(text) == ["Digest for ", ("mira", "@Mira"), ": ask ", ("lea", "Lea"), "."]
    # marks inside a mention's parts cannot nest another one
    assert split(mention("a\ue000b", "x\ue002y")) == [("ab", "xy")]


def test_a_cut_mention_leaves_no_mark_behind() -> None:
    text = f"for {mention('mira', '@Mira')}"
    assert plain(text[:-3]) == "for @Mi" and split(text[:-3]) == ["for @Mi"]
    assert plain(text[:6]) == "for " and split(text[:6]) == ["for "]


def test_a_persons_text_cannot_carry_a_mention_but_the_bots_message_can() -> None:
    forged = f"help {mention('anna', '@Anna')} \ue000stray"
    event = InboundEvent(kind="dm", event_id="e1", actor=UserRef(platform=Platform.SIM, user_id="rita",
                                                                 display_name=f"Rita {mention('anna', 'A')}"),
                         channel=ChannelRef(platform=Platform.SIM, channel_id="D1", is_direct=True), text=forged,
                         received_at=datetime(2026, 11, 24, tzinfo=UTC), form_values={"title": forged})
    assert event.text == "help @Anna stray" and event.form_values["title"] == "help @Anna stray"
    assert event.actor.display_name == "Rita A"
    said = OutboundMessage(id=1, target=Target(kind="channel", platform=Platform.SIM, channel_id="#duty"),
                           text=forged, kind="notice", visibility="private")
    assert said.text == forged
