"""The queue's gauges on /metrics (issue #19): open by state and priority, at SLA risk past 75 %, breached, the
oldest open ticket's age; the process metrics and dutydesk_build_info. On a real aiohttp server."""

from __future__ import annotations

import aiohttp

from bot import version
from bot.infra import timers
from bot.infra.ops import OpsServer

SLA = {
    "desk": {"name": "HW desk", "ticket_prefix": "HW", "language": "en", "sla": "support", "timezone": "Europe/Berlin"},
    "calendars": {"office": {"timezone": "Europe/Berlin", "hours": ["mon-sun 00:00-24:00"]}},
    "sla": {"support": {"calendar": "office", "targets": {"response-P1": {"within": "30m"},
                                                          "response": {"within": "4h"}}}},
}


def metric(text: str, name: str, **labels: str) -> float | None:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        key, _, value = line.rpartition(" ")
        if not line.startswith("#") and (key == name or key == f"{name}{{{want}}}"):
            return float(value)
    return None


async def test_queue_gauges_follow_the_tickets(make_harness) -> None:
    desk = await make_harness(**SLA)
    server = OpsServer(desk.bot)
    port = await server.start("127.0.0.1", 0)

    async def scrape() -> str:
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as response:
            assert response.status == 200
            return await response.text()

    try:
        body = await scrape()
        assert metric(body, "dutydesk_open_tickets", priority="1", state="new") == 0
        assert metric(body, "dutydesk_oldest_open_ticket_seconds") == 0
        assert metric(body, "dutydesk_build_info", version=version()) == 1
        assert metric(body, "process_cpu_seconds_total") is not None
        assert 'python_info{implementation="CPython"' in body

        await desk.send("ben", "/ticket -p1 the mail server is down")  # HW-1
        await desk.send("ben", "/ticket printer on fire")  # HW-2
        await desk.send("ben", "/ticket the VPN drops")  # HW-3
        await desk.send("anna", "/ticket take HW-3", channel="#support-duty")
        desk.advance(minutes=25)  # HW-1's first response: 75 % of 30 min used
        await timers.fire_due(desk.bot.desk)
        body = await scrape()
        assert metric(body, "dutydesk_open_tickets", priority="1", state="new") == 1
        assert metric(body, "dutydesk_open_tickets", priority="2", state="new") == 1
        assert metric(body, "dutydesk_open_tickets", priority="2", state="in_progress") == 1
        assert metric(body, "dutydesk_oldest_open_ticket_seconds") == 25 * 60
        assert metric(body, "dutydesk_tickets_sla_at_risk") == 1
        assert metric(body, "dutydesk_tickets_sla_breached") == 0

        desk.advance(minutes=20)  # HW-1 breached at 30 min; HW-2 and HW-3 at 45 of 240 min
        await timers.fire_due(desk.bot.desk)
        body = await scrape()
        assert metric(body, "dutydesk_tickets_sla_at_risk") == 0
        assert metric(body, "dutydesk_tickets_sla_breached") == 1

        desk.advance(hours=2, minutes=40)  # 3 h 25 min: HW-2 and HW-3 past 75 % of 4 h
        await timers.fire_due(desk.bot.desk)
        await desk.send("anna", "/ticket reply HW-3 on it", channel="#support-duty")  # HW-3's clock is met
        body = await scrape()
        assert metric(body, "dutydesk_tickets_sla_at_risk") == 1
        await desk.send("anna", "/ticket close HW-1", channel="#support-duty")
        body = await scrape()
        assert metric(body, "dutydesk_tickets_sla_breached") == 0
        assert metric(body, "dutydesk_open_tickets", priority="1", state="new") == 0
        assert metric(body, "dutydesk_oldest_open_ticket_seconds") == (3 * 60 + 25) * 60
    finally:
        await server.stop()
