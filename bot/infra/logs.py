"""Logging for the whole process through structlog: ``DUTYDESK_LOG_FORMAT=json`` writes one JSON
object a line (for a log shipper), ``console`` (the default) readable lines; ``DUTYDESK_LOG_LEVEL``
sets the level (default WARNING). The code logs with the standard ``logging`` module; structlog
renders every record, third-party ones included.

What is logged never holds message content: ids, references, counts and exception type names;
tracebacks (whose text may quote content) only at DEBUG.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

import structlog

FORMATS = ("console", "json")


def configure(fmt: str | None = None, level: str | None = None, stream: TextIO | None = None) -> None:
    fmt = (fmt or os.environ.get("DUTYDESK_LOG_FORMAT") or "console").lower()
    if fmt not in FORMATS:
        fmt = "console"
    level_name = (level or os.environ.get("DUTYDESK_LOG_LEVEL") or "WARNING").upper()
    numeric = logging.getLevelName(level_name)
    if not isinstance(numeric, int):
        numeric = logging.WARNING
    base: list[structlog.types.Processor] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    rendering: list[structlog.types.Processor] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if fmt == "json":
        rendering += [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        rendering.append(structlog.dev.ConsoleRenderer(colors=False))
    formatter = structlog.stdlib.ProcessorFormatter(foreign_pre_chain=[*base, structlog.stdlib.ExtraAdder()],
                                                    processors=rendering)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_dutydesk", False):
            root.removeHandler(old)
    handler._dutydesk = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(numeric)
    structlog.configure(
        processors=[*base, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
