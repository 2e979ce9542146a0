"""A value as SendGrid stores it: the one rule that compares what is sent with what is read back.

``skip_unchanged`` compares a contact about to be sent with SendGrid's export of the list, and
mirror mode reads each member's table-version stamp from the same export. Both sides go through
:func:`stored`, and the numbers in it are parsed by :func:`~target_sendgrid.contacts.values.parse_number`,
the function that converts a record's value to a Number field's value before it is sent. What
SendGrid keeps (docs/sendgrid-api.md, "Custom fields" and "Contacts exports"): text trimmed, an empty
value as no value, emails in lower case, Number fields as numbers (an export may write ``12.5`` or,
in a CSV, the text ``"12.5"``), Date fields as days (the UI and CSV exports write ``MM/DD/YYYY``),
alternate emails as a set.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable
from decimal import Decimal
from typing import Any

from target_sendgrid.contacts.values import Unconvertible, as_text, parse_number

# The kinds of value a comparison knows: a custom field's type, or one of these reserved fields.
RESERVED_KINDS = {"email": "email", "alternate_emails": "alternate_emails"}


def kind_of(field: str) -> str:
    """The comparison kind of a reserved field (any field not named here holds text)."""
    return RESERVED_KINDS.get(field, "Text")


def stored(kind: str, value: Any) -> Hashable | None:
    """The value SendGrid holds for ``value`` in a field of ``kind`` (Text, Number, Date, email,
    alternate_emails); None for no value. Equal results mean SendGrid would hold the same."""
    if value is None or value == "" or value == []:
        return None
    if kind == "Number":
        number = stored_number(value)
        try:
            return number.normalize() if number is not None else (as_text(value) or None)
        except ArithmeticError:  # past what a Decimal holds (1e999999999): compared as its text
            return as_text(value)
    if kind == "Date":
        text = as_text(value)
        return stored_day(text) or text or None
    if kind == "alternate_emails":
        items = value if isinstance(value, list) else str(value).split(",")
        return tuple(sorted({as_text(i).lower() for i in items if as_text(i)})) or None
    text = as_text(value)
    if kind == "email":
        text = text.lower()
    return text or None


def stored_number(value: Any) -> Decimal | None:
    """A Number field's value (a JSON number, or numeric text as a CSV export writes it); None if not a number.

    No value (None, empty text) is not a number to ``parse_number`` either: it needs no case of its own.
    """
    try:
        return parse_number(value)
    except Unconvertible:
        return None


def stored_day(text: str) -> str | None:
    """A Date field's day as YYYY-MM-DD, from ISO-8601 or MM/DD/YYYY; None if it is neither."""
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).date().isoformat()
    except ValueError:
        pass
    try:
        return dt.datetime.strptime(text, "%m/%d/%Y").date().isoformat()
    except ValueError:
        return None
