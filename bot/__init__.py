"""dutydesk's core (DESIGN.md, "Layout")."""

from __future__ import annotations

from importlib import metadata


def version() -> str:
    """The installed release (``pyproject.toml``'s ``version``), for ``dutydesk --version`` and bug reports."""
    try:
        return metadata.version("dutydesk")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"
