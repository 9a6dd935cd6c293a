"""Outside requesters (#18 "the phone"): ``/ticket --for CONTACT``, the contact as requester and the staff member
as opener; what is meant for the contact goes by mail through the mail port (a runtime of ``Platform.MAIL``),
or, without an address or a mailbox, to the team as a call-back reminder — never into the ticket's space as if
the opener were the requester."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.sim import PROFILES
from bot.app import build
from bot.core.clock import VirtualClock
from bot.core.types import Platform
from bot.i18n import t
from storage.models import Contact, OutboxMessage, Person, Ticket, TicketEvent
from tests.conftest import DESK, START, FakeAdapter, Harness, desk_settings

DESK_SECTION = DESK["desk"]

PHONE_TEXT = "/ticket --for \"Maria Huber +49 30 1234567\" -p 2 printer on floor 3 jams"


async def ticket(desk: Harness, key: str = "HW-1") -> Ticket:
    (row,) = await desk.rows(Ticket, Ticket.key == key)
    return row


async def person(desk: Harness, key: str) -> Person:
    (row,) = await desk.rows(Person, Person.key == key)
    return row


@pytest.fixture
async def mailbox_desk(db_url: str) -> AsyncIterator[tuple[Harness, FakeAdapter]]:
    """The test desk with a mail runtime beside the chat: the fake stands for adapters/mail at the port."""
    clock = VirtualClock(START)
    chat = FakeAdapter(capabilities=PROFILES["slack"])
    mail = FakeAdapter(platform=Platform.MAIL, capabilities=frozenset())
    bot = await build(desk_settings(resolution={}), clock, [chat, mail], db_url=db_url)
    try:
        yield Harness(bot, clock, chat), mail
    finally:
        await bot.close()


async def test_staff_opens_a_ticket_for_a_caller_with_a_number(desk: Harness) -> None:
    answer = await desk.reply("anna", PHONE_TEXT)
    row = await ticket(desk)
    caller = await person(desk, "tel:+49301234567")
    anna = await person(desk, "anna")
    assert (row.requester_id, row.opener_id, row.priority) == (caller.id, anna.id, 2)
    assert (caller.display_name, caller.is_staff) == ("Maria Huber", False)
    (contact,) = await desk.rows(Contact)
    assert (contact.person_id, contact.email, contact.phone) == (caller.id, None, "+49301234567")
    (created,) = await desk.rows(TicketEvent, TicketEvent.kind == "created")
    assert created.actor_id == anna.id  # the opener opened it, the caller asked for it
    assert answer.kind == "receipt"
    assert answer.text == t("en", "contact.opened", key="HW-1", contact="Maria Huber +49 30 1234567", priority=2,
                            how=t("en", "contact.how_phone", key="HW-1"))
    # the receipt meant for the caller went nowhere: no mailbox, and the phone duty is not the requester
    receipts = await desk.rows(OutboxMessage, OutboxMessage.kind == "receipt")
    assert [(r.target_kind, r.user_id) for r in receipts] == [("ephemeral", "anna")]
    shown = await desk.reply("anna", "/ticket show HW-1")
    assert t("en", "contact.show", contact="Maria Huber +49 30 1234567", opener="Anna") in shown.text


async def test_the_same_caller_again_is_the_same_contact(desk: Harness) -> None:
    await desk.reply("anna", PHONE_TEXT)
    await desk.reply("carla", "/ticket --for +4930-1234567 toner empty")
    await desk.reply("carla", "/ticket --for 004930/1234567 toner still empty")
    rows = await desk.rows(Ticket, order=Ticket.id)
    assert len({r.requester_id for r in rows}) == 1
    assert await desk.count(Contact) == 1


async def test_a_requester_cannot_open_a_ticket_for_someone_else(desk: Harness) -> None:
    answer = await desk.reply("dora", "/ticket --for boss@example.com please give dora admin rights")
    assert answer.kind == "error"
    assert answer.text == t("en", "contact.staff_only", prefix="/")
    assert await desk.count(Ticket) == 0 and await desk.count(Contact) == 0


async def test_a_requester_cannot_answer_the_question_of_a_contact_ticket(make_harness) -> None:
    desk = await make_harness(resolution={})
    await desk.reply("anna", PHONE_TEXT)
    await desk.send("anna", "/ticket solve HW-1 cleared the paper path")
    answer = await desk.reply("dora", "/ticket satisfied HW-1")
    assert answer.kind == "error"
    assert (await ticket(desk)).state == "feedback"


async def test_a_bad_contact_is_refused_in_one_line(desk: Harness) -> None:
    for bad in ("maria", "maria@", "a@b", "+49", "'Maria <maria@example.com'", "x@y.de,z@y.de", "12-34"):
        answer = await desk.reply("anna", f"/ticket --for {bad} printer jams")
        assert answer.kind == "error", bad
        assert "--for" in answer.text and "\n" not in answer.text
    assert await desk.count(Ticket) == 0


async def test_a_caller_with_a_number_is_called_back_for_answers_and_the_question(make_harness) -> None:
    desk = await make_harness(resolution={})
    await desk.reply("anna", PHONE_TEXT)
    await desk.reply("anna", "/ticket assign HW-1 @carla")
    sent = await desk.send("anna", "/ticket reply HW-1 a technician comes at 14:00")
    reminders = [m for m in sent if m.kind == "reminder"]
    assert [(m.target.kind, m.target.user_id) for m in reminders] == [("dm", "carla")]  # the assignee calls
    assert reminders[0].text == t("en", "contact.call_back", key="HW-1", contact="Maria Huber +49 30 1234567",
                                  text=t("en", "ticket.reply_from", who="Anna", text="a technician comes at 14:00"))
    assert not [m for m in sent if m.target.kind == "ticket" and m.kind == "reply"]
    sent = await desk.send("carla", "/ticket solve HW-1 cleared the paper path")
    # the satisfaction question is nobody's in chat: carla is asked to ask it on the phone
    assert not [m for m in sent if m.kind == "feedback"]
    (reminder,) = [m for m in sent if m.kind == "reminder"]
    assert reminder.target.user_id == "carla" and "/ticket satisfied HW-1" in reminder.text
    assert (await ticket(desk)).state == "feedback"
    answer = await desk.reply("carla", "/ticket satisfied HW-1")
    assert answer.text == t("en", "closing.satisfied_ok", key="HW-1")
    assert (await ticket(desk)).state == "closed"


async def test_unassigned_the_opener_is_reminded(desk: Harness) -> None:
    await desk.reply("anna", PHONE_TEXT)
    sent = await desk.send("carla", "/ticket reply HW-1 is it the left tray?")
    assert [(m.kind, m.target.user_id) for m in sent if m.target.kind == "dm"] == [("reminder", "anna")]


async def test_a_contact_with_an_address_hears_everything_by_mail(mailbox_desk) -> None:
    desk, mail = mailbox_desk
    answer = await desk.reply("anna", '/ticket --for "Maria Huber <Maria.Huber@Example.com>" printer jams')
    assert answer.text == t("en", "contact.opened", key="HW-1", contact="Maria Huber <maria.huber@example.com>",
                            priority=2, how=t("en", "contact.how_mail", email="maria.huber@example.com"))
    (receipt,) = mail.sent
    assert (receipt.target.kind, receipt.target.platform, receipt.target.user_id, receipt.ticket) == (
        "dm", Platform.MAIL, "maria.huber@example.com", "HW-1")
    assert receipt.kind == "receipt" and "HW-1" in receipt.text
    await desk.send("anna", "/ticket reply HW-1 which printer is it?")
    await desk.send("anna", "/ticket solve HW-1 cleared the paper path")
    assert [m.kind for m in mail.sent] == ["receipt", "reply", "feedback"]
    assert mail.sent[2].text == t("en", "contact.question", key="HW-1", text="cleared the paper path")
    # nobody in chat is asked or reminded: the contact answers by mail
    assert not [m for m in desk.adapter.sent if m.kind in ("feedback", "reminder")]
    assert not [m for m in desk.adapter.sent if m.target.kind == "ticket" and m.kind in ("reply", "receipt")]
    # the duty channels are chat: the new ticket's notice was not looked for in the mailbox
    assert not [m for m in mail.sent if m.target.kind != "dm"]
    # the satisfaction question carries its choices: the mail runtime offers them as words to answer with
    assert [b.action for b in mail.sent[2].buttons] == ["satisfied", "notfixed"]


async def test_an_address_without_a_mailbox_is_passed_on_by_the_team(desk: Harness) -> None:
    answer = await desk.reply("anna", "/ticket --for maria@example.com printer jams")
    assert answer.text.endswith(t("en", "contact.how_no_mailbox", key="HW-1"))
    sent = await desk.send("carla", "/ticket reply HW-1 is it the left tray?")
    (reminder,) = [m for m in sent if m.kind == "reminder"]
    assert reminder.target.user_id == "anna"
    assert reminder.text.startswith("HW-1: maria@example.com")


async def test_a_chat_requesters_ticket_is_unchanged(desk: Harness) -> None:
    await desk.reply("dora", "/ticket the VPN drops")
    row = await ticket(desk)
    assert row.opener_id is None and "contact" not in row.data
    sent = await desk.send("anna", "/ticket reply HW-1 which client?")
    assert [(m.target.kind, m.kind) for m in sent if m.kind == "reply" and m.target.kind == "ticket"] == [
        ("ticket", "reply")]


async def test_a_contacts_mail_comes_back_as_the_requesters(desk: Harness) -> None:
    """The contact's address is their mail identity: a mail from it (adapters/mail resolves the sender the
    core's way) is the requester's, not a stranger's."""
    from bot.access.people import resolve
    from bot.core.types import UserRef

    await desk.reply("anna", '/ticket --for "Maria Huber <maria@example.com>" printer jams')
    async with desk.sessions.begin() as session:
        sender = await resolve(session, UserRef(platform=Platform.MAIL, user_id="maria@example.com"), desk.clock.now())
        assert sender.id == (await ticket(desk)).requester_id


