"""Problem-report detector for guarded public channels (German, English, Russian).

A message posted in a guarded channel is scored against weighted regular-expression
rules: positive rules for problem phrases ("funktioniert nicht", "can't log in",
"не работает", HTTP error codes, "down", ...) and for the things a support desk looks
after (portal, login, upload, ...), negative rules for talk that looks similar but is
not a problem report (resolution, planned maintenance, "no problem", facilities,
code review, hypotheticals, how-to questions). The message is a problem report when
the summed weight of the matching rules reaches ``threshold``.

The default rules live in ``bot/privacy/patterns/<lang>.yaml`` (package data);
``common.yaml`` holds the rules that apply to every language (HTTP status codes,
"Internal Server Error", ...). A desk adds its own patterns with ``extra`` (one match
flags the message) and ``exclude`` (one match clears it).

Privacy: :class:`Detection` carries rule *names* only. Nothing of the message text
ends up in it, so a detection can be logged.

Matching works on a normalised text: German umlauts and ß are transliterated
(ä→ae, ö→oe, ü→ue, ß→ss), ё→е, typographic apostrophes → ``'``. Patterns (defaults
and config) get the same transliteration, so "lädt" in a pattern matches both
"lädt" and "laedt"; write no umlaut inside a ``[...]`` character class.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

__all__ = ["LANGUAGES", "Detection", "ProblemDetector", "detect_language"]

LANGUAGES: tuple[str, ...] = ("de", "en", "ru")
"""Languages that have default pattern files."""

ALL_LANGUAGES = "*"
"""Key in ``extra``/``exclude`` for patterns that apply to every language."""

DEFAULT_THRESHOLD = 1.0
MAX_CHARS = 5000
"""Only the first ``MAX_CHARS`` characters of a message are looked at."""

_ESCAPE_RE = re.compile(r"\\.")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_TRANSLIT = str.maketrans(
    {
        "ä": "ae",
        "ö": "oe",
        "ü": "ue",
        "Ä": "Ae",
        "Ö": "Oe",
        "Ü": "Ue",
        "ß": "ss",
        "ẞ": "SS",
        "ё": "е",
        "Ё": "Е",
        "\u2019": "'",
        "\u2018": "'",
        "\u02bc": "'",
        "`": "'",
        "\u00b4": "'",
    }
)
_CYRILLIC_RE = re.compile(r"[\u0400-\u04ff]")
_CYRILLIC_WORD_RE = re.compile(r"(?<!\w)[\u0400-\u04ff]")
_WORD_RE = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_GERMAN_CHARS_RE = re.compile(r"[äöüß]")


def _normalise(text: str) -> str:
    return text.translate(_TRANSLIT)


def _regex(source: str) -> re.Pattern[str]:
    """Compile a (normalised) pattern for matching against lower-cased text.

    Messages are lower-cased once before matching, so a pattern written in lower case
    needs no IGNORECASE, which makes matching about twice as fast. A pattern with an
    upper-case literal (e.g. from config) gets IGNORECASE.
    """
    has_upper = any(ch.isupper() for ch in _ESCAPE_RE.sub("", source))
    return re.compile(source, re.IGNORECASE if has_upper else 0)


@dataclass(frozen=True, slots=True)
class Detection:
    """Result of :meth:`ProblemDetector.detect`.

    ``reasons`` names the rules that matched (``"de.not_working"``, ``"common.http_status"``,
    ``"extra.de.0"``, ``"de.resolved"`` ...) in rule order; negative rules appear only when
    they were evaluated, i.e. when the positive score reached the threshold. It never
    contains any part of the message. ``score`` is the summed weight of those rules.
    """

    is_problem: bool
    score: float
    language: str | None
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Rule:
    name: str
    weight: float
    regex: re.Pattern[str]
    veto: bool = False


def _compile(name: str, patterns: Iterable[str], where: str) -> re.Pattern[str]:
    parts: list[str] = []
    for i, pattern in enumerate(patterns):
        if not isinstance(pattern, str) or not pattern.strip():
            raise ValueError(f"{where}: pattern {i} of rule {name!r} must be a non-empty string")
        source = _normalise(pattern)
        try:
            _regex(source)
        except re.error as exc:
            raise ValueError(f"{where}: invalid regular expression in rule {name!r}: {pattern!r} ({exc})") from exc
        parts.append(f"(?:{source})")
    if not parts:
        raise ValueError(f"{where}: rule {name!r} has no patterns")
    return _regex("|".join(parts))


@cache
def _load_default_file(stem: str) -> dict[str, Any]:
    """The shipped rules, read once per process (every config load builds a detector)."""
    resource = resources.files("bot.privacy").joinpath("patterns", f"{stem}.yaml")
    data = yaml.load(resource.read_text(encoding="utf-8"), Loader=_YAML_LOADER) or {}
    if not isinstance(data, dict):
        raise ValueError(f"patterns/{stem}.yaml: expected a mapping at top level")
    return data


def _rules_from_data(prefix: str, data: Mapping[str, Any], where: str) -> list[_Rule]:
    rules: list[_Rule] = []
    seen: set[str] = set()
    for entry in data.get("rules") or []:
        if not isinstance(entry, Mapping):
            raise ValueError(f"{where}: every rule must be a mapping with name, weight, patterns")
        name = entry.get("name")
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise ValueError(f"{where}: bad rule name {name!r} (lowercase letters, digits, _)")
        if name in seen:
            raise ValueError(f"{where}: duplicate rule name {name!r}")
        seen.add(name)
        weight = entry.get("weight")
        if not isinstance(weight, int | float) or isinstance(weight, bool):
            raise ValueError(f"{where}: rule {name!r} needs a numeric weight")
        patterns = entry.get("patterns")
        if isinstance(patterns, str):
            patterns = [patterns]
        if not isinstance(patterns, list):
            raise ValueError(f"{where}: rule {name!r} needs a list of patterns")
        rules.append(_Rule(f"{prefix}.{name}", float(weight), _compile(name, patterns, where)))
    return rules


def _config_rules(
    kind: str, config: Mapping[str, Iterable[str]] | None, weight: float, veto: bool
) -> dict[str, list[_Rule]]:
    out: dict[str, list[_Rule]] = {}
    if not config:
        return out
    if not isinstance(config, Mapping):
        raise ValueError(
            f"{kind}: expected a table of pattern lists per language, e.g. {{de = ['...']}}, "
            f"got {type(config).__name__}"
        )
    for lang, patterns in config.items():
        if lang != ALL_LANGUAGES and lang not in LANGUAGES:
            raise ValueError(
                f"{kind}: unknown language {lang!r}; use one of {', '.join(LANGUAGES)} or {ALL_LANGUAGES!r}"
            )
        if not isinstance(patterns, list | tuple):
            raise ValueError(f"{kind}[{lang!r}]: expected a list of patterns, got {type(patterns).__name__}")
        rules = out.setdefault(lang, [])
        tag = "all" if lang == ALL_LANGUAGES else lang
        for i, pattern in enumerate(patterns):
            name = f"{kind}.{tag}.{i}"
            if not isinstance(pattern, str) or not pattern.strip():
                raise ValueError(f"{kind}[{lang!r}][{i}]: pattern must be a non-empty string")
            source = _normalise(pattern)
            try:
                regex = _regex(source)
            except re.error as exc:
                raise ValueError(f"{kind}[{lang!r}][{i}]: invalid regular expression {pattern!r}: {exc}") from exc
            rules.append(_Rule(name, weight, regex, veto))
    return out


class _LanguageGuesser:
    """Script-based guess: Cyrillic → ru; German function words or umlauts → de; else en."""

    def __init__(self, de_words: Iterable[str], en_words: Iterable[str]) -> None:
        self._de = frozenset(w.lower() for w in de_words)
        self._en = frozenset(w.lower() for w in en_words) - self._de

    def __call__(self, lowered: str) -> str | None:
        """``lowered``: the message in lower case."""
        return self.candidates(lowered)[0]

    def candidates(self, lowered: str) -> tuple[str | None, ...]:
        """The guessed language first; ``("en", "de")`` when a Latin-script message
        has as much English as German evidence (often none: "Passwort weg", "Login
        kaputt"), so that the caller can try both."""
        words = _WORD_RE.findall(lowered)
        if not words:
            return (None,)
        if _CYRILLIC_RE.search(lowered):
            cyrillic = len(_CYRILLIC_WORD_RE.findall(lowered))
            # Russian chat is full of English tech words ("сайт выдает Service Unavailable"):
            # a message is Russian when at least a third of its words are Cyrillic.
            if 3 * cyrillic >= len(words):
                return ("ru",)
        unique = set(words)
        de = len(unique & self._de) + (1 if _GERMAN_CHARS_RE.search(lowered) else 0)
        en = len(unique & self._en)
        if de == en:
            return ("en", "de")
        return ("de",) if de > en else ("en",)


_DEFAULT_GUESSER: _LanguageGuesser | None = None


def _default_guesser() -> _LanguageGuesser:
    global _DEFAULT_GUESSER
    if _DEFAULT_GUESSER is None:
        _DEFAULT_GUESSER = _LanguageGuesser(
            str(_load_default_file("de").get("language_words") or "").split(),
            str(_load_default_file("en").get("language_words") or "").split(),
        )
    return _DEFAULT_GUESSER


def detect_language(text: str) -> str | None:
    """``"ru"``, ``"de"`` or ``"en"`` for a message, ``None`` when it has no letters."""
    return _default_guesser()(text[:MAX_CHARS].lower())


class ProblemDetector:
    """Scores chat messages; see the module docstring.

    :param extra: additional patterns per language (``"de"``, ``"en"``, ``"ru"`` or ``"*"``
        for all); each match adds ``threshold`` to the score, so one match flags the
        message unless a negative rule matches too. Reported as ``extra.<lang>.<index>``.
    :param exclude: patterns per language whose match clears the message
        (``is_problem=False`` whatever the score). Reported as ``exclude.<lang>.<index>``.
    :param disable_defaults: use only ``extra``/``exclude``, none of the shipped rules.
    :param threshold: the score at which a message counts as a problem report (> 0).
    :param language: force one language instead of guessing it per message.
    :raises ValueError: for an invalid pattern (the message names the pattern), an
        unknown language key or a non-positive threshold.
    """

    def __init__(
        self,
        extra: Mapping[str, Iterable[str]] | None = None,
        *,
        exclude: Mapping[str, Iterable[str]] | None = None,
        disable_defaults: bool = False,
        threshold: float = DEFAULT_THRESHOLD,
        language: str | None = None,
    ) -> None:
        if not isinstance(threshold, int | float) or isinstance(threshold, bool) or threshold <= 0:
            raise ValueError(f"threshold must be a positive number, got {threshold!r}")
        if language is not None and language not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, got {language!r}")
        self.threshold = float(threshold)
        self._forced_language = language
        self._guess = _default_guesser()
        self._rules: dict[str, tuple[_Rule, ...]] = {}
        self._positive: dict[str | None, tuple[_Rule, ...]] = {}
        self._negative: dict[str | None, tuple[_Rule, ...]] = {}
        defaults: dict[str, list[_Rule]] = {lang: [] for lang in LANGUAGES}
        common: list[_Rule] = []
        if not disable_defaults:
            common = _rules_from_data("common", _load_default_file("common"), "patterns/common.yaml")
            for lang in LANGUAGES:
                data = _load_default_file(lang)
                defaults[lang] = _rules_from_data(lang, data, f"patterns/{lang}.yaml") + common
        extras = _config_rules("extra", extra, self.threshold, veto=False)
        excludes = _config_rules("exclude", exclude, 0.0, veto=True)
        for lang in LANGUAGES:
            rules = list(defaults[lang])
            for source in (extras, excludes):
                rules += source.get(lang, []) + source.get(ALL_LANGUAGES, [])
            self._rules[lang] = tuple(rules)
        # A message without letters ("502 😱") gets the language-independent rules.
        no_language = common + extras.get(ALL_LANGUAGES, []) + excludes.get(ALL_LANGUAGES, [])
        for key, language_rules in [*self._rules.items(), (None, tuple(no_language))]:
            self._positive[key] = tuple(r for r in language_rules if r.weight > 0 and not r.veto)
            self._negative[key] = tuple(r for r in language_rules if r.weight <= 0 or r.veto)

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> ProblemDetector:
        """Build from a config mapping with the keys ``extra``, ``exclude``,
        ``disable_defaults``, ``threshold``, ``language`` (all optional)."""
        config = dict(config or {})
        known = {"extra", "exclude", "disable_defaults", "threshold", "language"}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(f"unknown detector setting(s): {', '.join(unknown)}")
        disable_defaults = config.get("disable_defaults", False)
        if not isinstance(disable_defaults, bool):
            raise ValueError(f"disable_defaults must be true or false, got {disable_defaults!r}")
        return cls(
            config.get("extra"),
            exclude=config.get("exclude"),
            disable_defaults=disable_defaults,
            threshold=config.get("threshold", DEFAULT_THRESHOLD),
            language=config.get("language"),
        )

    def rule_names(self, language: str) -> tuple[str, ...]:
        """Names of the rules applied to messages in ``language``."""
        return tuple(rule.name for rule in self._rules[language])

    def detect(self, text: str) -> Detection:
        """Score one message.

        Positive rules are always evaluated. Negative rules (and ``exclude`` patterns)
        can only lower the score or clear the flag, so they are evaluated only when the
        positive score reaches the threshold; ``reasons`` then names them too.

        When a Latin-script message gives no hint whether it is German or English,
        both rule sets are tried and the higher-scoring result is returned (its
        ``language`` says which set that was).
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be str, not {type(text).__name__}")
        lowered = text[:MAX_CHARS].lower()
        normalised = _normalise(lowered)
        if self._forced_language is not None:
            return self._score(normalised, self._forced_language)
        candidates = self._guess.candidates(lowered)
        best = self._score(normalised, candidates[0])
        for language in candidates[1:]:
            other = self._score(normalised, language)
            if other.score > best.score:
                best = other
        return best

    def _score(self, normalised: str, language: str | None) -> Detection:
        score = 0.0
        reasons: list[str] = []
        for rule in self._positive[language]:
            if rule.regex.search(normalised) is not None:
                reasons.append(rule.name)
                score += rule.weight
        if round(score, 3) < self.threshold:
            return Detection(False, round(score, 3), language, tuple(reasons))
        vetoed = False
        for rule in self._negative[language]:
            if rule.regex.search(normalised) is not None:
                reasons.append(rule.name)
                if rule.veto:
                    vetoed = True
                else:
                    score += rule.weight
        score = round(score, 3)
        return Detection(not vetoed and score >= self.threshold, score, language, tuple(reasons))
