"""Turning a record into a SendGrid contact: which property feeds which field, and how."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from target_sendgrid.contacts.custom_fields import CustomField
from target_sendgrid.contacts.values import Unconvertible, as_text, convert
from target_sendgrid.sendgrid.limits import FIELD_LIMITS, MAX_ALTERNATE_EMAILS, MAX_EMAIL_LENGTH

# The reserved fields field_mapping may name.
MAPPABLE_FIELDS = (*FIELD_LIMITS, "alternate_emails")

# Property names tried, in order, when no field_mapping is configured. Compared after
# lower-casing and dropping everything but letters and digits ("E-mail Address" = "emailaddress").
COMMON_NAMES: dict[str, tuple[str, ...]] = {
    "email": ("email", "emailaddress", "email_address", "mail", "primaryemail", "contactemail"),
    "first_name": ("firstname", "givenname", "forename", "fname"),
    "last_name": ("lastname", "surname", "familyname", "lname"),
    "country": ("country", "countryregion", "countrycode", "countryname"),
    "state_province_region": ("stateprovinceregion", "state", "province", "region", "stateprovince"),
    "city": ("city", "town", "locality"),
    "postal_code": ("postalcode", "zip", "zipcode", "postcode"),
    "address_line_1": ("addressline1", "address1", "streetaddress", "street", "address"),
    "address_line_2": ("addressline2", "address2"),
    "phone_number": ("phonenumber", "phone", "mobile", "mobilephone"),
    "external_id": ("externalid",),
}

_EMAIL_RE = re.compile(
    r"^[a-z0-9!#$%&'*+/=?^_`{|}~.-]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$"
)


class Rejected(Exception):
    """A record that cannot become a contact: a reason (for the summary) and a detail."""

    def __init__(self, reason: str, detail: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def normalise_email(value: Any) -> str:
    """Trim and lower-case an address; raise :class:`Rejected` unless SendGrid would take it."""
    email = "" if value is None else str(value).strip().lower()
    if not email:  # null, "" and blanks alike: no value
        raise Rejected("missing email")
    if len(email) > MAX_EMAIL_LENGTH or not _EMAIL_RE.match(email):
        raise Rejected("invalid email")
    return email


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def resolve_mapping(configured: Mapping[str, str] | None, properties: Iterable[str]) -> dict[str, str]:
    """SendGrid field -> record property: ``configured`` field by field, every other field by common names.

    A partial ``field_mapping`` overrides only the fields it names: the rest are still matched
    by name, so ``{"first_name": "given"}`` keeps finding ``email``. A property that the
    configuration feeds to one field is not matched by name to another.
    """
    configured = dict(configured or {})
    unknown = sorted(set(configured) - set(MAPPABLE_FIELDS))
    if unknown:
        raise ValueError(
            f"field_mapping names unknown SendGrid fields {unknown}; known fields: {sorted(MAPPABLE_FIELDS)}"
            " (custom fields go in custom_field_mapping)"
        )
    taken = set(configured.values())
    by_key: dict[str, str] = {}
    for prop in properties:
        if prop not in taken:
            by_key[_key(prop)] = prop
    mapping = {}
    for sendgrid_field, names in COMMON_NAMES.items():
        if sendgrid_field in configured:
            continue
        found = next((by_key[n] for n in (_key(sendgrid_field), *names) if n in by_key), None)
        if found is not None:
            mapping[sendgrid_field] = found
    return {**mapping, **configured}


class ContactMapper:
    """Builds contacts from records of one stream with a resolved mapping."""

    def __init__(self, mapping: dict[str, str], custom_fields: list[CustomField] | None = None) -> None:
        self.mapping = mapping
        self.custom_fields = custom_fields or []
        self._email = mapping.get("email", "")
        # (field, property, limit) of the text fields, resolved once: build() runs per record.
        self._text_fields = [
            (f, p, FIELD_LIMITS[f]) for f, p in mapping.items() if f not in ("email", "alternate_emails")
        ]
        self._alternates = mapping.get("alternate_emails")

    def build(self, record: Mapping[str, Any]) -> tuple[dict[str, Any], int, list[tuple[str, str]]]:
        """The contact for a record, the values truncated, and each custom value dropped (field, why).

        Raises Rejected when there is no valid email. A record with one is exported, without the
        custom values that could not be converted.
        """
        contact: dict[str, Any] = {"email": normalise_email(record.get(self._email))}
        truncated = 0
        for sendgrid_field, prop, limit in self._text_fields:
            value = record.get(prop)
            if value is None:
                continue  # an absent value leaves SendGrid's unchanged
            text = value.strip() if type(value) is str else as_text(value)
            if not text:
                continue  # "" and blanks are no value too, like null (docs/contract.md, "No value")
            if limit is not None and len(text) > limit:
                text = text[:limit]
                truncated += 1
            contact[sendgrid_field] = text
        alternates = record.get(self._alternates) if self._alternates is not None else None
        if alternates is not None and not (type(alternates) is str and not alternates.strip()):
            contact["alternate_emails"] = self._alternate_emails(alternates, contact["email"])
        dropped: list[tuple[str, str]] = []
        if self.custom_fields:
            custom: dict[str, Any] = {}
            for field in self.custom_fields:
                value = record.get(field.prop)
                if value is None or (type(value) is str and not value.strip()):
                    continue  # no value: SendGrid's is left alone, whatever the field's type
                try:
                    custom[field.id], cut = convert(value, field.field_type)
                except Unconvertible as exc:
                    dropped.append((field.name, str(exc)))
                    continue
                truncated += cut
            if custom:
                contact["custom_fields"] = custom
        return contact, truncated, dropped

    @staticmethod
    def _alternate_emails(value: Any, primary: str) -> list[str]:
        items = value if isinstance(value, list) else re.split(r"[,;\s]+", str(value))
        kept: list[str] = []
        for item in items:
            try:
                email = normalise_email(item)
            except Rejected:
                continue  # one bad alternate address should not cost the contact
            if email != primary and email not in kept:
                kept.append(email)
        return kept[:MAX_ALTERNATE_EMAILS]
