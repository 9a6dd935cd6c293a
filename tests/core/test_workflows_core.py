"""The processes' parts that every desk shares, on both backends: roles from platform groups (the core
side the adapters call), screenshots as attachments, the documentation guard on every path into
work, and the knowledge-base search (LIKE on a lower-cased copy, Cyrillic included)."""

from __future__ import annotations

import pytest

from bot.access.groups import add_member, group_roles, remove_member, set_members, watched_groups
from bot.core.types import Attachment, Platform
from bot.i18n import t
from storage.models import Attachment as AttachmentRow
from storage.models import GroupMember, Person, Ticket

GROUPS = {"access": {"slack_groups": {"agent": "S0AGENTS", "lead": ["S0LEADS"]},
                     "matrix_rooms": {"agent": "!team:example.org"}}}
SCREENSHOT = {"intake": [{"topic": "*", "required": ["steps", "screenshot"]}]}


async def ticket(desk, key: str = "HW-1") -> Ticket:
    (row,) = await desk.rows(Ticket, Ticket.key == key)
    return row


# --------------------------------------------------------------------------- roles from platform groups


def test_the_groups_an_adapter_keeps(desk_settings_factory) -> None:
    settings = desk_settings_factory(**GROUPS)
    assert watched_groups(settings, Platform.SLACK) == {"S0AGENTS", "S0LEADS"}
    assert watched_groups(settings, "matrix") == {"!team:example.org"}
    assert watched_groups(settings, Platform.SIM) == {"S0AGENTS", "S0LEADS", "!team:example.org"}


async def test_group_members_get_their_roles_and_lose_them(make_harness, desk_settings_factory) -> None:
    desk = await make_harness(desk_settings_factory(**GROUPS))
    settings = desk.bot.settings
    assert (await desk.reply("zoe", "/queue")).text == t("en", "access.staff_only", prefix="/")
    now = desk.clock.now()
    async with desk.sessions.begin() as session:
        await set_members(session, settings, Platform.SIM, "S0AGENTS", ["zoe", "yan"], now)
        await add_member(session, settings, Platform.SIM, "S0LEADS", "zoe", now)
        assert await group_roles(session, settings, Platform.SIM, "zoe") == {"agent", "lead"}
    assert (await desk.reply("zoe", "/queue")).text == t("en", "queue.empty")
    (zoe,) = await desk.rows(Person, Person.key == "zoe")
    assert zoe.is_staff  # an agent by group: /ticket assign and the SLA's "agent answer" know it
    # a restart keeps group staff as staff
    again = await make_harness(settings, clock=desk.clock)
    assert (await again.reply("zoe", "/queue")).text == t("en", "queue.empty")
    async with desk.sessions.begin() as session:
        await set_members(session, settings, Platform.SIM, "S0AGENTS", ["yan"], now)
        await remove_member(session, settings, Platform.SIM, "S0LEADS", "zoe")
    assert await desk.count(GroupMember, GroupMember.user_id == "zoe") == 0
    assert (await desk.reply("zoe", "/queue")).text == t("en", "access.staff_only", prefix="/")
    (zoe,) = await desk.rows(Person, Person.key == "zoe")
    assert not zoe.is_staff


async def test_a_coordinator_without_the_agent_role_gets_the_reason_for_the_queue(make_harness) -> None:
    desk = await make_harness(people={"cora": {"name": "Cora", "roles": ["coordinator"]}})
    answer = await desk.reply("cora", "/queue")
    assert answer.text == t("en", "access.queue", roles="coordinator", prefix="/")


# --------------------------------------------------------------------------- attachments


async def send_files(desk, user: str, key: str, text: str, *files: Attachment):
    event = desk.event(user, text, ticket=key).model_copy(update={"attachments": files})
    before = len(desk.adapter.sent)
    await desk.bot.handle(event)
    return desk.adapter.sent[before:]


async def test_a_screenshot_answers_the_documentation_and_other_files_are_refused(make_harness) -> None:
    desk = await make_harness(**SCREENSHOT)
    await desk.send("dora", "/ticket the export fails with error 17", dm=True)
    await desk.send("dora", "open the report, click export", ticket="HW-1")
    sent = await send_files(desk, "dora", "HW-1", "here",
                            Attachment(name="screen.bmp", mime_type="image/bmp"),
                            Attachment(name="screen.PNG", mime_type="", size=2048, ref="F123"))
    refusals = [m.text for m in sent if m.kind == "error"]
    assert refusals == [t("en", "intake.bad_attachment", name="screen.bmp", type="image/bmp", allowed="JPG, GIF, PNG")]
    (row,) = await desk.rows(AttachmentRow)
    assert (row.file_name, row.mime_type, row.size, row.ref) == ("screen.PNG", "image/png", 2048, "F123")
    assert (await ticket(desk)).data["doc"]["screenshot"] == "screen.PNG"
    assert any(m.text == t("en", "intake.complete", key="HW-1") for m in sent)


