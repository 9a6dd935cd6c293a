"""What a bot holds in memory from its start: matplotlib (and numpy under it), some 40 MB, only once a report's chart
is drawn (bot/reports/chart.py; tests/core/test_report_chat.py draws them), not with the import of the bot."""

from __future__ import annotations

import subprocess
import sys


def test_the_bot_starts_without_matplotlib() -> None:
    probe = ("import sys, bot.app, bot.features, commands.report, bot.reports.weekly; "
             "print(sorted({'matplotlib', 'numpy'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