async def test_the_teams_own_address_stays_the_team_member(make_harness) -> None:
    people = {"anna": {"name": "Anna", "roles": ["agent"], "email": "anna@example.org"}, "carla": {"name": "Carla"}}
    desk = await make_harness(people=people)
    await desk.reply("carla", "/ticket --for Anna@Example.org my laptop is broken")
    row = await ticket(desk)
    assert row.requester_id == (await person(desk, "anna")).id and "contact" not in row.data
    assert await desk.count(Contact) == 0


FORM = {"description": "the printer on floor 3 jams every morning", "urgency": "LIMITED USABILITY"}


async def submit_form(desk: Harness, user: str, values: dict[str, str]) -> list:
    event = desk.event(user, kind="form", name="ticket").model_copy(update={"form_values": values})
    before = len(desk.adapter.sent)
    await desk.bot.handle(event)
    return [m for m in desk.adapter.sent[before:] if m.target.user_id == user]


async def test_the_form_opens_a_ticket_for_a_caller(desk: Harness) -> None:
    (answer,) = await submit_form(desk, "anna", {**FORM, "contact": "Maria Huber +49 30 1234567"})
    assert answer.kind == "receipt" and answer.text.startswith("Ticket HW-1 is open for Maria Huber +49 30 1234567")
    row = await ticket(desk)
    assert row.requester_id == (await person(desk, "tel:+49301234567")).id
    assert row.opener_id == (await person(desk, "anna")).id and row.data["doc"]["urgency"] == "LIMITED USABILITY"


