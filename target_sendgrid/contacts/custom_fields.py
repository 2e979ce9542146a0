"""Custom fields by name: resolved to SendGrid's opaque ids, created when asked, values converted.

Upserts key custom values by id (``e1_N``) and silently fail a job on a wrongly typed
value, so users write names and this module does the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from target_sendgrid.contacts.creation import Creator
from target_sendgrid.sendgrid.client import FieldDefinition
from target_sendgrid.sendgrid.limits import CUSTOM_FIELD_NAME, RESERVED_NAMES

logger = logging.getLogger(__name__)


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
        self,
        mapping: Mapping[str, str | Mapping[str, str]],
        definitions: list[FieldDefinition],
        creator: Creator | None,
        create: bool,
    ) -> None:
        # custom_field_mapping's entries: a property's name, or {"property", "type"} (the type to create).
        self.mapping = {name: e if isinstance(e, str) else e["property"] for name, e in mapping.items()}
        self.declared = {name: e["type"] for name, e in mapping.items() if not isinstance(e, str) and e.get("type")}
        self.creator = creator  # None: a dry run, nothing is created
        self.create = create
        self.by_name = {d["name"].lower(): d for d in definitions}

    def missing(self) -> list[str]:
        """Mapped names the account does not have."""
        return [n for n in self.mapping if n.lower() not in self.by_name]

    def type_conflicts(self) -> list[str]:
        """A refusal per declared type that the account's field of that name does not have."""
        return [
            f"custom_field_mapping declares {name} as {kind}, but this SendGrid account has it as a "
            f"{self.by_name[name.lower()]['field_type']} field, and SendGrid cannot change a field's type: declare "
            f"{self.by_name[name.lower()]['field_type']}, or map another field name."
            for name, kind in self.declared.items()
            if name.lower() in self.by_name and self.by_name[name.lower()]["field_type"] != kind
        ]

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
                kind = self.declared.get(name) or infer_type(properties[prop])
                definition = self._create(name, kind)
                if name not in self.declared and kind == "Text":
                    logger.warning(
                        "Custom field %s is created as Text, from property '%s' of the stream's schema; SendGrid "
                        "cannot change its type later. To make it a Number or a Date, declare it in "
                        'custom_field_mapping: {"%s": {"property": "%s", "type": "Number"}}',
                        name,
                        prop,
                        name,
                        prop,
                    )
            fields.append(CustomField(definition["id"], definition["name"], definition["field_type"], prop))
        return fields

    def ensure(self, name: str, field_type: str) -> CustomField:
        """A custom field of this type that no record property feeds, created if the account lacks it."""
        definition = self.by_name.get(name.lower()) or self._create(name, field_type)
        if definition["field_type"] != field_type:
            raise ValueError(
                f"custom field {definition['name']!r} is a {definition['field_type']} field; it must be {field_type}"
            )
        return CustomField(definition["id"], definition["name"], field_type, "")

    def _create(self, name: str, field_type: str) -> FieldDefinition:
        if self.creator is None:  # a dry run: pretend, so the values are still converted and counted
            definition = FieldDefinition(id=name, name=name, field_type=field_type)
        else:
            definition = self.creator.create_custom_field(name, field_type)
        self.by_name[name.lower()] = definition
        return definition
