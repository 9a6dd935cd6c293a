"""Public holidays and decreed working days from the ``holidays`` package, cached per year.

The package answers two questions for us: which dates are days off (holidays, and for Russia the
days off that a decree moved, e.g. 2026-01-09), and which weekend dates a decree turned into working
days (``weekend_workdays``, e.g. the Russian working Saturday 2027-02-20). Both are read through its
public API only, so a package upgrade that adds next year's decree is all it takes to follow it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import cache

import holidays


@cache
def _supported() -> dict[str, list[str]]:
    return holidays.list_supported_countries()


def parse_holiday_spec(spec: str) -> tuple[str, str | None]:
    """Split and check ``"DE-BE"`` / ``"RU"``; returns the package's own spelling of both parts."""
    text = spec.strip()
    country, _, subdiv = text.partition("-")
    country = country.upper()
    supported = _supported()
    if country not in supported:
        raise ValueError(
            f"unknown holidays country {country!r} in {spec!r}: use an ISO 3166 code the holidays "
            f'package knows, optionally with a subdivision, e.g. "DE-BE" or "RU"'
        )
    if not subdiv:
        return country, None
    known = supported[country]
    for candidate in (subdiv, subdiv.upper()):
        if candidate in known:
            return country, candidate
    listed = ", ".join(sorted(known)) or "none"
    raise ValueError(
        f"unknown subdivision {subdiv!r} of {country} in {spec!r}: known subdivisions are {listed}; "
        f'e.g. "{country}-{known[0]}"'
        if known
        else f"{country} has no subdivisions in the holidays package; write just {country!r}"
    )


@dataclass
class HolidaySource:
    """Days off and decreed working weekend days for one country[-subdivision]."""

    country: str
    subdiv: str | None = None
    _years: dict[int, tuple[frozenset[date], frozenset[date]]] = field(default_factory=dict, repr=False)
    _names: dict[date, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_spec(cls, spec: str) -> HolidaySource:
        country, subdiv = parse_holiday_spec(spec)
        return cls(country, subdiv)

    @property
    def spec(self) -> str:
        return f"{self.country}-{self.subdiv}" if self.subdiv else self.country

    def _year(self, year: int) -> tuple[frozenset[date], frozenset[date]]:
        cached = self._years.get(year)
        if cached is None:
            # A decree may move a day across the new year (a Saturday of year Y worked for a day off
            # in Y+1), and the package files it under the year being populated, so load neighbours.
            years = range(year - 1, year + 2)
            table = holidays.country_holidays(self.country, subdiv=self.subdiv, years=years)
            days_off = frozenset(d for d in table if d.year == year)
            self._names.update((d, name) for d, name in table.items() if d.year == year)
            workdays = frozenset(d for d in table.weekend_workdays if d.year == year)
            cached = (days_off, workdays)
            self._years[year] = cached
        return cached

    def is_day_off(self, day: date) -> bool:
        return day in self._year(day.year)[0]

    def is_decreed_workday(self, day: date) -> bool:
        """A weekend date that a decree made a working day (Russian working Saturdays)."""
        return day in self._year(day.year)[1]

    def name(self, day: date) -> str | None:
        """The holiday's name as the package gives it (e.g. for a "closed today" notice)."""
        return self._names.get(day) if self.is_day_off(day) else None
