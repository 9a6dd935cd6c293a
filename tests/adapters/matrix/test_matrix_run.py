"""`dutydesk run` with Matrix configured: the real process syncs under its lease, answers through the
outbox running in the background, and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from matrix_harness import PASSWORD, Person, suffix
from synapse_server import Synapse

ROOT = Path(__file__).resolve().parents[3]


async def test_run_answers_a_dm_and_stops_on_sigterm(synapse: Synapse, tmp_path: Path) -> None:
    sfx = suffix()
    bot, rita = f"bot{sfx}", f"rita{sfx}"
    for name in (bot, rita):
        synapse.register(name, PASSWORD)
    config = tmp_path / "dutydesk.toml"
    config.write_text(
        '[desk]\nname = "run test"\nticket_prefix = "RT"\nlanguage = "en"\n'
        f'[storage]\nurl = "sqlite+aiosqlite:///{tmp_path / "run.db"}"\n'
        f'[matrix]\nhomeserver = "{synapse.url}"\nuser_id = "@{bot}:localhost"\n')
    env = {**os.environ, "DUTYDESK_MATRIX__PASSWORD": PASSWORD, "DUTYDESK_LOG_LEVEL": "WARNING"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "run", "--config", str(config), cwd=str(ROOT), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    person = await Person(synapse, f"@{rita}:localhost").login()
    try:
        # the first start discards the backlog: wait until the bot has its sync token before inviting it
        room = None
        for _ in range(200):
            if process.returncode is not None:
                break
            if room is None and (tmp_path / "run.db").exists():
                room = await person.create_room(direct=True, invite=[f"@{bot}:localhost"])
            if room is not None and any(e.get("sender") == f"@{bot}:localhost" and e["type"] == "m.room.member"
                                        for e in await person.timeline(room)):
                break
            await asyncio.sleep(0.1)
        assert room is not None and process.returncode is None
        await person.send(room, "the door badge reader at the entrance is broken")
        answer = None
        for _ in range(200):
            said = await person.from_bot(room, f"@{bot}:localhost")
            if said:
                answer = said[0]["content"]["body"]
                break
            await asyncio.sleep(0.1)
        assert answer is not None and "RT-1" in answer, answer
    finally:
        await person.close()
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        _out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()[-2000:]
    assert "Traceback" not in err.decode(), err.decode()[-2000:]
