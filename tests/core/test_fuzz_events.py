"""Bad input fuzzing of everything the core accepts from an adapter: random ``InboundEvent``s (every
kind, random text, names, values, ticket keys, form values, threads) through the real
``Bot.handle`` on a SQLite desk that has tickets to point at.

For every event: nothing raises, nothing ends as an internal error (a ``failed`` inbox row), no
message carries a traceback or a Python error name, and a command always gets an answer to the
person who typed it.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.sim import PROFILES
from bot.app import Bot, build
from bot.core.clock import VirtualClock
from bot.core.types import ChannelRef, InboundEvent, Platform, ThreadMessage, UserRef
from bot.features import build_registry
from storage.models import ProcessedEvent
from tests.conftest import START, FakeAdapter, desk_settings

COMMANDS = sorted({" ".join(path) for path in build_registry().commands})
PYTHON_ERROR = re.compile(r"Traceback|\b(Key|Type|Value|Attribute|Index|Runtime|Assertion|Name)Error\b|File \"")


class Desk:
    """One bot for all examples of a test, on its own event loop (hypothesis runs examples synchronously)."""

    def __init__(self, url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.clock = VirtualClock(START)
        self.adapter = FakeAdapter(capabilities=PROFILES["slack"])
        self.bot: Bot = self.run(build(desk_settings(), self.clock, [self.adapter], db_url=url))
        self.count = 0
        for text in ("/ticket -p1 the mail server is down", "/ticket printer on fire", "/ticket take HW-1"):
            self.handle(self.event("anna" if "take" in text else "ben", "command", text[1:]))

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    def event(self, user: str, kind: str, text: str, **fields) -> InboundEvent:
        self.count += 1
        channel = fields.pop("channel", None) or ChannelRef(platform=Platform.SIM, channel_id="#general")
        return InboundEvent(kind=kind, event_id=f"fz-{self.count}", text=text, received_at=self.clock.now(),
                            actor=UserRef(platform=Platform.SIM, user_id=user, display_name=user), channel=channel,
                            **fields)

    def handle(self, event: InboundEvent) -> list:
        before = len(self.adapter.sent)
        self.run(self.bot.handle(event))
        return self.adapter.sent[before:]

    def close(self) -> None:
        self.run(self.bot.close())
        self.loop.close()


@pytest.fixture(scope="module")
def fuzz_desk(tmp_path_factory, sqlite_template: Path) -> Iterator[Desk]:
    path = tmp_path_factory.mktemp("fuzz") / "dutydesk.db"
    shutil.copyfile(sqlite_template, path)
    desk = Desk(f"sqlite+aiosqlite:///{path}")
    yield desk
    desk.close()


words = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)
ticket_keys = st.one_of(st.none(), st.sampled_from(["HW-1", "HW-2", "hw-1", "HW-999", "HW-0", "XX-1", "HW-",
                                                    "HW-99999999999999999999", ""]), words)
command_text = st.one_of(
    words,
    st.tuples(st.sampled_from(COMMANDS), st.lists(st.one_of(ticket_keys.filter(bool), words,
                                                            st.sampled_from(["-p", "-p1", "-p 9", "--", "-t", "@anna",
                                                                             "@nobody", "--priority=", "'", '"', "1",
                                                                             "tomorrow", "2026-02-30", "-5", "new",
                                                                             "in_progress", "999999999999"])),
                                                  max_size=4))
    .map(lambda parts: " ".join([parts[0], *[p for p in parts[1] if p]])),
)
users = st.sampled_from(["anna", "ben", "carla", "root", "dora", "", " ", "@anna", "x" * 300])
channels = st.one_of(
    st.builds(ChannelRef, platform=st.just(Platform.SIM), channel_id=st.sampled_from(["#general", "#support-duty",
                                                                                       "#random", "ticket:HW-1", ""]),
              thread_id=st.one_of(st.none(), words), is_private=st.booleans(), is_direct=st.booleans()),
)
threads = st.lists(st.builds(ThreadMessage, message_id=words, text=words, at=st.just(START),
                             author=st.builds(UserRef, platform=st.just(Platform.SIM), user_id=users)), max_size=3)
events = st.fixed_dictionaries(
    {"kind": st.sampled_from(["message", "command", "dm", "reaction", "action", "form"]), "text": command_text,
     "user": users},
    optional={"name": st.one_of(st.sampled_from(["ticket", "take", "close", "move_to_ticket", "handover-ack",
                                                 "duty-accept", "ticket_form", "a-b-c", "-", ""]), words),
              "value": st.one_of(ticket_keys, words), "ticket": ticket_keys, "channel": channels,
              "message_id": words, "thread": threads,
              "form_values": st.dictionaries(st.sampled_from(["title", "description", "priority", "topic", "os",
                                                              "urgency", "steps"]) | words, words, max_size=4)},
)


@settings(max_examples=int(__import__("os").environ.get("DUTYDESK_FUZZ_EXAMPLES", "150")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(events)
def test_any_inbound_event_gets_a_clear_answer_and_no_traceback(fuzz_desk: Desk, spec: dict) -> None:
    spec = dict(spec)
    kind, text, user = spec.pop("kind"), spec.pop("text"), spec.pop("user")
    event = fuzz_desk.event(user, kind, text, **spec)
    sent = fuzz_desk.handle(event)
    fuzz_desk.clock.advance(timedelta(seconds=7))
    row = fuzz_desk.run(_inbox(fuzz_desk, event.idempotency_key))
    assert row is not None and row.status == "done", (row.status if row else None, row.error if row else None)
    for message in sent:
        assert not PYTHON_ERROR.search(message.text), message.text
    if kind == "command" and text.strip():
        answers = [m for m in sent if m.target.user_id == user or m.target.kind == "channel"]
        assert answers and all(m.text.strip() for m in answers), f"no answer to {text!r}"


async def _inbox(desk: Desk, key: str) -> ProcessedEvent | None:
    async with desk.bot.desk.sessions() as session:
        return await session.get(ProcessedEvent, key)


def test_the_fuzzed_desk_still_works(fuzz_desk: Desk) -> None:
    sent = fuzz_desk.handle(fuzz_desk.event("ben", "command", "ticket still alive after the fuzzing"))
    assert any(m.kind == "receipt" for m in sent)
