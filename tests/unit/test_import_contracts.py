"""The layers hold: ``lint-imports`` keeps the contracts of pyproject.toml on the code as it is, and
breaks on each kind of import they forbid (tried on a copy of the packages with one bad import each)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = str(Path(sys.executable).parent / "lint-imports")
PACKAGES = ("bot", "adapters", "commands", "storage")
# what an adapter may import of the core (bot/core/ports.py says why)
ADAPTER_MAY_USE = {"bot.core.ports", "bot.core.types", "bot.core.clock", "bot.i18n", "bot.i18n.format", "bot.settings"}


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LINT, "--no-cache"], cwd=root, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(root), "PATH": str(Path(sys.executable).parent)})


def test_the_code_keeps_every_contract() -> None:
    done = lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 kept, 0 broken" in done.stdout


def test_adapters_import_only_the_ports_of_the_core() -> None:
    """Also for a domain package the forbidden list of pyproject.toml does not name yet."""
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True)
    used = {(importer, imported) for importer in graph.find_descendants("adapters") | {"adapters"}
            for imported in graph.find_modules_directly_imported_by(importer)
            if imported.split(".")[0] in ("bot", "storage", "commands")}
    assert {imported for _, imported in used} <= ADAPTER_MAY_USE, sorted(
        (importer, imported) for importer, imported in used if imported not in ADAPTER_MAY_USE)


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


BREACHES = [
    ("bot/core/desk.py", "import adapters.console", "bot/ imports no adapter"),
    ("bot/infra/ops.py", "from adapters.slack import runtime", "bot/ imports no adapter"),
    ("adapters/matrix/sync.py", "import adapters.slack.render", "adapters do not import each other"),
    ("adapters/slack/app.py", "from storage.models import Person", "adapters reach the core only through its ports"),
    ("adapters/slack/app.py", "from bot.tickets.service import open_tickets_of",
     "adapters reach the core only through its ports"),
    ("adapters/console.py", "from bot.core.dispatcher import Dispatcher",
     "adapters reach the core only through its ports"),
    ("commands/ticket.py", "import adapters.matrix.render", "commands/ and storage/ import no adapter"),
]


@pytest.mark.parametrize(("module", "line", "contract"), BREACHES, ids=[f"{m}:{line}" for m, line, _ in BREACHES])
def test_a_forbidden_import_breaks_its_contract(copy: Path, module: str, line: str, contract: str) -> None:
    path = copy / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}  # noqa\n", encoding="utf-8")
    done = lint(copy)
    assert done.returncode == 1, done.stdout
    broken = done.stdout.split("Broken contracts")[1]
    assert contract in broken.replace("\n", " ")
