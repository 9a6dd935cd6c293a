"""The Matrix step-by-step form speaks as the desk does: "Sie"/"вы", or "du"/"ты" with ``[desk] formal = false``."""

from __future__ import annotations

import copy

import pytest

from adapters.matrix.forms import Forms
from bot.i18n import t
from bot.settings import settings_from_data
from tests.conftest import DESK


@pytest.mark.parametrize(("formal", "lang", "word"), [(True, "de", "Beantworten Sie"), (False, "de", "Beantworte"),
                                                      (True, "ru", "отвечайте"), (False, "ru", "отвечай ")])
async def test_the_form_addresses_the_requester_as_the_desk_says(make_harness, formal: bool, lang: str,
                                                                 word: str) -> None:
    data = copy.deepcopy(DESK)
    data["desk"] = {**data["desk"], "language": lang, "formal": formal}
    desk = await make_harness(settings_from_data(data, "(test desk)"))
    said: list[str] = []

    async def say(room: str, text: str, txn: str) -> None:
        said.append(text)

    ports = desk.bot.ports
    forms = Forms(ports.state, say, ports.form, informal=not ports.settings.desk.formal)
    await forms.start("@ann:example.org", "!dm:example.org", lang, origin=None, event_id="$1")
    assert said[0].startswith(t(lang, "matrix.form_start", informal=not formal)) and word in said[0]
    assert await forms.active("@ann:example.org") is not None  # the dialogue is kept for the answers


async def test_only_the_team_is_asked_for_whom_the_ticket_is(make_harness) -> None:
    """The Matrix dialogue asks "for (caller / e-mail)" of the support team only: a requester's form ends after
    the priority, a staff member's asks for the contact last."""
    desk = await make_harness()
    said: list[str] = []

    async def say(room: str, text: str, txn: str) -> None:
        said.append(text)

    ports = desk.bot.ports
    forms = Forms(ports.state, say, ports.form)
    contact = t("en", "form.ticket.contact")
    for user, staff in (("@dora:example.org", False), ("@anna:example.org", True)):
        said.clear()
        await forms.start(user, "!dm:example.org", "en", origin=None, event_id=f"$start-{user}", staff=staff)
        answers = ["the printer on floor 3 jams every morning", "-", "-", "-", "1", "-", "-"]
        done = None
        for n, answer in enumerate(answers):
            done = await forms.answer(user, "!dm:example.org", f"$a{n}-{user}", answer)
            if done is not None and done.done:
                break
        asked = "\n".join(said)
        if staff:
            assert contact in asked and not (done is not None and done.done)
            done = await forms.answer(user, "!dm:example.org", f"$contact-{user}", "+49 30 1234567")
        else:
            assert contact not in asked
        assert done is not None and done.done and done.values is not None
        assert ("contact" in done.values) is staff
