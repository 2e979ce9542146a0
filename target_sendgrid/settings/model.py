"""The settings as one typed, frozen object, built once from the validated config.

Each setting is declared here once, as a field: its Python type is the annotation, and its
schema (kind, default, description, bounds), written with the SDK's typing helpers, is the
field's :func:`~target_sendgrid.settings.declaration.setting`. The config schema the SDK
validates against is generated from these fields (``schema``), and a setting's default is the
one declared here, read by :func:`schema_default` and nowhere else.

Every component takes a :class:`Settings`, never the config dict: a setting's kind is fixed
here (a number the SDK parsed as a ``Decimal`` becomes a ``float``). Where a component has a
default of its own for a setting (``Transport``'s ``max_retries``), the declaration and the
component name the same constant, declared once beside the code it governs (``DEFAULT_MAX_RETRIES``).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from singer_sdk import typing as th

from target_sendgrid.contacts.mapping import MAPPABLE_FIELDS
from target_sendgrid.sendgrid.export_files import DEFAULT_MAX_DOWNLOAD_BYTES
from target_sendgrid.sendgrid.jobs import (
    DEFAULT_JOB_TIMEOUT_SECONDS,
    DEFAULT_MAX_JOB_ATTEMPTS,
    DEFAULT_MAX_JOBS_IN_FLIGHT,
)
from target_sendgrid.sendgrid.limits import DEFAULT_MAX_REQUEST_BYTES
from target_sendgrid.sendgrid.limits import MAX_CONTACTS_PER_UPSERT as MAX_BATCH_CONTACTS
from target_sendgrid.sendgrid.transport import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT_SECONDS
from target_sendgrid.sendgrid.urls import SENDGRID_API_URL
from target_sendgrid.settings.declaration import declaration, default_of, setting

# The custom field types SendGrid has (docs/sendgrid-api.md, "Custom fields").
CUSTOM_FIELD_TYPES = ("Text", "Number", "Date")
# One entry of custom_field_mapping: a property's name, or the property with the type to create.
CUSTOM_FIELD_ENTRY = {
    "anyOf": [
        {"type": "string"},
        {
            "type": "object",
            "properties": {
                "property": {"type": "string"},
                "type": {"type": "string", "enum": list(CUSTOM_FIELD_TYPES)},
            },
            "required": ["property"],
            "additionalProperties": False,
        },
    ]
}


def schema_default(name: str) -> Any:
    """The default declared for a setting (None when it declares none)."""
    return default_of(Settings, name)


@dataclasses.dataclass(frozen=True)
class Settings:
    """The target's own settings, each of its declared kind, with what each means.

    Built by :meth:`from_config`, which gives every field its value: the fields have no dataclass
    defaults (a type checker, which cannot tell ``setting()`` from a default, would accept fewer).
    """

    api_key: str = setting(
        th.StringType,
        required=True,
        secret=True,
        description="SendGrid API key with Marketing access (marketing.read, or Full Access). Sent only over TLS "
        "(or to a loopback emulator).",
    )
    api_url: str = setting(
        th.StringType,
        default=SENDGRID_API_URL,
        description="SendGrid API base URL: https only, or http on loopback for the bundled emulator "
        "(e.g. https://api.eu.sendgrid.com for EU subusers).",
    )
    list_id: str | None = setting(
        th.StringType,
        description="Id of the SendGrid list that receives the contacts.",
    )
    list_name: str | None = setting(
        th.StringType,
        description="Alternative to list_id: the list is found by this name, and created if missing.",
    )
    field_mapping: Mapping[str, str] | None = setting(
        th.ObjectType(additional_properties=th.StringType),
        description='SendGrid reserved field -> record property, e.g. {"email": "EmailAddress", '
        '"first_name": "GivenName"}, field by field: fields it does not name are matched by common names (email, '
        f"email_address, first_name, given_name, zip, ...); the mapping used is logged. Fields: "
        f"{', '.join(MAPPABLE_FIELDS)}.",
    )
    # name -> record property, or {"property", "type"}
    custom_field_mapping: Mapping[str, Any] = setting(
        th.ObjectType(additional_properties=th.CustomType(CUSTOM_FIELD_ENTRY)),
        description='SendGrid custom field *name* -> record property, e.g. {"lifetime_value": "ltv"}, or an '
        'object that also declares the type create_custom_fields gives it: {"lifetime_value": {"property": '
        '"ltv", "type": "Number"}} (Text, Number or Date). Names are resolved to SendGrid\'s field ids at start '
        "(a declared type the account's field does not have is refused); values are converted to the field's "
        "type (Number, Date as ISO-8601, Text of at most 1,000 characters).",
    )
    create_custom_fields: bool = setting(
        th.BooleanType,
        default=False,
        description="Create mapped custom fields that do not exist, of the type custom_field_mapping declares, "
        "else typed from the stream's JSON schema: number/integer -> Number, format date or date-time -> Date, "
        "anything else -> Text (a type SendGrid cannot change later: declare it for string-typed taps).",
    )
    segments: tuple[str, ...] = setting(
        th.ArrayType(th.StringType),
        description="Segments to export. Empty or unset: every record.",
    )
    segment_property: str = setting(
        th.StringType,
        default="segments",
        description="Record property holding a record's segments: an array of names, a string of names "
        "separated by , ; or |, or one name. A record whose stream is named like a selected segment is a "
        "member too.",
    )
    segment_lists: Mapping[str, str] = setting(
        th.ObjectType(additional_properties=th.StringType),
        description="Segment name -> list id or name (a name is found, or created): each segment goes to its "
        "own list, overriding list_id/list_name for it. A contact in two segments is in both lists, sent in "
        "one upsert with both list ids.",
    )
    sync_mode: str = setting(
        th.StringType,
        default="upsert",
        allowed_values=["upsert", "mirror"],
        description="upsert: add and update only. mirror: make each target list equal the table. When records "
        "carry a table version, members whose mirror_version_field is older (or missing) are removed once the "
        "version completes; otherwise, after a complete run, members this run did not export to a list leave it "
        "(safe only with a tap that re-reads the whole table every run).",
    )
    mirror_version_field: str = setting(
        th.StringType,
        default="singer_table_version",
        description="Mirror mode with table versions: the Number custom field (created if missing) that stamps each "
        "contact exported to a target list with the table version of its record.",
    )
    mirror_close_at_end_of_input: bool = setting(
        th.BooleanType,
        default=False,
        description="Mirror mode with table versions: also complete a version when the input ends, for taps that send "
        "ACTIVATE_VERSION only before their records (singer-sdk taps). Off: only an ACTIVATE_VERSION after the "
        "records completes it, since a tap failing mid-table still ends the input normally.",
    )
    skip_unchanged: bool = setting(
        th.BooleanType,
        default=False,
        description="Read the target lists' current members at start (a contacts export) and send only contacts "
        "whose mapped fields, custom values or list memberships differ. Pays on full-table runs into lists that "
        "already hold most contacts; if the lists cannot be read, every contact is sent.",
    )
    skip_unchanged_timeout_seconds: float = setting(
        th.NumberType(minimum=1),
        default=900,
        description="Longest wait for the contacts export skip_unchanged reads; past it every contact is sent.",
    )
    remove_non_members: bool = setting(
        th.BooleanType,
        default=False,
        description="Remove a record's contact from the target lists its segments do not map to (incremental "
        "taps report leavers this way).",
    )
    mirror_max_removal_fraction: float = setting(
        th.NumberType(minimum=0, maximum=1),
        default=0.5,
        description="Safety stop for mirror mode: if more than this share of a list would be removed, "
        "remove nothing and fail.",
    )
    hard_delete: bool = setting(
        th.BooleanType,
        default=True,
        description="Act on records the tap flags deleted (_sdc_deleted_at), as deleted_records says: take them out "
        "of the target lists (the default), or delete their contacts from the account. Off: such records are "
        "exported like any other.",
    )
    deleted_records: str = setting(
        th.StringType,
        default="remove_from_lists",
        allowed_values=["remove_from_lists", "delete_contacts"],
        description="What a record the tap flags deleted (_sdc_deleted_at) does, with hard_delete on: "
        "remove_from_lists takes its contact out of the target lists (it stays in the account); delete_contacts "
        "deletes the contact from the account, every list with it, so its personal data leaves SendGrid too.",
    )
    max_contact_deletions: int = setting(
        th.IntegerType(minimum=0),
        default=1000,
        description="Safety ceiling for deleted_records: delete_contacts: a run that would delete more contacts "
        "deletes none and fails, before any deletion is sent (a tap flagging a whole table deleted must not empty "
        "an account). 0 lifts it.",
    )
    batch_size: int = setting(
        th.IntegerType(minimum=1, maximum=MAX_BATCH_CONTACTS),
        default=MAX_BATCH_CONTACTS,
        description="Most contacts per upsert request (SendGrid's maximum: 30,000).",
    )
    max_request_bytes: int = setting(
        th.IntegerType(minimum=10_000, maximum=6_000_000),
        default=DEFAULT_MAX_REQUEST_BYTES,
        description="Most bytes per upsert request body (SendGrid's maximum: 6 MB). A request is sent when "
        "either cap would be crossed.",
    )
    max_contacts: int = setting(
        th.IntegerType(minimum=0),
        default=100_000,
        description="Safety ceiling on contacts exported in one run (SendGrid's recommended ceiling per "
        "export), all or nothing: requests are held until the input ends, and an input with more contacts sends "
        "none of them (no removal, deletion or STATE either; lists and custom fields made at start stay) and fails "
        "naming the count. 0 disables it, and then requests, and STATE, go out as the input is read.",
    )
    data_privacy_consent: bool = setting(
        th.BooleanType,
        required=True,
        description="Must be true: exporting sends personal data outside your warehouse's compliance "
        "boundary, to SendGrid. Without it the target refuses to start.",
    )
    allow_no_list: bool = setting(
        th.BooleanType,
        default=False,
        description="Upsert contacts into no list when none of list_id, list_name and segment_lists is set. "
        "Off: such a run is refused at start, since its contacts would land only in All Contacts.",
    )
    rejected_records_path: str | None = setting(
        th.StringType,
        description="JSON Lines file receiving one line per record not exported: stream, record number, "
        "key properties and reason (never the email).",
    )
    max_download_bytes: int = setting(
        th.IntegerType(minimum=1_000_000),
        default=DEFAULT_MAX_DOWNLOAD_BYTES,
        description="Most bytes one downloaded export file may hold once inflated (SendGrid splits exports into "
        "files of at most 5,000 MB by default). Past it, skip_unchanged sends every contact and mirror mode removes "
        "nothing and fails. A line longer than any contact can make, and a read past its timeout, end it too.",
    )
    fail_on_empty_export: bool = setting(
        th.BooleanType,
        default=False,
        description="Exit non-zero (after the summary and the last STATE) when the run exported no contact and "
        "found none unchanged, or when a selected segment matched no record: for orchestrators that should alert "
        "on an empty export. Off: such a run warns and exits 0.",
    )
    dry_run: bool = setting(
        th.BooleanType,
        default=False,
        description="Map, filter, validate and report, but send nothing to SendGrid and emit no STATE (the next "
        "real run starts where the last real run ended).",
    )
    plan: bool = setting(
        th.BooleanType,
        default=False,
        description="Read what the run needs from SendGrid (lists, custom fields, the target lists' members, "
        "look-ups of the contacts) and write nothing: no contact, list or custom field is created, changed or "
        "removed, and no STATE is emitted. Ends with one line per list (contacts to create, update, leave "
        "unchanged, add and remove) and a plan object in the summary; exits non-zero when the real run would "
        "fail or be stopped.",
    )
    plan_path: str | None = setting(
        th.StringType,
        description="With plan: a JSON Lines file (rewritten by each plan) of one line per planned change: "
        "list, action, record number and the email's sha256 hash (a member that would leave a list without a "
        "record: its contact id). Never an email.",
    )
    max_retries: int = setting(
        th.IntegerType(minimum=0),
        default=DEFAULT_MAX_RETRIES,
        description="Retries of a request after a 5xx answer, a dropped connection or a timeout "
        "(exponential backoff with jitter). 429 answers wait as SendGrid says, separately.",
    )
    request_timeout_seconds: float = setting(
        th.NumberType(minimum=1),
        default=DEFAULT_TIMEOUT_SECONDS,
        description="Longest one HTTP request may take, from connecting to the last byte of the answer, however "
        "slowly the answer comes (retries are separate).",
    )
    job_timeout_seconds: float = setting(
        th.NumberType(minimum=1),
        default=DEFAULT_JOB_TIMEOUT_SECONDS,
        description="Longest wait for one import job to finish; past it the run fails without emitting "
        "STATE beyond the job.",
    )
    max_job_attempts: int = setting(
        th.IntegerType(minimum=1),
        default=DEFAULT_MAX_JOB_ATTEMPTS,
        description="Submissions of one batch whose import job ends 'failed' before the run fails.",
    )
    max_jobs_in_flight: int = setting(
        th.IntegerType(minimum=1, maximum=16),
        default=DEFAULT_MAX_JOBS_IN_FLIGHT,
        description="Upserts whose import jobs may run at SendGrid at once, while the next batch is built.",
    )
    progress_interval_seconds: float = setting(
        th.NumberType(minimum=0),
        default=30,
        description="Seconds between progress lines (records read, contacts sent, jobs finished and running, "
        "elapsed) while the run is under way; 0 turns them off.",
    )
    shutdown_timeout_seconds: float = setting(
        th.NumberType(minimum=0),
        default=300,
        description="On SIGTERM or SIGINT: how long the import jobs already sent may take to finish (their STATE is "
        "written) before the run exits with 143 or 130. A second signal exits at once.",
    )

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        """The settings of a validated config: each value as its kind, a missing one as its declared default."""
        hints = typing.get_type_hints(cls)
        values = {}
        for field in dataclasses.fields(cls):
            value = config.get(field.name)
            if field.name == "api_key" and isinstance(value, str):
                value = value.strip()  # a key never holds blanks: one pasted with a newline must not be sent so
            values[field.name] = _as_kind(hints[field.name], declaration(field).default if value is None else value)
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
