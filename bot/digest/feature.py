"""The Prio-1 digest in the duty channel, every ``[duty] digest.every`` while duty runs."""

from __future__ import annotations

from bot.core.desk import Desk
from bot.core.features import Features
from bot.digest.job import digest_job
from bot.duty.store import window_of
from bot.duty.trigger import DutyWindowTrigger
from bot.infra.scheduler import Job


def digest_jobs(desk: Desk) -> list[Job]:
    window, duty = window_of(desk), desk.settings.duty
    if window is None or duty is None:
        return []
    return [Job("digest-prio1", DutyWindowTrigger(window, duty.digest.every), digest_job)]


def register(features: Features) -> None:
    features.job(digest_jobs)
