"""How record values become what SendGrid stores: text, numbers and dates, one rule for every field.

The SDK's reader gives every JSON fraction as a ``Decimal``; values keep their worth end to
end: ``12345.0`` is the text ``12345``, ``1e5`` is ``100000``, ``99.50`` is ``99.5``, booleans
are ``true``/``false``, and objects and arrays are compact JSON.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from target_sendgrid.sendgrid.limits import MAX_TEXT_VALUE

# Compact JSON for objects and arrays, numbers written with the digits they came with.
_encode_json = msgspec.json.Encoder(decimal_format="number", enc_hook=str).encode


class Unconvertible(ValueError):
    """A value the field's type cannot take."""


def as_text(value: Any) -> str:
    """The text a person would write for a value (reserved fields and custom Text fields alike)."""
    if type(value) is str:
        return value.strip()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (float, Decimal)):
        return number_text(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (dict, list, tuple)):
        return _encode_json(value).decode()
    return str(value).strip()


def number_text(value: float | Decimal) -> str:
    """A number as plain digits: no exponent, no trailing zeros, integers without a fraction."""
    number = value if isinstance(value, Decimal) else Decimal(repr(value))
    if not number.is_finite():
        return str(value)
    if number == number.to_integral_value():
        return str(int(number))
    return format(number.normalize(), "f")


def convert(value: Any, field_type: str) -> tuple[Any, bool]:
    """The value as the field's type takes it, and whether it was truncated; raise Unconvertible."""
    if field_type == "Number":
        return _number(value), False
    if field_type == "Date":
        return _date(value), False
    text = as_text(value)
    if len(text) > MAX_TEXT_VALUE:
        return text[:MAX_TEXT_VALUE], True
    return text, False


def parse_number(value: Any) -> Decimal:
    """A value's number, digits kept: a JSON number, or numeric text (``"12.50"``, ``" 7 "``, ``"1e3"``).

    Raise Unconvertible for anything else: booleans, text that is not a number (``"1,234.50"``:
    a comma may be a decimal or a thousands separator), and infinities or NaN.
    """
    if isinstance(value, bool):
        raise Unconvertible(f"{_kind(value)} is not a number")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, (int, float)):
        number = Decimal(value) if isinstance(value, int) else Decimal(repr(value))
    else:
        try:
            number = Decimal(str(value).strip())
        except (InvalidOperation, ValueError):
            raise Unconvertible(f"{_kind(value)} is not a number") from None
    if not number.is_finite():
        raise Unconvertible(f"{_kind(value)} is not a finite number")
    return number


def _number(value: Any) -> int | float | Decimal:
    """A Number field's value to send: the record's own number, or numeric text as an int or a float."""
    number = parse_number(value)
    if not isinstance(value, str):
        return value if isinstance(value, (int, Decimal)) else float(value)
    if number == number.to_integral_value() and "." not in value and "e" not in value.lower():
        return int(number)
    return float(number)


# What a Date takes (the README lists it): an ISO-8601 date or date-time in the extended form,
# or epoch seconds or milliseconds, as a number or as numeric text. Nothing else is guessed.
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$")
_NUMERIC = re.compile(r"^-?\d+(?:\.\d+)?$")
_SLASHED = re.compile(r"^\d{1,4}[/.]\d{1,2}[/.]\d{1,4}$")


def _date(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return _epoch(value)
    if isinstance(value, str):
        text = value.strip()
        if _NUMERIC.match(text):
            return _epoch(Decimal(text), value)
        if _SLASHED.match(text):
            raise Unconvertible(f"{_kind(value)} is a date with slashes: day and month order is ambiguous")
        if not _ISO_DATE.match(text):
            raise Unconvertible(f"{_kind(value)} is not an ISO-8601 date")
        try:
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise Unconvertible(f"{_kind(value)} is not a valid ISO-8601 date") from None
        # A bare date stays a date; a date-time keeps its time and offset.
        return text if len(text) == 10 else parsed.isoformat().replace("+00:00", "Z")
    raise Unconvertible(f"{_kind(value)} is not a date")


def _epoch(value: int | float | Decimal, given: Any = None) -> str:
    """Epoch seconds or milliseconds as an ISO date-time; an 8-digit date key (YYYYMMDD) is refused, never guessed.

    ``given`` is the value as the record held it (numeric text), to name its kind.
    """
    given = value if given is None else given
    if value == int(value) and 19_000_101 <= value <= 21_001_231:
        try:
            dt.datetime.strptime(str(int(value)), "%Y%m%d")
        except ValueError:
            pass
        else:
            raise Unconvertible(f"{_kind(given)} is ambiguous: a date key (YYYYMMDD) or epoch seconds in 1970")
    number = float(value)
    seconds = number / 1000 if abs(number) > 1e11 else number  # epoch milliseconds or seconds
    try:
        return dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc).isoformat().replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        raise Unconvertible(f"{_kind(given)} is not an epoch time") from None


def _kind(value: Any) -> str:
    """A value described without its content (it may be personal data): its type, and its length if text."""
    if isinstance(value, str):
        return f"a text of {len(value)} characters"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, (float, Decimal)):
        return "a number"
    return f"a {type(value).__name__} value"
