"""``[reports] weekly``: last week's report in the leads' channel, exactly once per week with two replicas."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import timedelta

from sqlalchemy import func, select

from adapters.sim import SimAdapter
from bot.app import build
from bot.core.clock import VirtualClock
from storage.models import JobRun
from tests.conftest import desk_settings
from tests.core.report_week import DESK, at, week


async def test_two_replicas_post_each_week_once(make_harness, db_url: str, monkeypatch) -> None:
    import bot.infra.outbox

    monkeypatch.setattr(bot.infra.outbox, "CLAIM_TTL", timedelta(days=30))  # the virtual clock jumps days
    await week(make_harness)  # the hand-counted week, written by a bot without [reports]
    settings = desk_settings(**DESK, reports={"weekly": {"channel": "#support-leads", "at": "mon 09:00"}})
    clock = VirtualClock(at(7, 8, month=12))
    bots, outs = [], []
    for _ in range(2):
        out = io.StringIO()
        adapter = SimAdapter("slack", clock, out, {"#support-duty", "#support-leads"})
        bots.append(await build(settings, clock, [adapter], db_url=db_url))
        outs.append(out)
    try:
        await asyncio.gather(*(b.run_until(clock, at(14, 10, month=12)) for b in bots))
        lines = [json.loads(line) for out in outs for line in out.getvalue().splitlines()]
        reports = [line for line in lines if line.get("kind") == "report"]
        assert len(reports) == 2, reports  # Mon 7 Dec and Mon 14 Dec, each once
        assert {r["to"] for r in reports} == {"#support-leads"}
        texts = sorted(r["text"] for r in reports)
        assert texts[0].startswith("Report 30 Nov 2026 – 6 Dec 2026\n4 opened · 2 closed · 3 open at the end\n")
        assert texts[1].startswith("Report 7 Dec 2026 – 13 Dec 2026\n0 opened · 1 closed · 2 open at the end\n")
        # each with its chart: the transcript names the file, its type and size (DESIGN.md), never the bytes
        files = sorted((r["files"] for r in reports), key=lambda f: f[0]["name"])
        assert [[(f["name"], f["type"]) for f in each] for each in files] == [
            [("report-2026-11-30-2026-12-06.png", "image/png")], [("report-2026-12-07-2026-12-13.png", "image/png")]]
        assert all(10_000 < each[0]["bytes"] < 300_000 for each in files)
        async with bots[0].desk.sessions() as session:
            slots = (await session.scalars(select(JobRun.slot).where(JobRun.job == "report-weekly")
                                           .order_by(JobRun.slot))).all()
            assert [f"{s:%d %H:%M}" for s in slots] == ["07 08:00", "14 08:00"]  # 09:00 in Berlin
            assert await session.scalar(select(func.count()).select_from(JobRun)) == 2
    finally:
        for b in bots:
            await b.close()
