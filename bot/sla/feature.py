"""SLA clocks: derived again after every change to a ticket, warnings at 75 % and at the breach, `/ticket sla`."""

from __future__ import annotations

from bot.core.features import Features
from bot.core.uow import Stage
from bot.sla import service
from bot.tickets.service import OPENING
from commands import sla


def register(features: Features) -> None:
    sla.register(features.commands)
    features.timer("sla", service.send_warning)
    features.finish(Stage.CLOCKS, service.refresh_touched)
    features.on(OPENING, service.opening)
