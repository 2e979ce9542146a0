"""The rules that need only the settings: each refusal says how to fix it, before anything is read or sent."""

from __future__ import annotations

from singer_sdk.exceptions import ConfigValidationError

from target_sendgrid.contacts.custom_fields import name_errors
from target_sendgrid.contacts.mapping import resolve_mapping
from target_sendgrid.sendgrid.urls import check_url
from target_sendgrid.settings.model import Settings


def check(settings: Settings) -> None:
    """Refuse settings that cannot work together (the schema already checked each one's kind)."""
    if settings.data_privacy_consent is not True:
        raise ConfigValidationError(
            "data_privacy_consent is not true",
            errors=[
                "Exporting sends personal data (emails, names, addresses) outside your warehouse's compliance "
                "boundary, to SendGrid. Confirm that this is allowed by setting data_privacy_consent: true."
            ],
        )
    if settings.list_id and settings.list_name:
        raise ConfigValidationError(
            "list_id and list_name are both set", errors=["Set list_id or list_name, not both."]
        )
    if not settings.has_list and not settings.allow_no_list:
        raise ConfigValidationError(
            "no list configured",
            errors=[
                "No list is configured: set list_id, list_name or segment_lists, or set allow_no_list: true "
                "to upsert contacts into no list (they appear only in All Contacts)."
            ],
        )
    if settings.mirror and not settings.has_list:
        raise ConfigValidationError(
            "mirror needs a list", errors=["sync_mode mirror needs list_id, list_name or segment_lists."]
        )
    try:
        check_url(settings.api_url)
        resolve_mapping(settings.field_mapping, ())
    except ValueError as exc:
        raise ConfigValidationError(str(exc), errors=[str(exc)]) from None
    names = list(settings.custom_field_mapping)
    if settings.mirror:  # the stamp is a custom field of its own
        names.append(settings.mirror_version_field)
    if errors := name_errors(names):
        raise ConfigValidationError("custom_field_mapping has invalid names", errors=errors)
