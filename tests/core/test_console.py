"""The console adapter driven with a StringIO stdin, and `dutydesk run` on the embedded default."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from adapters.console import ConsoleAdapter
from bot.app import build
from bot.core.clock import VirtualClock
from bot.i18n import t
from storage.models import Ticket, TicketEvent

DUTYDESK = str(Path(sys.executable).parent / "dutydesk")


@pytest.fixture
async def console(tmp_path: Path, desk_settings_factory):
    clock = VirtualClock(desk_settings_factory.start)
    out = io.StringIO()
    adapter = ConsoleAdapter(clock, "you", "en", out=out)
    bot = await build(desk_settings_factory(), clock, [adapter], db_url=f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    yield bot, adapter, out
    await bot.close()


async def drive(bot, adapter: ConsoleAdapter, out: io.StringIO, *lines: str) -> list[str]:
    await adapter.run(bot.handle, stdin=io.StringIO("".join(line + "\n" for line in lines)))
    return out.getvalue().split("\n")


async def test_console_session(console) -> None:
    bot, adapter, out = console
    lines = await drive(
        bot, adapter, out,
        "/ticket -p3 printer on fire",
        "",
        "/as anna",
        "/queue",
        "/ticket take HW-1",
        "/dm",
        "my laptop won't start",
        "/space hw-1",
        "it is smoking now",
        "/in general",
        "/as",
        "/quit",
        "/ticket never read",
    )
    text = "\n".join(lines)
    assert lines[0] == t("en", "console.banner")
    # the receipt first (what the requester waits for goes first), then the ticket's space
    assert "you in #console> [#console (only you)] dutydesk: Ticket HW-1 is open" in text
    assert "\n[ticket:HW-1] dutydesk: HW-1 · P3 · opened by you:" in text
    assert "[#support-duty] dutydesk: New ticket HW-1 (P3) from you: printer on fire" in text
    receipt = t("en", "ticket.receipt", key="HW-1", priority=3, priority_name="low", next=t("en", "ticket.next",
                                                                                             key="HW-1"))
    assert f"[#console (only you)] dutydesk: {receipt}" in text
    assert "anna in #console> [#console (only anna)] dutydesk: Queue: 1 open" in text
    assert f"[#console (only anna)] dutydesk: {t('en', 'ticket.taken', key='HW-1')}" in text
    # /dm: a direct message opens a ticket, answered in the DM
    assert "anna in @dutydesk> " in text
    assert "[@anna (direct)] dutydesk: Ticket HW-2 is open" in text
    # /space: the ticket's private space; /in: a channel; /as without a name: the meta usage
    assert "anna in ticket:HW-1> " in text
    assert "anna in #general> " + t("en", "console.meta_usage") in text
    assert text.endswith("anna in #general> ")  # /quit ends the session; the line after it is never read
    async with bot.desk.sessions() as session:
        keys = (await session.scalars(select(Ticket.key).order_by(Ticket.number))).all()
        messages = (await session.scalars(select(TicketEvent.body).where(TicketEvent.kind == "message"))).all()
    assert keys == ["HW-1", "HW-2"]
    assert messages == ["it is smoking now"]


async def test_end_of_input_ends_the_session(console) -> None:
    bot, adapter, out = console
    lines = await drive(bot, adapter, out, "/help")
    assert lines[-1] == "you in #console> "
    assert lines[1] == "you in #console> [#console (only you)] dutydesk: HW desk — commands:"


def test_convert_meta_and_events(desk_settings_factory) -> None:
    adapter = ConsoleAdapter(VirtualClock(desk_settings_factory.start), "you", "en", out=io.StringIO())
    assert adapter.convert("   ") is None
    assert adapter.convert("/QUIT") is False and adapter.convert("/exit") is False
    event = adapter.convert("/ticket x")
    assert (event.kind, event.text, event.channel.channel_id) == ("command", "ticket x", "#console")
    assert adapter.convert("/as @ben") is None and adapter.user == "ben"
    assert adapter.convert("hello").kind == "message"
    adapter.convert("/dm")
    assert adapter.convert("hello").kind == "dm"
    adapter.convert("/space T-9")
    event = adapter.convert("more")
    assert (event.kind, event.ticket, event.channel.is_private) == ("message", "T-9", True)
    first, second = adapter.convert("/help"), adapter.convert("/help")
    assert first.event_id != second.event_id  # each line is a new event


def test_dutydesk_run_on_the_embedded_default_keeps_tickets_across_runs(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUTYDESK_")}

    def run(stdin: str) -> str:
        done = subprocess.run([DUTYDESK, "run"], input=stdin, capture_output=True, text=True, cwd=tmp_path,
                              env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
        return done.stdout

    first = run("/ticket -p1 printer on fire\n/quit\n")
    assert "Ticket T-1 is open (priority 1, high)" in first
    assert (tmp_path / "dutydesk.db").exists()
    second = run("/ticket second one\n/as admin\n/queue\n/quit\n")
    assert "Ticket T-2 is open" in second
    assert "Queue: 2 open" in second
    for out in (first, second):  # every message is shown once
        shown = [line for line in out.split("\n") if "dutydesk: " in line]
        assert len(shown) == len(set(shown)), shown


async def test_control_characters_in_ticket_text_do_not_reach_the_terminal(console) -> None:
    bot, adapter, out = console
    text = "\n".join(await drive(bot, adapter, out, "/ticket printer \x1b[2J\x1b]0;owned\x07 on \x9bfire\tnow"))
    assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text
    assert "printer \ufffd[2J\ufffd]0;owned\ufffd on \ufffdfire\tnow" in text
