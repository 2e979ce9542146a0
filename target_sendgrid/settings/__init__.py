"""The target's settings: declared once, as the fields of one typed object (``model``, made with
``declaration``), the config schema generated from them (``schema``), checked (``checks``)."""

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
