"""Duty: the rota and `/duty`, the Prio-1 escalation (`/ticket ack`), the handover at the window's start."""

from __future__ import annotations

from bot.core.desk import Desk
from bot.core.features import Features
from bot.core.uow import Stage
from bot.duty import escalation, handover, service
from bot.duty.store import window_of
from bot.duty.trigger import DutyWindowTrigger
from bot.infra.scheduler import Job
from bot.tickets.service import P1_PROMISE
from commands import duty
from commands import escalation as escalation_commands


def handover_job(desk: Desk) -> list[Job]:
    window = window_of(desk)
    return [Job("handover", DutyWindowTrigger(window), handover.post_handover)] if window is not None else []


def register(features: Features) -> None:
    duty.register(features.commands)
    escalation_commands.register(features.commands)
    features.timer("ping", escalation.ping_timer)
    features.timer("handover", handover.unacknowledged)
    features.timer("duty:away-self", service.away_reminder)
    features.timer("duty:away-coord", service.away_reminder)
    features.job(handover_job)
    features.finish(Stage.ESCALATION, escalation.escalate)
    features.on(P1_PROMISE, escalation.promise)
