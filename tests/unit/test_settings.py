"""Settings: every problem of a config is one line naming the file and the key; the environment overrides."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.settings import ConfigError, load_settings, settings_from_data

DUTYDESK = str(Path(sys.executable).parent / "dutydesk")

GOOD = """
[desk]
name = "HalloWelt Support"
language = "en"
ticket_prefix = "HW"
calendar = "office"

[calendars.office]
timezone = "Europe/Berlin"
hours = ["mon-thu 08:00-16:00", "fri 08:00-14:00"]
holidays = "DE-BE"

[sla.support]
calendar = "office"
targets.P1 = { within = "4h", cutoff = "12:00" }

[people.anna]
name = "Anna"
slack = "U0ANNA"
roles = ["agent", "lead"]

[people.ben]
name = "Ben"

[channels]
duty = ["#support-duty"]
guarded = ["#general"]

[duty]
calendar = "office"
window = "mon-fri 16:00-18:00"
members = ["anna", "ben"]
coordinator = "anna"
"""


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("DUTYDESK_"):
            monkeypatch.delenv(name)


def write(tmp_path: Path, text: str, name: str = "dutydesk.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load_settings(path, env=env)
    assert str(raised.value) == "\n".join(raised.value.problems)
    return raised.value.problems


def test_a_good_config_loads(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, GOOD), env={})
    assert settings.desk.ticket_prefix == "HW"
    assert settings.people["anna"].roles == ["agent", "lead"]
    assert settings.people["ben"].roles == ["agent"]
    assert settings.person_key_for("slack", "U0ANNA") == "anna"
    assert settings.duty is not None and settings.duty.members == ["anna", "ben"]
    assert not settings.slack_enabled and not settings.matrix_enabled
    assert settings.source == str(tmp_path / "dutydesk.toml")


# Each case: a change to the good config, and the (key, words) of the one problem it causes.
CASES = {
    "unknown key": (GOOD.replace('language = "en"', 'langauge = "en"'), "desk.langauge", "unknown key"),
    "unknown section": (GOOD + "\n[dutty]\nwindow = 'x'\n", "dutty", "unknown key"),
    "bad hours": (GOOD.replace('"fri 08:00-14:00"', '"fri 14:00-08:00"'), "calendars.office.hours",
                  "bad time range"),
    "bad weekday": (GOOD.replace('"fri 08:00-14:00"', '"fry 08:00-14:00"'), "calendars.office.hours", "fry"),
    "bad duty window": (GOOD.replace("mon-fri 16:00-18:00", "mon-fri 18:00-16:00"), "duty.window",
                        "bad time range"),
    "unknown member": (GOOD.replace('members = ["anna", "ben"]', 'members = ["anna", "bob"]'), "duty.members[1]",
                       'unknown person "bob"'),
    "unknown coordinator": (GOOD.replace('coordinator = "anna"', 'coordinator = "zed"'), "duty.coordinator",
                            'unknown person "zed"'),
    "unknown desk calendar": (GOOD.replace('calendar = "office"\n\n[calendars', 'calendar = "ofice"\n\n[calendars'),
                              "desk.calendar", 'unknown calendar "ofice"'),
    "unknown sla calendar": (GOOD.replace('[sla.support]\ncalendar = "office"', '[sla.support]\ncalendar = "x"'),
                             "sla.support.calendar", 'unknown calendar "x"'),
    "bad calendar zone": (GOOD.replace('timezone = "Europe/Berlin"', 'timezone = "Europe/Berlinn"'),
                          "calendars.office.timezone", "Europe/Berlinn"),
    "bad desk zone": (GOOD.replace('ticket_prefix = "HW"', 'ticket_prefix = "HW"\ntimezone = "Mars/Base"'),
                      "desk.timezone", "Mars/Base"),
    "bad person zone": (GOOD.replace('name = "Ben"', 'name = "Ben"\ntimezone = "CEST"'), "people.ben.timezone",
                        "CEST"),
    "bad role": (GOOD.replace('roles = ["agent", "lead"]', 'roles = ["agent", "boss"]'), "people.anna.roles.1",
                 "'agent', 'lead', 'coordinator' or 'admin'"),
    "bad language": (GOOD.replace('language = "en"', 'language = "fr"'), "desk.language", "'de', 'en' or 'ru'"),
    "bad prefix": (GOOD.replace('ticket_prefix = "HW"', 'ticket_prefix = "hw-"'), "desk.ticket_prefix",
                   "capital letters"),
    "bad storage url": (GOOD + '\n[storage]\nurl = "sqlite:///x.db"\n', "storage.url", "async URL"),
    "secret in file": (GOOD + '\n[slack]\nbot_token = "xoxb-1"\n', "slack.bot_token",
                       "set the environment variable DUTYDESK_SLACK__BOT_TOKEN"),
    "matrix secret in file": (GOOD + '\n[matrix]\npassword = "hunter2"\n', "matrix.password",
                              "DUTYDESK_MATRIX__PASSWORD"),
    "duty channel is guarded": (GOOD.replace('guarded = ["#general"]', 'guarded = ["#support-duty"]'),
                                "channels.duty[0]", "must be private"),
    "bad duration": (GOOD + 'escalate = { repeat = "soon" }\n', "duty.escalate.repeat", "soon"),
    "matrix space neither switch nor alias": (GOOD + '\n[matrix]\nspace = "support desk"\n', "matrix.space",
                                              'space = "#support-desk"'),
    "negative closed rooms": (GOOD + '\n[matrix]\nclosed_rooms = -1\n', "matrix.closed_rooms", "0"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_problem_is_one_line_naming_file_and_key(tmp_path: Path, case: str) -> None:
    text, key, words = CASES[case]
    path = write(tmp_path, text)
    (problem,) = problems(path, env={})
    assert problem.startswith(f"{path}: {key}: "), problem
    assert words in problem
    assert "\n" not in problem


def test_secrets_in_the_file_never_echo_the_secret(tmp_path: Path) -> None:
    (problem,) = problems(write(tmp_path, GOOD + '\n[matrix]\npassword = "hunter2"\n'), env={})
    assert "hunter2" not in problem


def test_all_problems_of_a_kind_are_reported_at_once(tmp_path: Path) -> None:
    text = (GOOD.replace('members = ["anna", "ben"]', 'members = ["carl", "ben", "dora"]')
            .replace('coordinator = "anna"', 'coordinator = "zed"\nescalate = { repeat = "soon" }')
            .replace("mon-fri 16:00-18:00", "mon-fri 18:00-16:00"))
    text += '\n[vendor]\nauthorised = ["eve"]\nsla = "nope"\n'
    path = write(tmp_path, text)
    found = problems(path, env={})
    keys = [p.removeprefix(f"{path}: ").split(": ")[0] for p in found]
    assert sorted(keys) == sorted([
        "duty.members[0]", "duty.members[2]", "duty.coordinator", "duty.window", "duty.escalate.repeat",
        "vendor.authorised[0]", "vendor.sla",
    ])


def test_several_schema_problems_at_once(tmp_path: Path) -> None:
    text = GOOD.replace('language = "en"', 'langauge = "en"').replace('"fri 08:00-14:00"', '"fri 14:00-08:00"')
    text += '\n[slack]\nbot_token = "x"\n'
    path = write(tmp_path, text)
    keys = sorted(p.removeprefix(f"{path}: ").split(": ")[0] for p in problems(path, env={}))
    assert keys == ["calendars.office.hours", "desk.langauge", "slack.bot_token"]


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[desk\nname = 1\n")
    (problem,) = problems(path)
    assert problem.startswith(f"{path}: not valid TOML")
    missing = tmp_path / "nope.toml"
    (problem,) = problems(missing)
    assert problem.startswith(f"{missing}: no such config file")


# --------------------------------------------------------------------------- the environment


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, GOOD)
    monkeypatch.setenv("DUTYDESK_DESK__LANGUAGE", "de")
    monkeypatch.setenv("DUTYDESK_STORAGE__URL", "postgresql+psycopg://postgres@db/prod")
    settings = load_settings(path)
    assert settings.desk.language == "de"
    assert settings.desk.name == "HalloWelt Support"  # the rest of [desk] stays
    assert settings.storage.url == "postgresql+psycopg://postgres@db/prod"


def test_an_explicit_environment_replaces_the_process_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, GOOD)
    monkeypatch.setenv("DUTYDESK_DESK__LANGUAGE", "de")
    assert load_settings(path, env={"DUTYDESK_DESK__LANGUAGE": "ru"}).desk.language == "ru"
    assert load_settings(path, env={}).desk.language == "en"
    assert os.environ["DUTYDESK_DESK__LANGUAGE"] == "de"  # restored


def test_a_bad_environment_value_names_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    (problem,) = problems(path, env={"DUTYDESK_DESK__LANGUAGE": "fr"})
    assert problem.startswith(f"{path}: desk.language: ")


def test_secrets_come_from_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + '\n[slack]\nmode = "socket"\n')
    settings = load_settings(path, env={"DUTYDESK_SLACK__BOT_TOKEN": "xoxb-secret",
                                        "DUTYDESK_SLACK__APP_TOKEN": "xapp-secret"})
    assert settings.slack_enabled
    assert settings.slack.bot_token is not None and settings.slack.bot_token.get_secret_value() == "xoxb-secret"
    assert "xoxb-secret" not in repr(settings) and "xoxb-secret" not in str(settings.model_dump())
    settings = load_settings(path, env={"DUTYDESK_MATRIX__ACCESS_TOKEN": "syt_x",
                                        "DUTYDESK_MATRIX__HOMESERVER": "https://m.example.org",
                                        "DUTYDESK_MATRIX__USER_ID": "@bot:example.org"})
    assert settings.matrix_enabled and settings.matrix.homeserver == "https://m.example.org"


def test_incomplete_platform_secrets(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    (problem,) = problems(path, env={"DUTYDESK_SLACK__BOT_TOKEN": "xoxb"})
    assert problem.startswith(f"{path}: slack.mode: ") and "DUTYDESK_SLACK__APP_TOKEN" in problem
    (problem,) = problems(path, env={"DUTYDESK_SLACK__BOT_TOKEN": "xoxb", "DUTYDESK_SLACK__MODE": "http"})
    assert "DUTYDESK_SLACK__SIGNING_SECRET" in problem
    (problem,) = problems(path, env={"DUTYDESK_MATRIX__PASSWORD": "pw"})
    assert problem.startswith(f"{path}: matrix: ")


def test_no_file_is_the_defaults_plus_environment() -> None:
    settings = load_settings(None, env={"DUTYDESK_DESK__TICKET_PREFIX": "IT"})
    assert settings.desk.ticket_prefix == "IT"
    assert settings.storage.url == "sqlite+aiosqlite:///dutydesk.db"


# --------------------------------------------------------------------------- the CLI


BAD = GOOD.replace('language = "en"', 'langauge = "en"').replace('"fri 08:00-14:00"', '"fri 14:00-08:00"')


def test_check_config_cli_in_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, BAD, "bad.toml")
    assert main(["check-config", "--config", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 2
    assert all(line.startswith(f"{path}: ") for line in lines)
    assert main(["check-config", "--config", str(write(tmp_path, GOOD))]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"{tmp_path / 'dutydesk.toml'}: ok") and err == ""


def test_check_config_cli_subprocess(tmp_path: Path) -> None:
    path = write(tmp_path, BAD, "bad.toml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUTYDESK_")}
    run = subprocess.run([DUTYDESK, "check-config", "--config", str(path)], capture_output=True, text=True,
                         env=env, cwd=tmp_path, timeout=60)
    assert run.returncode == 2
    assert run.stdout == ""
    assert "Traceback" not in run.stderr
    assert [line.split(": ")[1] for line in run.stderr.splitlines()] == ["desk.langauge", "calendars.office.hours"]
    bad_toml = write(tmp_path, "desk = [", "broken.toml")
    run = subprocess.run([DUTYDESK, "check-config", "--config", str(bad_toml)], capture_output=True, text=True,
                         env=env, cwd=tmp_path, timeout=60)
    assert (run.returncode, run.stdout, len(run.stderr.splitlines())) == (2, "", 1)
    assert "not valid TOML" in run.stderr


# --------------------------------------------------------------------------- one run, did you mean


def test_problems_of_every_kind_in_one_run_with_did_you_mean(tmp_path: Path) -> None:
    """A misspelt key, a misspelt calendar and a misspelt member: one run names all three (each section
    checks its references to the others even while another section has problems of its own)."""
    text = (GOOD.replace('language = "en"', 'langauge = "en"')
            .replace('calendar = "office"\n\n[calendars', 'calendar = "ofice"\n\n[calendars')
            .replace('members = ["anna", "ben"]', 'members = ["anna", "bne"]')
            .replace('"fri 08:00-14:00"', '"fri 14:00-08:00"'))
    text += '\n[dutty]\nwindow = "x"\n'
    path = write(tmp_path, text)
    found = {p.removeprefix(f"{path}: ").split(": ")[0]: p for p in problems(path, env={})}
    assert sorted(found) == ["calendars.office.hours", "desk.calendar", "desk.langauge", "dutty",
                             "duty.members[1]"]
    assert found["desk.langauge"].endswith('unknown key; did you mean "language"?')
    assert 'unknown calendar "ofice"; did you mean "office"?' in found["desk.calendar"]
    assert 'unknown person "bne"; did you mean "ben"?' in found["duty.members[1]"]
    assert found["dutty"].endswith('unknown key; did you mean "duty"?')


def test_did_you_mean_for_roles_choices_and_nested_keys(tmp_path: Path) -> None:
    text = (GOOD.replace('roles = ["agent", "lead"]', 'roles = ["agent", "laed"]')
            .replace('coordinator = "anna"', 'coordinator = "anna"\nescalate = { repaet = "15m" }'))
    text += '\n[access]\nslack_groups = { agnet = "S1" }\n'
    path = write(tmp_path, text)
    found = {p.removeprefix(f"{path}: ").split(": ")[0]: p for p in problems(path, env={})}
    assert found["people.anna.roles.1"].endswith("did you mean 'lead'?")
    assert found["duty.escalate.repaet"].endswith('unknown key; did you mean "repeat"?')
    assert 'unknown role "agnet"; did you mean "agent"?' in found["access.slack_groups"]


def test_an_unknown_name_without_a_close_one_lists_the_names_and_what_to_add(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('coordinator = "anna"', 'coordinator = "zed"'))
    (problem,) = problems(path, env={})
    assert problem == f'{path}: duty.coordinator: unknown person "zed" (people: anna, ben); add [people.zed]'


def test_an_intake_rule_for_a_misspelt_topic(tmp_path: Path) -> None:
    text = GOOD + ('\n[[routing]]\ntopic = "technik"\nkeywords = ["drucker"]\n'
                   '\n[[intake]]\ntopic = "tecnik"\nrequired = ["steps"]\n'
                   '\n[[intake]]\ntopic = "*"\nrequired = ["brwoser"]\n')
    path = write(tmp_path, text)
    found = {p.removeprefix(f"{path}: ").split(": ")[0]: p for p in problems(path, env={})}
    assert 'unknown topic "tecnik"; did you mean "technik"?' in found["intake[0].topic"]
    assert 'did you mean "browser"?' in found["intake.1.required"]


def test_references_are_checked_against_the_environment_too(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('coordinator = "anna"', 'coordinator = "carla"'))
    settings = load_settings(path, env={"DUTYDESK_PEOPLE__CARLA__NAME": "Carla"})
    assert settings.duty is not None and settings.duty.coordinator == "carla"


def test_secrets_are_the_secret_fields_of_every_section() -> None:
    from bot.settings import secret_keys

    assert secret_keys() == {"ops": ("token",), "slack": ("bot_token", "app_token", "signing_secret", "user_token"),
                             "matrix": ("password", "access_token"), "mail": ("password",),
                             "reports": ("calendar_token",)}


def test_a_team_mail_address_comes_with_a_warning_that_mail_senders_are_not_checked() -> None:
    """A mail From a team member's address counts as theirs, and mail senders can be forged: check-config says so."""
    settings = settings_from_data({"desk": {"timezone": "Europe/Berlin"},
                                   "people": {"carla": {"name": "Carla", "email": "carla@example.org"},
                                              "anna": {"name": "Anna"}}}, "(test)", env={})
    [warning] = settings.warnings()
    assert warning.startswith("people.carla.email: a mail's sender is not checked")
    assert "carla@example.org" in warning and "DMARC" in warning


