"""What counts as a pleasantry that opens no ticket (bot/tickets/conversation.py)."""

from __future__ import annotations

import pytest

from bot.tickets.conversation import is_pleasantry


@pytest.mark.parametrize("text", [
    "danke", "Danke!", "danke schön", "Vielen Dank :)", "ok", "OK, danke", "thanks!", "Thank you so much",
    "thx", "спасибо", "Спасибо большое!", "ок", "👍", "🙏🏽", "👍👍", "Thanks :pray:", "alles klar, danke",
])
def test_pleasantries(text: str) -> None:
    assert is_pleasantry(text)


@pytest.mark.parametrize("text", [
    "Passwort weg", "danke, aber es geht immer noch nicht", "ok the vpn is down again", "thanks, error 500",
    "2", "ok 500", "", "   ", "спасибо, но принтер не работает", "👍 but the printer is still jammed",
    "danke " * 10, "❤️ " * 9,
])
def test_not_pleasantries(text: str) -> None:
    assert not is_pleasantry(text)
