"""The ticket modal's "for (caller / e-mail)" field (#18) is the support team's: a staff member's modal has it, a
requester's never shows it, and a requester who forges a submission with it anyway opens nothing."""

from __future__ import annotations

from slack_harness import SlackHarness
from test_slack_topic_form import block_ids, view_payload

from bot.i18n import t
from storage.models import Contact, Ticket

FORM = {"description": "the printer on floor 3 jams every morning", "urgency": "LIMITED USABILITY"}


async def opened(slack: SlackHarness, user: str, name: str) -> dict:  # type: ignore[type-arg]
    before = len(slack.fake.to("views.open"))
    await slack.command("", user=user, user_name=name, channel="C0RANDOM", channel_name="random")
    return slack.fake.to("views.open")[before]["view"]  # type: ignore[no-any-return]


def as_user(payload: dict, user: str, name: str) -> dict:  # type: ignore[type-arg]
    return {**payload, "user": {"id": user, "username": name, "name": name, "team_id": "T0TEAM"}}


async def test_only_the_team_sees_the_for_field(slack: SlackHarness) -> None:
    assert "contact" not in block_ids(await opened(slack, "U0REQ", "rita"))
    staff_view = await opened(slack, "U0ANNA", "anna")
    assert block_ids(staff_view)[-1] == "contact"
    (field,) = [b for b in staff_view["blocks"] if b["block_id"] == "contact"]
    assert field["optional"] is True
    # anna opens a ticket for a caller with it
    status, _ = await slack.interactive(as_user(view_payload("view_submission", staff_view,
                                                             {**FORM, "contact": "Maria Huber +49 30 1234567"}),
                                                "U0ANNA", "anna"))
    assert status == 200
    await slack.settle()
    [ticket] = await slack.rows(Ticket)
    assert ticket.opener_id is not None and await slack.count(Contact) == 1


async def test_a_requesters_forged_for_field_opens_nothing(slack: SlackHarness) -> None:
    """Rita's modal has no "for" field; she sends the staff modal's submission with one anyway."""
    staff_view = await opened(slack, "U0ANNA", "anna")
    forged = view_payload("view_submission", staff_view, {**FORM, "contact": "boss@example.com"})
    status, _ = await slack.interactive(as_user(forged, "U0REQ", "rita"))
    assert status == 200
    await slack.settle()
    assert await slack.count(Ticket) == 0 and await slack.count(Contact) == 0
    refusal = t("en", "contact.staff_only", prefix="/")
    told = [c for c in slack.fake.to("chat.postEphemeral") + slack.fake.to("chat.postMessage")
            if refusal in str(c.get("text"))]
    assert told, "the refusal reached rita"