def test_the_vendor_by_mail_is_checked() -> None:
    """[mail] vendor without [vendor] reports nothing, and its subject pattern must be a regular expression with at
    most one group: check-config says so (#18)."""
    base = {"desk": {"timezone": "Europe/Berlin"}}
    settings = settings_from_data({**base, "mail": {"vendor": "Tickets@Vendor.example"}}, "(test)", env={})
    assert settings.mail.vendor == "tickets@vendor.example"
    [warning] = settings.warnings()
    assert warning.startswith("[mail] vendor:") and "[vendor]" in warning
    settings = settings_from_data({**base, "mail": {"vendor": "t@v.example", "vendor_ticket": r"\[(VT-\d+)\]"},
                                   "vendor": {"authorised": []}}, "(test)", env={})
    assert settings.warnings() == []
    assert settings.mail.vendor_ticket_in("[VT-99] Re: [HW-1] x") == "VT-99"
    assert settings.mail.vendor_ticket_in("Re: [HW-1] x") is None
    for bad in (r"\[(VT-\d+\]", r"(a)(b)"):
        with pytest.raises(ConfigError) as raised:
            settings_from_data({**base, "mail": {"vendor_ticket": bad}}, "(test)", env={})
        assert "mail.vendor_ticket" in str(raised.value)


def test_the_desks_country_is_a_country_with_phone_numbers() -> None:
    base = {"desk": {"timezone": "Europe/Berlin", "country": "de"}}
    assert settings_from_data(base, "(test)", env={}).desk.country == "DE"
    with pytest.raises(ConfigError) as raised:
        settings_from_data({"desk": {"country": "Germany"}}, "(test)", env={})
    assert "desk.country" in str(raised.value) and "ISO 3166" in str(raised.value)
