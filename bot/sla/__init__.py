"""SLA policies, clocks and deadlines on business calendars."""

from bot.sla.clock import Pause, SlaClock
from bot.sla.config import SlaPolicyConfig, SlaTargetConfig
from bot.sla.durations import Duration, parse_duration
from bot.sla.policy import Deadline, SlaError, SlaPolicy, SlaTarget, UnknownTargetError, build_policies

__all__ = [
    "Deadline",
    "Duration",
    "Pause",
    "SlaClock",
    "SlaError",
    "SlaPolicy",
    "SlaPolicyConfig",
    "SlaTarget",
    "SlaTargetConfig",
    "UnknownTargetError",
    "build_policies",
    "parse_duration",
]
