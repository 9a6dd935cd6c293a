"""Tests for the problem-report detector (bot/privacy/detector.py).

Data set: tests/data/problem_reports.jsonl, one JSON object per line:
``{"text": ..., "lang": "de"|"en"|"ru", "problem": true|false, "split": ...}``.

Labelling rule (applied when the data set was written, before the patterns; labels are
never changed to suit the detector):

``problem = true`` when the message reports, or asks whether there is, a *current*
malfunction of something the support desk looks after, affecting the author, a
customer or members: the platform/portal/website and its pages, accounts, login,
passwords and 2FA, e-mail and notifications, uploads/downloads/exports, search,
payments and invoices in the customer account, the apps, VPN, the ticket system,
office IT such as printers. "Is the portal down for anyone else?" is a problem report.

``problem = false`` for everything else, in particular:

- how-to questions without a malfunction ("how do I export a PDF?"): the desk answers
  them, but they are questions, not problem reports, and need no privacy nudge;
- announcements of planned maintenance or deployments, including the downtime they
  announce;
- "it works again", "solved, thanks", incidents described as over ("the outage
  yesterday was caused by ...");
- staff talk about tickets, handovers, rota, vendors;
- bugs discussed as development work (code review, one's own branch, failing tests);
- facilities the desk does not run: coffee machine, elevator, heating, dishwasher,
  microwave, the meeting-room projector/TV;
- hypotheticals ("if the login fails tomorrow, ping me");
- jokes, and the words error/problem/Fehler/ошибка in other senses ("no problem",
  "kein Problem", "без проблем", "error margin", "my mistake").

Splits: ``dev`` was used while writing the rules; ``holdout`` was written together with
``dev`` and first evaluated after the rules were done; ``holdout2`` and ``holdout3``
were written later, in a deliberately different style, each committed before the
detector was run on it (holdout2 then informed a vocabulary round; holdout3 never did).
The assertions run over the whole set; ``pytest -s`` prints every split.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections import Counter
from pathlib import Path

import pytest

from bot.privacy import LANGUAGES, Detection, ProblemDetector, detect_language

DATA = Path(__file__).resolve().parents[1] / "data" / "problem_reports.jsonl"


def _load() -> list[dict]:
    rows = []
    with DATA.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if line.strip():
                row = json.loads(line)
                row["line"] = number
                rows.append(row)
    return rows


ROWS = _load()


@pytest.fixture(scope="module")
def detector() -> ProblemDetector:
    return ProblemDetector()


@pytest.fixture(scope="module")
def results(detector: ProblemDetector) -> list[tuple[dict, Detection]]:
    return [(row, detector.detect(row["text"])) for row in ROWS]


def _metrics(pairs: list[tuple[dict, Detection]]) -> dict[str, float]:
    tp = sum(1 for row, det in pairs if det.is_problem and row["problem"])
    fp = sum(1 for row, det in pairs if det.is_problem and not row["problem"])
    fn = sum(1 for row, det in pairs if not det.is_problem and row["problem"])
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return {"n": len(pairs), "tp": tp, "fp": fp, "fn": fn, "precision": precision, "recall": recall}


def _line(label: str, m: dict[str, float]) -> str:
    return (
        f"  {label:<16} n={m['n']:>3}  precision={m['precision']:.3f}  recall={m['recall']:.3f}"
        f"  (tp={m['tp']}, fp={m['fp']}, fn={m['fn']})"
    )


# ----------------------------------------------------------------------------- data set


def test_data_set_shape() -> None:
    assert all(set(row) >= {"text", "lang", "problem"} for row in ROWS)
    assert all(row["lang"] in LANGUAGES and isinstance(row["problem"], bool) for row in ROWS)
    assert all(isinstance(row["text"], str) and row["text"].strip() for row in ROWS)
    texts = [row["text"] for row in ROWS]
    assert len(texts) == len(set(texts)), "duplicate messages in the data set"
    per_lang = Counter(row["lang"] for row in ROWS)
    assert len(ROWS) >= 240
    assert all(per_lang[lang] >= 80 for lang in LANGUAGES), per_lang
    share = sum(row["problem"] for row in ROWS) / len(ROWS)
    assert 0.35 <= share <= 0.55, share


# ----------------------------------------------------------------------------- quality


def test_precision_and_recall(results: list[tuple[dict, Detection]]) -> None:
    overall = _metrics(results)
    per_lang = {lang: _metrics([p for p in results if p[0]["lang"] == lang]) for lang in LANGUAGES}
    splits = sorted({row.get("split", "-") for row, _ in results})
    per_split = {s: _metrics([p for p in results if p[0].get("split", "-") == s]) for s in splits}
    lang_ok = sum(1 for row, det in results if det.language == row["lang"])

    print("\nproblem-report detector on tests/data/problem_reports.jsonl")
    print(_line("overall", overall))
    for lang, m in per_lang.items():
        print(_line(f"lang={lang}", m))
    for split, m in per_split.items():
        print(_line(f"split={split}", m))
    print(f"  language guess   {lang_ok}/{len(results)} correct")
    for row, det in results:
        if det.is_problem != row["problem"]:
            kind = "FP" if det.is_problem else "FN"
            print(f"  {kind} line {row['line']} [{row['lang']}] score={det.score} reasons={det.reasons}")

    assert overall["precision"] >= 0.9
    assert overall["recall"] >= 0.7
    for lang, m in per_lang.items():
        assert m["precision"] >= 0.85, f"precision for {lang}: {m['precision']:.3f}"
    assert lang_ok / len(results) >= 0.95


# ----------------------------------------------------------------------------- privacy


def test_reasons_are_rule_names_never_message_text(
    detector: ProblemDetector, results: list[tuple[dict, Detection]]
) -> None:
    known = {name for lang in LANGUAGES for name in detector.rule_names(lang)}
    for row, det in results:
        assert set(det.reasons) <= known, det.reasons
        for reason in det.reasons:
            assert re.fullmatch(r"[a-z]+\.[a-z0-9_.]+", reason), reason
            assert row["text"] not in reason


def test_detection_carries_no_message_content() -> None:
    marker = "Zyxqwv-4711-secret"
    texts = [
        f"die seite ist down, {marker}",
        f"can't log in as {marker}, getting error 500",
        f"не могу войти, логин {marker}",
    ]
    detector = ProblemDetector(extra={"*": [r"zyxqwv"]})
    for text in texts:
        det = detector.detect(text)
        assert det.is_problem
        dumped = repr(det) + json.dumps(dataclasses.asdict(det))
        assert marker.lower() not in dumped.lower()
        assert "zyxqwv" not in dumped.lower()


def test_detection_is_frozen(detector: ProblemDetector) -> None:
    det = detector.detect("the site is down")
    with pytest.raises(dataclasses.FrozenInstanceError):
        det.is_problem = False  # type: ignore[misc]


# ----------------------------------------------------------------------------- config


def test_extra_patterns_take_effect() -> None:
    text = "Der Drucker brennt schon wieder 🔥"
    assert not ProblemDetector().detect(text).is_problem
    det = ProblemDetector(extra={"de": [r"\bdrucker\s+brennt\b"]}).detect(text)
    assert det.is_problem
    assert "extra.de.0" in det.reasons
    # a pattern for another language does not apply
    assert not ProblemDetector(extra={"en": [r"\bdrucker\s+brennt\b"]}).detect(text).is_problem
    # "*" applies to every language
    for msg in ("the printer is on fire 🔥", "принтер горит 🔥", "Drucker on fire 🔥"):
        det = ProblemDetector(extra={"*": [r"on\s+fire|горит"]}).detect(msg)
        assert det.is_problem, msg
        assert "extra.all.0" in det.reasons


def test_extra_patterns_are_case_and_umlaut_insensitive() -> None:
    detector = ProblemDetector(extra={"de": [r"\bWahlomat\s+hängt\b"]}, disable_defaults=True)
    for text in ("wahlomat hängt", "WAHLOMAT HAENGT", "Wahlomat haengt"):
        assert detector.detect(text).is_problem, text


def test_exclude_patterns_clear_a_detection() -> None:
    text = "the staging site is down"
    assert ProblemDetector().detect(text).is_problem
    det = ProblemDetector(exclude={"en": [r"\bstaging\b"]}).detect(text)
    assert not det.is_problem
    assert "exclude.en.0" in det.reasons


def test_disable_defaults() -> None:
    bare = ProblemDetector(disable_defaults=True)
    for text in ("the site is down", "Plattform nicht erreichbar", "сайт недоступен"):
        det = bare.detect(text)
        assert (det.is_problem, det.score, det.reasons) == (False, 0.0, ())
    only_extra = ProblemDetector(extra={"en": [r"\bsite\s+is\s+down\b"]}, disable_defaults=True)
    assert only_extra.detect("the site is down").reasons == ("extra.en.0",)
    assert not only_extra.detect("the portal is down").is_problem
    assert bare.rule_names("de") == ()


def test_bad_regex_in_config_names_the_pattern() -> None:
    with pytest.raises(ValueError, match=re.escape("'(unclosed'")) as info:
        ProblemDetector(extra={"de": [r"\bok\b", "(unclosed"]})
    assert "extra['de'][1]" in str(info.value)
    with pytest.raises(ValueError, match=re.escape("'[z-a]'")):
        ProblemDetector(exclude={"*": ["[z-a]"]})


@pytest.mark.parametrize(
    "kwargs",
    [
        {"extra": {"fr": ["panne"]}},
        {"extra": {"de": "kaputt"}},
        {"extra": {"de": [""]}},
        {"extra": {"de": [1]}},
        {"extra": {"de": None}},
        {"extra": ["kaputt"]},
        {"exclude": "kaputt"},
        {"threshold": 0},
        {"threshold": -1.0},
        {"language": "fr"},
    ],
)
def test_invalid_config_raises_value_error(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        ProblemDetector(**kwargs)


def test_from_config() -> None:
    det = ProblemDetector.from_config({"threshold": 1.5, "extra": {"en": ["meltdown"]}})
    assert det.threshold == 1.5
    assert det.detect("total meltdown").is_problem
    with pytest.raises(ValueError, match="treshold"):
        ProblemDetector.from_config({"treshold": 2})
    with pytest.raises(ValueError, match="disable_defaults"):
        ProblemDetector.from_config({"disable_defaults": "no"})
    assert ProblemDetector.from_config(None).detect("the site is down").is_problem


def test_threshold_trades_recall_for_precision(results: list[tuple[dict, Detection]]) -> None:
    strict = ProblemDetector(threshold=2.0)
    loose_hits = sum(det.is_problem for _, det in results)
    strict_hits = sum(strict.detect(row["text"]).is_problem for row, _ in results)
    assert 0 < strict_hits < loose_hits


# ----------------------------------------------------------------------------- behaviour


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the party desk handbook's own examples
        ("Passwort weg", True),
        ("Benachrichtigungen funktionieren nicht", True),
        ("Plattform nicht erreichbar", True),
        # German without function words is tried with the German rules too
        ("Login kaputt", True),
        ("Plattform down", True),
        ("Die Seite lädt ewig, ist bei euch auch alles so langsam?", True),
        ("die seite laedt ewig, ist bei euch auch alles so langsam?", True),
        ("Ich komme nicht mehr ins Portal", True),
        ("Kann mich nicht einloggen", True),
        ("Läuft wieder, danke!", False),
        ("Geplante Wartung am Samstag: Plattform nicht erreichbar", False),
        ("kein Problem", False),
        ("не могу войти в личный кабинет", True),
        ("не можем войти в личный кабинет", True),
        ("не получается войти", True),
        ("всё заработало, спасибо", False),
        ("без проблем", False),
        ("не могу не согласиться", False),
        ("the site is down", True),
        ("is the portal down for anyone else?", True),
        ("no problem!", False),
        ("down for drinks after work?", False),
        ("it works again, thanks!", False),
    ],
)
def test_examples(detector: ProblemDetector, text: str, expected: bool) -> None:
    assert detector.detect(text).is_problem is expected


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("ich komme nicht mehr ins Portal", "de"),
        ("Plattform nicht erreichbar", "de"),
        ("the site is down", "en"),
        ("не могу войти в личный кабинет", "ru"),
        ("сайт выдает Service Unavailable", "ru"),
        ("🔥🔥🔥", None),
        ("", None),
    ],
)
def test_language_guess(detector: ProblemDetector, text: str, language: str | None) -> None:
    assert detect_language(text) == language
    assert detector.detect(text).language == language


def test_forced_language() -> None:
    det = ProblemDetector(language="de").detect("Login geht nicht")
    assert det.language == "de" and det.is_problem


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\t ",
        "🔥",
        "😂😂😂🙈💥",
        "\u200b\u200d\ufeff",
        "\x00\x01 control",
        "a" * 100_000,
        "die seite ist down " * 50_000,
        "не " * 10_000,
        "ß" * 1000 + "ẞ",
        "مرحبا 你好 שלום",
        "502",
    ],
)
def test_odd_input_does_not_crash(detector: ProblemDetector, text: str) -> None:
    started = time.perf_counter()
    det = detector.detect(text)
    assert isinstance(det, Detection)
    assert isinstance(det.score, float)
    assert time.perf_counter() - started < 1.0


def test_empty_and_emoji_only_are_not_problems(detector: ProblemDetector) -> None:
    for text in ("", "   ", "🔥🔥", "👍"):
        det = detector.detect(text)
        assert not det.is_problem and det.reasons == ()


def test_non_str_input_is_a_type_error(detector: ProblemDetector) -> None:
    with pytest.raises(TypeError):
        detector.detect(None)  # type: ignore[arg-type]


def test_speed(detector: ProblemDetector) -> None:
    texts = [row["text"] for row in ROWS]
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        for text in texts:
            detector.detect(text)
        best = min(best, (time.process_time() - started) / len(texts))
    print(f"\n  detect(): {best * 1e6:.1f} µs per message (best of 5 over {len(texts)} messages)")
    assert best < 2e-3  # generous bound: catches a catastrophic pattern, not machine noise
