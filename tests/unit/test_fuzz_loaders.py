"""Bad input fuzzing of the loaders: the scenario loader on random YAML, the config loader on random
dicts and random TOML. Whatever comes in, the answer is the object or the loader's own error with a
message that names the place (never another exception, never a traceback in the message).

The command parser has its properties in test_registry.py; test_fuzz_atheris.py runs a
coverage-guided fuzzer over all three when atheris is installed.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.settings import ConfigError, Settings, load_settings, settings_from_data
from bot.simulate import Scenario, ScenarioError, Step, load_scenario

bounded = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False), st.text(max_size=30),
    st.sampled_from(["2026-11-24T16:05:00+01:00", "2026-11-24T16:05:00", "10m", "1d", "-5m", "slack", "matrix",
                     "#general", "m1", "ticket", "HW-1", "/ticket printer on fire", "mon-fri 08:00-18:00",
                     "Europe/Berlin", "Mars/Olympus", "sqlite+aiosqlite:///x.db", "25:99", "2026-13-45"]),
)


def tree(keys: list[str]) -> st.SearchStrategy:
    key = st.one_of(st.sampled_from(keys), st.text(max_size=12))
    return st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(key, inner, max_size=5)), max_leaves=12)


STEP_KEYS = list(Step.model_fields)
SCENARIO_KEYS = list(Scenario.model_fields)
steps = st.lists(st.dictionaries(st.sampled_from(STEP_KEYS), tree(STEP_KEYS), max_size=5), max_size=4)
scenarios = st.one_of(
    st.fixed_dictionaries({"start": SCALARS, "steps": steps},
                          optional={k: tree(SCENARIO_KEYS) for k in ("config", "platform", "can_remove")}),
    tree(SCENARIO_KEYS),
)


def one_line(message: str) -> None:
    assert message and "Traceback" not in message and "\n" not in message.strip(), message


@bounded
@given(scenarios)
@example({"start": "2026-11-24T16:05:00+01:00", "steps": [{"after": "1\n2", "user": "a", "text": "x"}]})
@example({"start": "2026-11-24T16:05:00+01:00", "steps": [{"line\nbreak": 1}]})
def test_random_scenarios_load_or_say_what_is_wrong(tmp_path_factory, data) -> None:
    path = tmp_path_factory.mktemp("scn") / "scenario.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    try:
        assert isinstance(load_scenario(path), Scenario)
    except ScenarioError as exc:
        one_line(str(exc))
        assert str(path) in str(exc)


@bounded
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
                 st.sampled_from(["start: [", "steps: !!python/object:os.system ls", "{a: 1", "- - -", "\t:",
                                  "start: 2026-11-24T16:05:00+01:00\nsteps:\n  - at: 1\n", "&a [*a]", "? ? ?"])))
def test_random_yaml_text_loads_or_says_what_is_wrong(tmp_path_factory, text: str) -> None:
    path = tmp_path_factory.mktemp("scn") / "scenario.yaml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    try:
        load_scenario(path)
    except ScenarioError as exc:
        one_line(str(exc))


CONFIG_KEYS = list(Settings.model_fields)
SECTION_KEYS = ["name", "language", "ticket_prefix", "calendar", "timezone", "url", "hours", "holidays", "closed",
                "open", "targets", "within", "cutoff", "working_day", "roles", "members", "window", "anchor",
                "digest", "every", "priorities", "duty", "guarded", "privacy_mode", "topic", "keywords",
                "assignees", "authorised", "sla", "mode", "port", "bot_token", "slack", "matrix"]
configs = st.dictionaries(st.one_of(st.sampled_from(CONFIG_KEYS), st.text(max_size=10)),
                          tree(SECTION_KEYS), max_size=6)


@bounded
@given(configs)
@example({"desk": {"ticket_prefix": "a\nb"}})
@example({"duty": {"window": "mon-fri\n08:00"}})
def test_random_config_dicts_load_or_list_every_problem(data) -> None:
    try:
        assert isinstance(settings_from_data(data, "(fuzz)", env={}), Settings)
    except ConfigError as exc:
        assert exc.problems
        for problem in exc.problems:
            one_line(problem)
            assert problem.startswith("(fuzz)")


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value if v is not None and not isinstance(v, dict)) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


@bounded
@given(configs, st.text(max_size=60))
def test_random_toml_files_load_or_list_every_problem(tmp_path_factory, data, noise: str) -> None:
    lines = []
    for section, value in data.items():
        if isinstance(value, dict):
            lines.append(f'["{section}"]')
            lines += [f'"{k}" = {toml_value(v)}' for k, v in value.items() if v is not None and not isinstance(v, dict)]
        elif value is not None:
            lines.insert(0, f'"{section}" = {toml_value(value)}')
    text = "\n".join(lines) + ("\n" + noise if noise.strip() else "")
    path = tmp_path_factory.mktemp("cfg") / "dutydesk.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        assert isinstance(load_settings(path, env={}), Settings)
    except ConfigError as exc:
        for problem in exc.problems:
            one_line(problem)
            assert problem.startswith(str(path))


def test_the_cli_answers_a_broken_scenario_with_one_line(tmp_path: Path, capsys) -> None:
    from bot.cli import main

    path = tmp_path / "broken.yaml"
    for text in ("start: [", "start: 2026-02-30T10:00:00+01:00\nsteps: []\n", "a: " + "[" * 5000,
                 "start: 2026-11-24T16:05:00+01:00\nsteps: [{user: 1, text: [1, 2]}]\n", "- 1\n"):
        path.write_text(text)
        assert main(["simulate", str(path)]) == 2
        err = capsys.readouterr().err
        one_line(err)
