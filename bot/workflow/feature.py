"""The processes around a ticket: documentation (intake), triage, routing by hand, standard answers, deferral,
merging, deletion, the vendor report, the solution and the satisfaction question."""

from __future__ import annotations

from bot.core.features import Features
from bot.core.uow import Stage
from bot.workflow import closing, defer, hooks, vendor
from commands import kb
from commands import vendor as vendor_commands
from commands import workflow as workflow_commands


def register(features: Features) -> None:
    workflow_commands.register(features.commands)
    vendor_commands.register(features.commands)
    kb.register(features.commands)
    features.timer(vendor.VENDOR_TIMER, vendor.opening)
    features.timer(defer.REVIEW_TIMER, defer.review_due)
    features.timer(closing.FEEDBACK_TIMER, closing.feedback_timeout)
    # every new ticket is routed and asked for what its documentation lacks, in the unit that opened it
    features.finish(Stage.NEW_TICKETS, hooks.after_work)
