"""constraints.txt pins every package dutydesk installs, and every install path uses it (issue #21)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)$")


def pins() -> dict[str, str]:
    found: dict[str, str] = {}
    for number, line in enumerate((ROOT / "constraints.txt").read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        match = PIN.match(line.strip())
        assert match, f"constraints.txt:{number}: {line!r} is not NAME==VERSION (regenerate it: bash scripts/lock)"
        found[canonicalize_name(match[1])] = match[2]
    return found


def requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    listed = list(project["dependencies"])
    for extra in ("e2e", "test"):
        listed += project["optional-dependencies"][extra]
    return [Requirement(text) for text in listed]


def test_every_dependency_is_pinned_within_what_pyproject_allows() -> None:
    pinned = pins()
    problems = []
    for req in requirements():
        if req.marker is not None and not req.marker.evaluate({"extra": "test"}):
            continue
        version = pinned.get(canonicalize_name(req.name))
        if version is None:
            problems.append(f"{req.name} is not in constraints.txt: run `bash scripts/lock` and commit the file")
        elif not req.specifier.contains(version, prereleases=True):
            problems.append(f"{req.name}=={version} in constraints.txt does not satisfy {req}: run "
                            "`bash scripts/lock --upgrade`")
    assert problems == []


def test_the_image_the_readme_and_the_tests_install_with_the_constraints() -> None:
    assert "--constraint constraints.txt" in (ROOT / "Dockerfile").read_text()
    assert "-c constraints.txt" in (ROOT / "README.md").read_text()
    assert "-c constraints.txt" in (ROOT / "scripts" / "test").read_text()