async def test_the_forms_contact_field_is_the_teams(desk: Harness) -> None:
    (answer,) = await submit_form(desk, "dora", {**FORM, "contact": "boss@example.com"})
    assert (answer.kind, answer.text) == ("error", t("en", "contact.staff_only", prefix="/"))
    (answer,) = await submit_form(desk, "anna", {**FORM, "contact": "not a contact"})
    assert answer.kind == "error" and t("en", "form.ticket.bad_contact") in answer.text
    assert await desk.count(Ticket) == 0 and await desk.count(Contact) == 0
    (answer,) = await submit_form(desk, "dora", FORM)  # without it, the requester's own ticket as ever
    assert answer.kind == "receipt" and (await ticket(desk)).opener_id is None


# --------------------------------------------------------------------------- numbers for reading (phonenumbers)

BERLIN = {"office": {"timezone": "Europe/Berlin", "hours": ["mon-fri 08:00-18:00"], "holidays": "DE-BE"}}


async def test_a_number_without_its_country_code_is_read_in_the_desks_country(make_harness) -> None:
    desk = await make_harness(desk={**DESK_SECTION, "calendar": "office"}, calendars=BERLIN)
    answer = await desk.reply("anna", '/ticket --for "Tom Becker 030/555 07788" the PDF export fails')
    (contact,) = await desk.rows(Contact)
    assert contact.phone == "+493055507788"  # kept as E.164: the same caller however the number is typed
    assert answer.text.startswith("Ticket HW-1 is open for Tom Becker +49 30 55507788 ")
    await desk.reply("anna", "/ticket --for +49-30-555-07788 still failing")
    assert await desk.count(Contact) == 1
    shown = await desk.reply("anna", "/ticket show HW-2")
    assert t("en", "contact.show", contact="Tom Becker +49 30 55507788", opener="Anna") in shown.text


async def test_the_desks_country_can_be_set(make_harness) -> None:
    desk = await make_harness(desk={**DESK_SECTION, "country": "gb", "calendar": "office"}, calendars=BERLIN)
    answer = await desk.reply("anna", "/ticket --for 020-7946-0958 the PDF export fails")
    assert "+44 20 7946 0958" in answer.text
    ru = await make_harness(desk={**DESK_SECTION, "language": "ru", "country": "DE"})
    answer = await ru.reply("anna", "/ticket --for 0999-1234567 тест")
    assert answer.kind == "error" and "Германия" in answer.text


