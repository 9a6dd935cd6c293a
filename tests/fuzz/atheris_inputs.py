"""Coverage-guided fuzzing (atheris) of the text the bot parses: the command parser, the scenario
loader and the config loader. Any exception other than the loader's own error is a crash.

    python tests/fuzz/atheris_inputs.py parser|scenario|config [-runs=N] [-max_len=N] [CORPUS_DIR]

tests/unit/test_fuzz_atheris.py runs each target for a bounded number of inputs.
"""

from __future__ import annotations

import sys
import tempfile
import tomllib
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

with atheris.instrument_imports(include=["bot", "commands"]):
    from bot.core.registry import Parsed, ParseError
    from bot.features import build_registry
    from bot.settings import ConfigError, settings_from_data
    from bot.simulate import ScenarioError, load_scenario

REGISTRY = build_registry()
SCRATCH = Path(tempfile.mkdtemp(prefix="dutydesk-fuzz-")) / "scenario.yaml"
SEEDS = {
    "parser": ["ticket -p1 printer on fire", "ticket assign HW-1 @anna", "ticket --topic \"two words\" x",
               "duty swap 2026-11-24 phone @ben", "queue", "help ticket", "ticket -- -5 degrees"],
    "scenario": ["start: 2026-11-24T15:50:00+01:00\nsteps:\n  - at: 2026-11-24T16:05:00+01:00\n    user: ben\n"
                 "    channel: \"#general\"\n    text: hello\n    id: m1\n  - user: anna\n    react: ticket\n"
                 "    message: m1\n  - until: 2026-11-24T18:30:00+01:00\n"],
    "config": ["[desk]\nname = \"x\"\nticket_prefix = \"HW\"\n[people.anna]\nroles = [\"lead\"]\n"
               "[duty]\nmembers = [\"anna\"]\nwindow = \"mon-fri 16:00-18:00\"\n"
               "[calendars.office]\ntimezone = \"Europe/Berlin\"\nhours = [\"mon-fri 08:00-18:00\"]\n"],
}


def parser(data: bytes) -> None:
    text = atheris.FuzzedDataProvider(data).ConsumeUnicodeNoSurrogates(400)
    assert isinstance(REGISTRY.parse(text), Parsed | ParseError)


def scenario(data: bytes) -> None:
    SCRATCH.write_bytes(data)
    try:
        load_scenario(SCRATCH)
    except ScenarioError as exc:
        assert "\n" not in str(exc), str(exc)


def config(data: bytes) -> None:
    try:
        parsed = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return
    try:
        settings_from_data(parsed, "(fuzz)", env={})
    except ConfigError as exc:
        assert all("\n" not in problem for problem in exc.problems), exc.problems


TARGETS = {"parser": parser, "scenario": scenario, "config": config}

if __name__ == "__main__":
    target = sys.argv.pop(1)
    corpus = Path(tempfile.mkdtemp(prefix=f"dutydesk-{target}-"))
    for i, seed in enumerate(SEEDS[target]):
        (corpus / f"seed{i}").write_text(seed, encoding="utf-8")
    atheris.Setup([*sys.argv, str(corpus)], TARGETS[target])
    atheris.Fuzz()
