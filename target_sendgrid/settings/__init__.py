"""The target's settings: declared once (``schema``), read into one typed object (``model``), checked (``checks``)."""

from target_sendgrid.settings.checks import check, explain, unknown_settings, unknown_variables, unused
from target_sendgrid.settings.model import Settings, schema_default
from target_sendgrid.settings.schema import CONFIG_SCHEMA

__all__ = [
    "CONFIG_SCHEMA",
    "Settings",
    "check",
    "explain",
    "schema_default",
    "unknown_settings",
    "unknown_variables",
    "unused",
]