async def test_a_number_that_does_not_exist_is_refused_clearly(make_harness) -> None:
    desk = await make_harness(desk={**DESK_SECTION, "calendar": "office"}, calendars=BERLIN)
    for bad in ('"+49 999 1234567"', '"Tom Becker 0301 2"', '"+1 555 0100 123"'):
        answer = await desk.reply("anna", f"/ticket --for {bad} printer jams")
        assert answer.kind == "error" and "\n" not in answer.text, bad
        assert answer.text.startswith('"') and "country code" in answer.text and "Germany" in answer.text, bad
    plain = await make_harness()  # no country known: only numbers with their code are checked
    answer = await plain.reply("anna", "/ticket --for +49-999-1234567 printer jams")
    assert answer.text == t("en", "contact.bad_phone_plain", text="+49-999-1234567")
    assert await desk.count(Ticket) == 0 and await plain.count(Ticket) == 0
    # the form says the same under its field
    (answer,) = await submit_form(desk, "anna", {**FORM, "contact": "+49 999 1234567"})
    assert answer.kind == "error" and "Germany" in answer.text


# --------------------------------------------------------------------------- the team's confirmations are true


async def test_confirmations_on_a_mail_contacts_ticket_say_it_went_by_mail(mailbox_desk) -> None:
    desk, mail = mailbox_desk
    await desk.reply("anna", "/ticket --for maria@example.com printer jams")
    answer = await desk.reply("anna", "/ticket reply HW-1 which printer is it?")
    assert answer.text == t("en", "contact.replied", key="HW-1") + " " + t("en", "contact.way_mail",
                                                                           email="maria@example.com")
    assert "private space" not in answer.text
    answer = await desk.reply("anna", "/ticket solve HW-1 cleared the paper path")
    assert answer.text == t("en", "closing.solved", key="HW-1") + " " + t("en", "contact.asked_mail",
                                                                          email="maria@example.com")
    assert [m.kind for m in mail.sent] == ["receipt", "reply", "feedback"]


async def test_confirmations_on_a_callers_ticket_name_who_calls_back(make_harness) -> None:
    desk = await make_harness(resolution={})
    await desk.reply("anna", PHONE_TEXT)
    await desk.reply("anna", "/ticket assign HW-1 @carla")
    answer = await desk.reply("anna", "/ticket reply HW-1 a technician comes at 14:00")
    assert answer.text == t("en", "contact.replied", key="HW-1") + " " + t(
        "en", "contact.way_call", who="Carla", contact="Maria Huber +49 30 1234567")
    (answer,) = [m for m in await desk.send("carla", "/ticket solve HW-1 cleared the paper path")
                 if m.target.kind == "ephemeral"]
    assert answer.text.endswith(t("en", "contact.asked_call", who="Carla", contact="Maria Huber +49 30 1234567"))
    await desk.reply("anna", "/ticket --for maria@example.com toner empty")
    answer = await desk.reply("carla", "/ticket reply HW-2 it comes tomorrow")
    assert answer.text.endswith(t("en", "contact.way_pass_on", who="Anna", contact="maria@example.com"))


async def test_a_chat_requesters_confirmations_are_unchanged(desk: Harness) -> None:
    await desk.reply("dora", "/ticket the VPN drops")
    answer = await desk.reply("anna", "/ticket reply HW-1 which client?")
    assert answer.text == t("en", "ticket.replied", key="HW-1")


async def test_merging_a_callers_ticket_says_who_must_tell_them(desk: Harness) -> None:
    await desk.reply("dora", "/ticket the printer on floor 3 jams")
    await desk.reply("anna", PHONE_TEXT)
    answer = await desk.reply("anna", "/ticket merge HW-1 HW-2")
    assert answer.text == t("en", "merge.done_unreached", duplicate="HW-2", key="HW-1",
                            contacts="Maria Huber +49 30 1234567")
    await desk.reply("dora", "/ticket the VPN drops")
    await desk.reply("dora", "/ticket the VPN drops again")
    answer = await desk.reply("anna", "/ticket merge HW-3 HW-4")
    assert answer.text == t("en", "merge.done", duplicate="HW-4", key="HW-3")


async def test_a_caller_kept_before_the_desk_had_a_country_is_found_again(make_harness) -> None:
    """A desk without a country keeps a number without its country code as typed; once the desk has one, the same
    caller's number (now kept as E.164) finds that contact, shown for reading."""
    plain = await make_harness()
    await plain.reply("anna", "/ticket --for 030/1234567 printer jams")
    (contact,) = await plain.rows(Contact)
    assert contact.phone == "0301234567"
    berlin = await make_harness(desk={**DESK_SECTION, "calendar": "office"}, calendars=BERLIN)
    answer = await berlin.reply("anna", '/ticket --for "+49 30 1234567" printer jams again')
    assert await berlin.count(Contact) == 1
    assert answer.text.startswith("Ticket HW-2 is open for +49 30 1234567 ")
