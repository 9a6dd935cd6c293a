"""dutydesk's core (DESIGN.md, "Layout")."""

from __future__ import annotations

from importlib import metadata

from bot.infra import logs as _logs  # noqa: F401  (structlog's events go through the standard logging module)


def version() -> str:
    """The installed release (``pyproject.toml``'s ``version``), for ``dutydesk --version`` and bug reports."""
    try:
        return metadata.version("dutydesk")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"
