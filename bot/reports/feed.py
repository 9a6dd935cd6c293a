"""The duty rota as calendars people subscribe to, on the ops listener (issue #19).

``GET /calendar/ROLE.ics?token=…`` is everyone's shifts of one duty role, ``GET /calendar/people/KEY.ics?token=…``
one person's shifts of every role; bot/duty/ical.py builds them (with the duty calendar's ``VTIMEZONE``), from four
weeks back to twelve weeks ahead. Each request reads the rota anew, so swaps, absences and plans show at the
subscriber's next refresh.

The token is ``[reports] calendar_token`` (``DUTYDESK_REPORTS__CALENDAR_TOKEN``, never from the file). Without one
configured the feeds do not exist (404); a request without the token or with a wrong one gets 403 before anything
says which roles or people exist; the comparison takes the same time however much of the token matches.
"""

from __future__ import annotations

import hmac
from datetime import timedelta

from aiohttp import web

from bot.core.desk import Desk
from bot.duty.ical import as_text, rota_calendar
from bot.duty.store import today, window_of

DESK_KEY = web.AppKey("dutydesk_feed_desk", object)
WEEKS_BACK, WEEKS_AHEAD = 4, 12
HEADERS = {"Cache-Control": "private, max-age=300", "Content-Type": "text/calendar; charset=utf-8"}


def _allowed(desk: Desk, request: web.Request) -> web.Response | None:
    """None when the request may have a feed; else the answer it gets."""
    token = desk.settings.reports.calendar_token
    if token is None or desk.settings.duty is None:
        return web.Response(status=404, text="no calendar feeds here")
    given = request.query.get("token", "")
    if not hmac.compare_digest(given.encode(), token.get_secret_value().encode()):
        return web.Response(status=403, text="the calendar address lacks its token, or has a wrong one")
    return None


async def _serve(request: web.Request, *, role: str | None, person: str | None) -> web.Response:
    desk: Desk = request.app[DESK_KEY]  # type: ignore[assignment]
    refused = _allowed(desk, request)
    if refused is not None:
        return refused
    duty = desk.settings.duty
    assert duty is not None
    if (role is not None and role not in duty.roles) or (person is not None and person not in desk.settings.people):
        return web.Response(status=404, text="no such calendar")
    window = window_of(desk)
    assert window is not None
    now = today(desk, window)
    monday = now - timedelta(days=now.weekday())
    calendar = await rota_calendar(desk, monday - timedelta(weeks=WEEKS_BACK),
                                   monday + timedelta(weeks=WEEKS_AHEAD, days=-1), role=role, person=person)
    return web.Response(body=as_text(calendar).encode("utf-8"), headers=HEADERS)


async def _role(request: web.Request) -> web.Response:
    return await _serve(request, role=request.match_info["role"], person=None)


async def _person(request: web.Request) -> web.Response:
    return await _serve(request, role=None, person=request.match_info["person"])


def mount(app: web.Application, desk: Desk) -> None:
    app[DESK_KEY] = desk
    app.router.add_get("/calendar/people/{person}.ics", _person)
    app.router.add_get("/calendar/{role}.ics", _role)
