"""Wording helpers for the template generator: nouns, plurals, phrases, SQL literals."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from ..schema import friendly_type

__all__ = [
    "ADJECTIVES",
    "LOCATION_WORDS",
    "MONEY_WORDS",
    "MONTHS",
    "NAMES",
    "THE_PLACES",
    "USED_WORDS",
    "adjective",
    "as_date",
    "flag_word",
    "ident",
    "kind",
    "literal",
    "place",
    "plural",
    "round_nice",
    "singular",
    "words",
]

MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
NAMES = {"os": "operating system", "qty": "quantity", "ts": "timestamp", "dt": "date"}
MONEY_WORDS = ("revenue", "amount", "sales", "price", "cost", "spend", "income", "profit")
THE_PLACES = ("United ", "Netherlands", "Philippines", "Czech Republic", "Bahamas", "Gambia")
LOCATION_WORDS = ("country", "city", "region", "state", "market", "continent")
USED_WORDS = ("browser", "os", "platform", "device", "app", "channel", "source")
ADJECTIVES = {"fraud": "fraudulent", "active": "active", "deleted": "deleted", "paid": "paid"}


def words(name: str) -> str:
    return NAMES.get(name.lower(), name.replace("_", " ").strip())


def place(value: Any) -> str:
    text = str(value)
    return "the " + text if text.startswith(THE_PLACES) else text


def singular(noun: str) -> str:
    if noun.endswith("ies"):
        return noun[:-3] + "y"
    if noun.endswith("ses") and not noun.endswith("sses"):
        return noun[:-1]
    return noun[:-1] if noun.endswith("s") and not noun.endswith("ss") else noun


def plural(noun: str) -> str:
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun if noun.endswith("s") else noun + "s"


def literal(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def kind(type_name: str) -> str:
    return friendly_type(type_name)


def flag_word(column: str) -> str:
    stem = re.sub(r"^(is|has)_", "", column)
    return words(stem)


def adjective(column: str) -> str:
    word = flag_word(column)
    return ADJECTIVES.get(word, word)


def as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def ident(text: str) -> str:
    return re.sub(r"\W+", "_", text.strip().lower()).strip("_") or "value"


def round_nice(value: float) -> int:
    if value < 10:
        return int(value)
    magnitude = 10 ** (len(str(int(value))) - 1)
    return int(round(value / magnitude) * magnitude)