async def test_a_file_sent_alone_by_dm_opens_a_ticket_with_the_file(make_harness) -> None:
    desk = await make_harness(**SCREENSHOT)
    event = desk.event("dora", "", dm=True).model_copy(
        update={"attachments": (Attachment(name="error.png", mime_type="image/png", size=512, ref="F9"),)})
    await desk.bot.handle(event)
    row = await ticket(desk)
    assert row.title == t("en", "ticket.files_only", names="error.png")
    assert row.data["doc"]["screenshot"] == "error.png"
    (stored,) = await desk.rows(AttachmentRow)
    assert (stored.ticket_id, stored.ref) == (row.id, "F9")


async def test_a_screenshot_is_a_file_not_a_value(make_harness) -> None:
    desk = await make_harness(**SCREENSHOT)
    await desk.send("dora", "/ticket the export fails with error 17", dm=True)
    answer = await desk.reply("dora", "/ticket doc HW-1 screenshot see attached", dm=True)
    assert answer.text == t("en", "intake.screenshot_as_file", key="HW-1")


# --------------------------------------------------------------------------- the documentation guard


async def test_no_path_into_work_skips_the_documentation(make_harness) -> None:
    desk = await make_harness(**SCREENSHOT)
    await desk.send("dora", "/ticket the export fails with error 17", dm=True)
    fields = "steps to reproduce, screenshot"
    taken = await desk.reply("anna", "/ticket take HW-1")
    assert taken.text == t("en", "intake.taken_waiting", key="HW-1", fields=fields)
    status = await desk.reply("anna", "/ticket status HW-1 in_progress")
    assert status.text == t("en", "intake.incomplete", key="HW-1", fields=fields)
    await desk.reply("anna", "/ticket status HW-1 waiting_requester")
    # the requester's answer resumes the ticket, but to triage: it still lacks the screenshot
    await desk.send("dora", "open the report, click export", ticket="HW-1")
    row = await ticket(desk)
    assert (row.state, row.data["doc"]) == ("triage", {"steps": "open the report, click export"})
    await send_files(desk, "dora", "HW-1", "", Attachment(name="s.jpg", mime_type="image/jpeg"))
    assert (await ticket(desk)).state == "in_progress"  # complete: the assigned ticket starts by itself


async def test_another_requester_cannot_document_someone_elses_ticket(make_harness) -> None:
    desk = await make_harness(**SCREENSHOT)
    await desk.send("dora", "/ticket the export fails with error 17", dm=True)
    answer = await desk.reply("eve", "/ticket doc HW-1 steps I click around", dm=True)
    assert answer.text == t("en", "ticket.not_found", key="HW-1")
    assert "doc" not in (await ticket(desk)).data


# --------------------------------------------------------------------------- knowledge base


@pytest.mark.parametrize("query", ["принтер", "ПРИНТЕР замятие", "0%"])
async def test_kb_finds_solutions_on_both_backends(make_harness, query: str) -> None:
    desk = await make_harness(resolution={"ask_feedback": False})
    await desk.send("dora", "/ticket Принтер на 2 этаже не печатает", dm=True)
    await desk.send("anna", "/ticket solve HW-1 Замятие бумаги устранено, тонер 100% https://kb.example/printer")
    await desk.send("dora", "/ticket the VPN drops", dm=True)
    await desk.send("anna", "/ticket solve HW-2 New VPN profile (50_50 split) https://kb.example/vpn")
    answer = await desk.reply("anna", f"/kb {query}")  # "%" is no wildcard: only "100%" has "0%"
    assert "HW-1" in answer.text and "HW-2" not in answer.text
    wildcard = await desk.reply("anna", "/kb 0_5")
    assert "HW-2" in wildcard.text and "HW-1" not in wildcard.text
    requester = await desk.reply("dora", "/kb принтер", dm=True)
    assert requester.text == t("en", "kb.nothing_faq", query="принтер", prefix="/")
