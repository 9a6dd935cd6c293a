"""Logging through structlog, as key–value events: ``log = structlog.stdlib.get_logger(__name__)``, then
``log.warning("outbox: delivery pass failed", error="OperationalError")`` — an event name ("component:
what happened") and fields, which a log shipper reads as they are.

``DUTYDESK_LOG_FORMAT=json`` writes one JSON object a line, ``console`` (the default) readable lines;
``DUTYDESK_LOG_LEVEL`` sets the level (default WARNING). Events go through the standard ``logging``
module (so pytest's caplog and the level apply), and :func:`configure` renders them and third-party
records alike.

What is logged never holds message content: ids, references, counts and exception type names
(``error=type(exc).__name__``); tracebacks only at DEBUG (``exc_info=True``). The libraries that would log
content below WARNING (SQL statements with their parameters, Web API request bodies, sync answers) are kept
at WARNING whatever the level, and the database engine hides statement parameters in its errors
(storage/db.py), so a traceback at DEBUG does not quote a message either.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

import structlog

FORMATS = ("console", "json")
# libraries whose INFO and DEBUG records carry message content (statements with parameters, request and
# response bodies, sync batches): never below WARNING
CONTENT_LOGGERS = ("sqlalchemy", "aiosqlite", "psycopg", "slack_sdk", "slack_bolt", "nio", "aiohttp", "peewee")

_SHARED: list[structlog.types.Processor] = [
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]
# events become standard log records (below the level they are dropped before any work); the handler that
# configure() installs renders them. Importing the bot package runs this (bot/__init__.py).
structlog.configure(
    processors=[structlog.stdlib.filter_by_level, *_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
    logger_factory=structlog.stdlib.LoggerFactory(),
    wrapper_class=structlog.stdlib.BoundLogger,
    cache_logger_on_first_use=True,
)


def configure(fmt: str | None = None, level: str | None = None, stream: TextIO | None = None) -> None:
    fmt = (fmt or os.environ.get("DUTYDESK_LOG_FORMAT") or "console").lower()
    if fmt not in FORMATS:
        fmt = "console"
    level_name = (level or os.environ.get("DUTYDESK_LOG_LEVEL") or "WARNING").upper()
    numeric = logging.getLevelName(level_name)
    if not isinstance(numeric, int):
        numeric = logging.WARNING
    rendering: list[structlog.types.Processor] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if fmt == "json":
        rendering += [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        rendering.append(structlog.dev.ConsoleRenderer(colors=False))
    formatter = structlog.stdlib.ProcessorFormatter(foreign_pre_chain=[*_SHARED, structlog.stdlib.ExtraAdder()],
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
    for name in CONTENT_LOGGERS:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
