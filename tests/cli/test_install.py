"""Installing dutydesk: `dutydesk --version`, and a build that prints no warning screens (setuptools printed its
`project.license` deprecation and an editable-install notice on every install)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DUTYDESK = str(Path(sys.executable).parent / "dutydesk")
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "bot", "adapters", "commands", "storage")


def test_version_prints_the_release_and_exits_0() -> None:
    release = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    done = subprocess.run([DUTYDESK, "--version"], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"dutydesk {release}\n", "")


BUILD = """
import sys
from setuptools import build_meta
out = sys.argv[1]
print("built", build_meta.build_wheel(out), build_meta.build_editable(out), flush=True)
"""


def test_the_build_backend_prints_no_warning(tmp_path: Path) -> None:
    """What pip runs for `pip install .` and `pip install -e .`, on a copy of the sources."""
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy2
        copy(ROOT / name, src / name, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                         if (ROOT / name).is_dir() else {}))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    done = subprocess.run([sys.executable, "-c", BUILD, str(tmp_path / "dist")], cwd=src, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "built" in done.stdout
    noisy = [line for line in (done.stdout + done.stderr).splitlines()
             if any(word in line.lower() for word in ("warning", "deprecat", "!!"))]
    assert noisy == []
    (wheel,) = (w for w in (tmp_path / "dist").glob("dutydesk-*.whl") if "editable" not in w.name)
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read(next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))).decode()
        names = archive.namelist()
    assert "License-Expression: MIT" in metadata.splitlines()
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    # the package data the bot needs at run time: catalogues, migrations and their template
    assert {"bot/i18n/de.yaml", "storage/migrations/env.py", "storage/migrations/versions/0001_initial_schema.py",
            "storage/migrations/script.py.mako"} <= set(names)
