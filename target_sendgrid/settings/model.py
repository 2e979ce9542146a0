"""The settings as one typed, frozen object, built once from the validated config.

Every component takes a :class:`Settings`, never the config dict: a setting's kind is fixed
here (a number the SDK parsed as a ``Decimal`` becomes a ``float``), and its default is the
one the schema declares, read in :func:`schema_default` and nowhere else. Where a component has a
default of its own for a setting (``Transport``'s ``max_retries``), the schema and the component
name the same constant, declared once beside the code it governs (``DEFAULT_MAX_RETRIES``).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from target_sendgrid.settings.schema import CONFIG_SCHEMA


def schema_default(name: str) -> Any:
    """The default the schema declares for a setting (None when it declares none)."""
    return CONFIG_SCHEMA["properties"][name].get("default")


@dataclasses.dataclass(frozen=True)
class Settings:
    """The target's own settings, each of its declared kind (see ``schema`` for what each means)."""

    api_key: str = dataclasses.field(repr=False)  # never in a log line
    api_url: str
    list_id: str | None
    list_name: str | None
    field_mapping: Mapping[str, str] | None
    custom_field_mapping: Mapping[str, Any]  # name -> property, or {"property", "type"}
    create_custom_fields: bool
    segments: tuple[str, ...]
    segment_property: str
    segment_lists: Mapping[str, str]
    sync_mode: str
    mirror_version_field: str
    mirror_close_at_end_of_input: bool
    skip_unchanged: bool
    skip_unchanged_timeout_seconds: float
    remove_non_members: bool
    mirror_max_removal_fraction: float
    hard_delete: bool
    deleted_records: str
    max_contact_deletions: int
    batch_size: int
    max_request_bytes: int
    max_contacts: int
    data_privacy_consent: bool
    allow_no_list: bool
    rejected_records_path: str | None
    max_download_bytes: int
    fail_on_empty_export: bool
    dry_run: bool
    plan: bool
    plan_path: str | None
    max_retries: int
    request_timeout_seconds: float
    job_timeout_seconds: float
    max_job_attempts: int
    max_jobs_in_flight: int
    progress_interval_seconds: float
    shutdown_timeout_seconds: float

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        """The settings of a validated config: each value as its kind, a missing one as the schema's default."""
        hints = typing.get_type_hints(cls)
        values = {}
        for field in dataclasses.fields(cls):
            value = config.get(field.name)
            if field.name == "api_key" and isinstance(value, str):
                value = value.strip()  # a key never holds blanks: one pasted with a newline must not be sent so
            values[field.name] = _as_kind(hints[field.name], schema_default(field.name) if value is None else value)
        return cls(**values)

    @property
    def mirror(self) -> bool:
        """Whether the run mirrors its lists (``sync_mode: mirror``)."""
        return self.sync_mode == "mirror"

    @property
    def routed_segments(self) -> dict[str, str]:
        """The ``segment_lists`` entries of selected segments: an entry of a segment that ``segments`` does
        not select would get no contact, so its list is no target of the run (and a warning says so)."""
        if not self.segments:
            return dict(self.segment_lists)
        selected = {s.strip().casefold() for s in self.segments}
        return {k: v for k, v in self.segment_lists.items() if k.strip().casefold() in selected}

    @property
    def has_list(self) -> bool:
        """Whether any target list is configured."""
        return bool(self.list_id or self.list_name or self.segment_lists)


def _as_kind(kind: Any, value: Any) -> Any:
    """``value`` as the kind a field is annotated with (None stays None for optional fields)."""
    if value is None:
        if kind in (bool,):
            return False
        if typing.get_origin(kind) is tuple:
            return ()
        if kind in (Mapping[str, str], Mapping[str, Any]):
            return {}
        return None
    if kind is bool:
        return bool(value)
    if kind is int:
        return int(value)
    if kind is float:
        return float(value) if isinstance(value, (int, float, Decimal)) else value
    if typing.get_origin(kind) is tuple:
        return tuple(value)
    if kind in (Mapping[str, str], Mapping[str, str] | None, Mapping[str, Any]):
        return dict(value)
    return value
