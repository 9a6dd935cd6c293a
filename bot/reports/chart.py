"""The report's chart: a PNG drawn with matplotlib (Agg, no display).

Left: tickets opened and closed per day as bars, the open backlog at each day's end as a line. Right: SLA clocks
met and breached per priority (every target of the tickets opened in the range). Readable in dark and light chat
themes: the image has its own opaque light card behind it (a transparent one vanishes on a dark theme), dark text,
and colours from the Okabe–Ito palette that colour-blind readers tell apart.
"""

from __future__ import annotations

import io
from collections import Counter

from bot.core.types import OutgoingFile
from bot.i18n import t
from bot.reports.figures import PRIORITIES, Report
from bot.reports.text import day

CARD, INK, GRID = "#f7f7f7", "#1a1a1a", "#c8c8c8"
OPENED, CLOSED, BACKLOG = "#0072B2", "#E69F00", "#1a1a1a"
MET, BREACHED = "#009E73", "#D55E00"
DPI = 100


def sla_by_priority(report: Report) -> dict[int, Counter[str]]:
    out: dict[int, Counter[str]] = {p: Counter() for p in PRIORITIES}
    for line in report.tickets:
        for _due, verdict in line.sla.values():
            out.setdefault(line.priority, Counter())[verdict] += 1
    return out


def png(report: Report, lang: str) -> bytes:
    """The chart as PNG bytes (about 1000 × 420 pixels)."""
    # imported here, when a chart is drawn: matplotlib and numpy are some 40 MB of memory that a bot which has not
    # drawn one yet (most of the week) need not hold; a Figure of its own, not pyplot's global state (several
    # reports may be drawn at once), and so no display is needed or looked for
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4.2), dpi=DPI, facecolor=CARD)
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2.2, 1]})
    for ax in (left, right):
        ax.set_facecolor(CARD)
        ax.tick_params(colors=INK, labelsize=9)
        for spine in ax.spines.values():
            spine.set_color(GRID)
        ax.grid(axis="y", color=GRID, linewidth=0.6)
        ax.set_axisbelow(True)

    days = report.days
    xs = list(range(len(days)))
    width = 0.38
    left.bar([x - width / 2 for x in xs], [d.opened for d in days], width, color=OPENED,
             label=t(lang, "chart.opened"))
    left.bar([x + width / 2 for x in xs], [d.closed for d in days], width, color=CLOSED,
             label=t(lang, "chart.closed"))
    left.plot(xs, [d.backlog for d in days], color=BACKLOG, marker="o", linewidth=2, label=t(lang, "chart.backlog"))
    step = max(1, len(days) // 10)
    left.set_xticks(xs[::step], [day(lang, d.day) for d in days][::step], rotation=30, ha="right")
    left.set_title(t(lang, "chart.per_day"), color=INK, fontsize=11)
    left.yaxis.get_major_locator().set_params(integer=True)
    left.legend(facecolor=CARD, edgecolor=GRID, labelcolor=INK, fontsize=9, loc="upper left")

    per = sla_by_priority(report)
    labels = [f"P{p}" for p in PRIORITIES]
    met = [per[p]["met"] for p in PRIORITIES]
    breached = [per[p]["breached"] for p in PRIORITIES]
    right.bar(labels, met, color=MET, label=t(lang, "chart.met"))
    right.bar(labels, breached, bottom=met, color=BREACHED, label=t(lang, "chart.breached"))
    right.set_title(t(lang, "chart.sla"), color=INK, fontsize=11)
    right.yaxis.get_major_locator().set_params(integer=True)
    right.legend(facecolor=CARD, edgecolor=GRID, labelcolor=INK, fontsize=9, loc="upper right")

    fig.suptitle(t(lang, "report.head", period=t(lang, "report.period", first=day(lang, report.first),
                                                    last=day(lang, report.last))), color=INK, fontsize=12)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png", facecolor=CARD)
    return out.getvalue()


def chart_file(report: Report, lang: str) -> OutgoingFile:
    """The chart as a file sent with the report's text: ``report-FIRST-LAST.png``, captioned in ``lang``."""
    period = t(lang, "report.period", first=day(lang, report.first), last=day(lang, report.last))
    return OutgoingFile(name=f"report-{report.first.isoformat()}-{report.last.isoformat()}.png", type="image/png",
                        data=png(report, lang), title=t(lang, "chart.caption", period=period))
