"""Forms on Matrix, which has none: the core's ``FormSpec`` asked step by step in the person's
direct room. Each answer is checked with the form's own validation as it comes; the last one
submits the form as a core ``form`` event, exactly like a Slack modal submission.

With ``[[intake]]`` rules per topic the topic is asked first, and the questions after it are the
fields that topic needs (required: "-" does not skip them), like the Slack modal after the topic
is chosen.

The dialogue's state lives in the core's key-value store (``matrix:form:@ann:x``), so a restart in the
middle of a form goes on where it was; the id of the last answer handled is kept with it, so a
sync replayed after a crash does not take an answer twice.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.core.ports import StatePort, TicketFormPort
from bot.core.types import TICKET_FORM_ID, FormSpec
from bot.i18n import t

FORM_KEY = "matrix:form:{user}"
SKIP = frozenset({"-", "–", "skip"})
CANCEL = frozenset({"cancel", "stop", "abbrechen", "отмена"})

Say = Callable[[str, str, str], Awaitable[None]]           # (room, text, transaction id)


@dataclass
class Answer:
    """What became of one message in a form dialogue."""

    done: bool = False                      # the form is complete: submit ``values``
    values: dict[str, str] | None = None
    origin: str | None = None               # the room the form was asked for in


class Forms:
    def __init__(self, state: StatePort, say: Say, form: TicketFormPort, *, informal: bool = False) -> None:
        self.informal = informal  # [desk] formal = false: "du"/"ты" (the catalogues' informal entries)
        self.state = state
        self.say = say
        self.form = form
        self.topics = form.topics

    def spec(self, lang: str, values: Mapping[str, str] | None = None, *, staff: bool = False) -> FormSpec:
        """The form as far as it is known: the fields of the topic chosen in ``values`` (if any); ``staff``: the
        team's form, which also asks "for (caller / e-mail)"."""
        return self.form.spec(lang, (values or {}).get("topic") or None, staff=staff)

    async def active(self, user_id: str) -> dict[str, Any] | None:
        async with self.state.read() as store:
            data = await store.get(FORM_KEY.format(user=user_id))
        return json.loads(data) if data else None

    async def _save(self, user_id: str, state: dict[str, Any] | None) -> None:
        async with self.state.write() as store:
            if state is None:
                await store.remove(FORM_KEY.format(user=user_id))
            else:
                await store.put(FORM_KEY.format(user=user_id), json.dumps(state))

    async def start(self, user_id: str, room: str, lang: str, *, origin: str | None, event_id: str,
                    staff: bool = False) -> None:
        """Asks the first question in ``room`` (the person's direct room); ``staff``: the team's form."""
        state = {"form": TICKET_FORM_ID, "room": room, "lang": lang, "step": 0, "values": {},
                 "origin": origin, "last": event_id, "staff": staff}
        await self._save(user_id, state)
        start = t(lang, "matrix.form_start", informal=self.informal)
        await self.say(room, start + "\n\n" + self.question(state), f"form.{event_id}")

    def question(self, state: Mapping[str, Any]) -> str:
        spec = self.spec(state["lang"], state["values"], staff=bool(state.get("staff")))
        field = spec.fields[state["step"]]
        lang = state["lang"]
        lines = [t(lang, "matrix.form_question", n=state["step"] + 1, total=len(spec.fields), label=field.label)]
        if field.choices:
            lines += [f"{i + 1}. {choice}" for i, choice in enumerate(field.choices)]
        if not field.required:
            lines.append(t(lang, "matrix.form_optional"))
        return "\n".join(lines)

    async def answer(self, user_id: str, room: str, event_id: str, text: str) -> Answer | None:
        """Takes ``text`` as the answer to the current question; None when no form waits in ``room``."""
        state = await self.active(user_id)
        if state is None or state.get("room") != room:
            return None
        if state.get("last") == event_id:
            return Answer()  # a replayed sync: this answer was taken already
        state["last"] = event_id
        lang = state["lang"]
        txn = f"form.{event_id}"
        if text.strip().lower() in CANCEL:
            await self._save(user_id, None)
            await self.say(room, t(lang, "matrix.form_cancelled"), txn)
            return Answer()
        staff = bool(state.get("staff"))
        spec = self.spec(lang, state["values"], staff=staff)
        field = spec.fields[state["step"]]
        value = text.strip()
        if value.lower() in SKIP:
            value = ""   # skipped: the validation refuses that for a required field
        elif field.choices:
            if value.isdigit() and 1 <= int(value) <= len(field.choices):
                value = field.choices[int(value) - 1]
            else:
                value = next((c for c in field.choices if c.lower() == value.lower()), value)
        values = {**state["values"], field.name: value}
        required = [f.name for f in spec.fields if f.required]
        problem = self.form.validate(values, lang, required).get(field.name)
        if problem:
            await self._save(user_id, state)
            await self.say(room, t(lang, "matrix.form_invalid", problem=problem) + "\n\n" + self.question(state), txn)
            return Answer()
        state["values"] = values
        state["step"] += 1
        spec = self.spec(lang, values, staff=staff)   # the topic just chosen may ask more
        if state["step"] >= len(spec.fields):
            await self._save(user_id, None)
            return Answer(done=True, values=values, origin=state.get("origin"))
        await self._save(user_id, state)
        await self.say(room, self.question(state), txn)
        return Answer()
