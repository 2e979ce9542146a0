"""Custom fields by name: resolved to SendGrid's opaque ids, created when asked, values converted.

Upserts key custom values by id (``e1_N``) and silently fail a job on a wrongly typed
value, so users write names and this module does the rest.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from target_sendgrid.client import SendGridClient
from target_sendgrid.limits import CUSTOM_FIELD_NAME, MAX_TEXT_VALUE, RESERVED_NAMES

logger = logging.getLogger("target-sendgrid.customfields")


class Unconvertible(ValueError):
    """A value the field's type cannot take."""


@dataclass(frozen=True)
class CustomField:
    """One mapped custom field: SendGrid id and type, and the record property that feeds it."""

    id: str
    name: str
    field_type: str
    prop: str


def name_errors(names: list[str]) -> list[str]:
    """SendGrid's rules for custom field names, checked before anything is sent."""
    errors = []
    for name in names:
        if not CUSTOM_FIELD_NAME.match(name):
            errors.append(f"custom field name {name!r}: 1-100 letters, digits or _, starting with a letter or _")
        elif name.lower() in RESERVED_NAMES:
            errors.append(f"custom field name {name!r} is a reserved field: map it in field_mapping instead")
    lowered = [n.lower() for n in names]
    twice = sorted({n for n in lowered if lowered.count(n) > 1})
    errors += [f"custom field name {n!r} appears twice (names are case-insensitive)" for n in twice]
    return errors


def infer_type(prop_schema: Mapping[str, Any]) -> str:
    """Number for numbers, Date for date and date-time strings, Text for anything else."""
    types = prop_schema.get("type", [])
    types = {types} if isinstance(types, str) else set(types)
    types.discard("null")
    if types and types <= {"number", "integer"}:
        return "Number"
    if prop_schema.get("format") in ("date", "date-time"):
        return "Date"
    return "Text"


class CustomFieldRegistry:
    """The account's custom fields by lower-cased name, and the configured mapping."""

    def __init__(
        self, mapping: Mapping[str, str], definitions: list[dict], client: SendGridClient | None, create: bool
    ) -> None:
        self.mapping = dict(mapping)
        self.client = client  # None: dry run, nothing is created
        self.create = create
        self.by_name = {d["name"].lower(): d for d in definitions}

    def missing(self) -> list[str]:
        """Mapped names the account does not have."""
        return [n for n in self.mapping if n.lower() not in self.by_name]

    def account_fields(self) -> str:
        """The account's custom fields, for error messages."""
        return ", ".join(f"{d['name']} ({d['field_type']})" for d in self.by_name.values()) or "none"

    def for_stream(self, properties: Mapping[str, Any]) -> list[CustomField]:
        """The custom fields a stream with these properties feeds, creating missing ones if allowed."""
        fields = []
        for name, prop in self.mapping.items():
            if prop not in properties:
                continue
            definition = self.by_name.get(name.lower())
            if definition is None:
                definition = self._create(name, infer_type(properties[prop]))
            fields.append(CustomField(definition["id"], definition["name"], definition["field_type"], prop))
        return fields

    def _create(self, name: str, field_type: str) -> dict:
        if self.client is None:  # a dry run: pretend, so the values are still converted and counted
            definition = {"id": name, "name": name, "field_type": field_type}
        else:
            definition = self.client.create_custom_field(name, field_type)
            logger.info("Created custom field %s (%s) as %s", name, field_type, definition["id"])
        self.by_name[name.lower()] = definition
        return definition


def convert(value: Any, field_type: str) -> tuple[Any, bool]:
    """The value as the field's type takes it, and whether it was truncated; raise Unconvertible."""
    if field_type == "Number":
        return _number(value), False
    if field_type == "Date":
        return _date(value), False
    # Booleans, arrays and objects become compact JSON: SendGrid's Text takes only strings.
    if isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, separators=(",", ":"), default=str, ensure_ascii=False)
    if len(text) > MAX_TEXT_VALUE:
        return text[:MAX_TEXT_VALUE], True
    return text, False


def _number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise Unconvertible(f"{value!r} is not a number")
    if isinstance(value, (int, float)):
        number = value
    else:
        try:
            number = float(str(value).strip())
        except ValueError:
            raise Unconvertible(f"{value!r} is not a number") from None
        if number.is_integer() and "." not in str(value) and "e" not in str(value).lower():
            number = int(number)
    if isinstance(number, float) and not math.isfinite(number):
        raise Unconvertible(f"{value!r} is not a finite number")
    return number


def _date(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = value / 1000 if abs(value) > 1e11 else value  # epoch milliseconds or seconds
        try:
            return dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc).isoformat().replace("+00:00", "Z")
        except (OverflowError, OSError, ValueError):
            raise Unconvertible(f"{value!r} is not an epoch time") from None
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise Unconvertible(f"{value!r} is not an ISO-8601 date") from None
        # A bare date stays a date; a date-time keeps its time and offset.
        return text if len(text) == 10 else parsed.isoformat().replace("+00:00", "Z")
    raise Unconvertible(f"{value!r} is not a date")
