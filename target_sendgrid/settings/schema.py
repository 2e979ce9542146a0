"""Every setting, declared once with the SDK's typing helpers: kind, default and description.

The defaults declared here are the only ones: :class:`~target_sendgrid.settings.model.Settings`
takes them from this schema.
"""

from __future__ import annotations

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

CONFIG_SCHEMA: dict[str, Any] = th.PropertiesList(
    th.Property(
        "api_key",
        th.StringType,
        required=True,
        secret=True,
        description="SendGrid API key with Marketing access (marketing.read, or Full Access). Sent only over TLS "
        "(or to a loopback emulator).",
    ),
    th.Property(
        "api_url",
        th.StringType,
        default=SENDGRID_API_URL,
        description="SendGrid API base URL: https only, or http on loopback for the bundled emulator "
        "(e.g. https://api.eu.sendgrid.com for EU subusers).",
    ),
    th.Property("list_id", th.StringType, description="Id of the SendGrid list that receives the contacts."),
    th.Property(
        "list_name",
        th.StringType,
        description="Alternative to list_id: the list is found by this name, and created if missing.",
    ),
    th.Property(
        "field_mapping",
        th.ObjectType(additional_properties=th.StringType),
        description='SendGrid reserved field -> record property, e.g. {"email": "EmailAddress", '
        '"first_name": "GivenName"}, field by field: fields it does not name are matched by common names (email, '
        f"email_address, first_name, given_name, zip, ...); the mapping used is logged. Fields: "
        f"{', '.join(MAPPABLE_FIELDS)}.",
    ),
    th.Property(
        "custom_field_mapping",
        th.ObjectType(additional_properties=th.CustomType(CUSTOM_FIELD_ENTRY)),
        description='SendGrid custom field *name* -> record property, e.g. {"lifetime_value": "ltv"}, or an '
        'object that also declares the type create_custom_fields gives it: {"lifetime_value": {"property": '
        '"ltv", "type": "Number"}} (Text, Number or Date). Names are resolved to SendGrid\'s field ids at start '
        "(a declared type the account's field does not have is refused); values are converted to the field's "
        "type (Number, Date as ISO-8601, Text of at most 1,000 characters).",
    ),
    th.Property(
        "create_custom_fields",
        th.BooleanType,
        default=False,
        description="Create mapped custom fields that do not exist, of the type custom_field_mapping declares, "
        "else typed from the stream's JSON schema: number/integer -> Number, format date or date-time -> Date, "
        "anything else -> Text (a type SendGrid cannot change later: declare it for string-typed taps).",
    ),
    th.Property(
        "segments",
        th.ArrayType(th.StringType),
        description="Segments to export. Empty or unset: every record.",
    ),
    th.Property(
        "segment_property",
        th.StringType,
        default="segments",
        description="Record property holding a record's segments: an array of names, a string of names "
        "separated by , ; or |, or one name. A record whose stream is named like a selected segment is a "
        "member too.",
    ),
    th.Property(
        "segment_lists",
        th.ObjectType(additional_properties=th.StringType),
        description="Segment name -> list id or name (a name is found, or created): each segment goes to its "
        "own list, overriding list_id/list_name for it. A contact in two segments is in both lists, sent in "
        "one upsert with both list ids.",
    ),
    th.Property(
        "sync_mode",
        th.StringType,
        default="upsert",
        allowed_values=["upsert", "mirror"],
        description="upsert: add and update only. mirror: make each target list equal the table. When records "
        "carry a table version, members whose mirror_version_field is older (or missing) are removed once the "
        "version completes; otherwise, after a complete run, members this run did not export to a list leave it "
        "(safe only with a tap that re-reads the whole table every run).",
    ),
    th.Property(
        "mirror_version_field",
        th.StringType,
        default="singer_table_version",
        description="Mirror mode with table versions: the Number custom field (created if missing) that stamps each "
        "contact exported to a target list with the table version of its record.",
    ),
    th.Property(
        "mirror_close_at_end_of_input",
        th.BooleanType,
        default=False,
        description="Mirror mode with table versions: also complete a version when the input ends, for taps that send "
        "ACTIVATE_VERSION only before their records (singer-sdk taps). Off: only an ACTIVATE_VERSION after the "
        "records completes it, since a tap failing mid-table still ends the input normally.",
    ),
    th.Property(
        "skip_unchanged",
        th.BooleanType,
        default=False,
        description="Read the target lists' current members at start (a contacts export) and send only contacts "
        "whose mapped fields, custom values or list memberships differ. Pays on full-table runs into lists that "
        "already hold most contacts; if the lists cannot be read, every contact is sent.",
    ),
    th.Property(
        "skip_unchanged_timeout_seconds",
        th.NumberType(minimum=1),
        default=900,
        description="Longest wait for the contacts export skip_unchanged reads; past it every contact is sent.",
    ),
    th.Property(
        "remove_non_members",
        th.BooleanType,
        default=False,
        description="Remove a record's contact from the target lists its segments do not map to (incremental "
        "taps report leavers this way).",
    ),
    th.Property(
        "mirror_max_removal_fraction",
        th.NumberType(minimum=0, maximum=1),
        default=0.5,
        description="Safety stop for mirror mode: if more than this share of a list would be removed, "
        "remove nothing and fail.",
    ),
    th.Property(
        "hard_delete",
        th.BooleanType,
        default=True,
        description="Act on records the tap flags deleted (_sdc_deleted_at), as deleted_records says: take them out "
        "of the target lists (the default), or delete their contacts from the account. Off: such records are "
        "exported like any other.",
    ),
    th.Property(
        "deleted_records",
        th.StringType,
        default="remove_from_lists",
        allowed_values=["remove_from_lists", "delete_contacts"],
        description="What a record the tap flags deleted (_sdc_deleted_at) does, with hard_delete on: "
        "remove_from_lists takes its contact out of the target lists (it stays in the account); delete_contacts "
        "deletes the contact from the account, every list with it, so its personal data leaves SendGrid too.",
    ),
    th.Property(
        "max_contact_deletions",
        th.IntegerType(minimum=0),
        default=1000,
        description="Safety ceiling for deleted_records: delete_contacts: a run that would delete more contacts "
        "deletes none and fails, before any deletion is sent (a tap flagging a whole table deleted must not empty "
        "an account). 0 lifts it.",
    ),
    th.Property(
        "batch_size",
        th.IntegerType(minimum=1, maximum=MAX_BATCH_CONTACTS),
        default=MAX_BATCH_CONTACTS,
        description="Most contacts per upsert request (SendGrid's maximum: 30,000).",
    ),
    th.Property(
        "max_request_bytes",
        th.IntegerType(minimum=10_000, maximum=6_000_000),
        default=DEFAULT_MAX_REQUEST_BYTES,
        description="Most bytes per upsert request body (SendGrid's maximum: 6 MB). A request is sent when "
        "either cap would be crossed.",
    ),
    th.Property(
        "max_contacts",
        th.IntegerType(minimum=0),
        default=100_000,
        description="Safety ceiling on contacts exported in one run (SendGrid's recommended ceiling per "
        "export), all or nothing: requests are held until the input ends, and an input with more contacts sends "
        "none of them (no removal, deletion or STATE either) and fails naming the count. 0 disables it, and then "
        "requests, and STATE, go out as the input is read.",
    ),
    th.Property(
        "data_privacy_consent",
        th.BooleanType,
        required=True,
        description="Must be true: exporting sends personal data outside your warehouse's compliance "
        "boundary, to SendGrid. Without it the target refuses to start.",
    ),
    th.Property(
        "allow_no_list",
        th.BooleanType,
        default=False,
        description="Upsert contacts into no list when none of list_id, list_name and segment_lists is set. "
        "Off: such a run is refused at start, since its contacts would land only in All Contacts.",
    ),
    th.Property(
        "rejected_records_path",
        th.StringType,
        description="JSON Lines file receiving one line per record not exported: stream, record number, "
        "key properties and reason (never the email).",
    ),
    th.Property(
        "max_download_bytes",
        th.IntegerType(minimum=1_000_000),
        default=DEFAULT_MAX_DOWNLOAD_BYTES,
        description="Most bytes one downloaded export file may hold once inflated (SendGrid splits exports into "
        "files of at most 5,000 MB by default). Past it, skip_unchanged sends every contact and mirror mode removes "
        "nothing and fails. A line longer than any contact can make, and a read past its timeout, end it too.",
    ),
    th.Property(
        "fail_on_empty_export",
        th.BooleanType,
        default=False,
        description="Exit non-zero (after the summary and the last STATE) when the run exported no contact and "
        "found none unchanged, or when a selected segment matched no record: for orchestrators that should alert "
        "on an empty export. Off: such a run warns and exits 0.",
    ),
    th.Property(
        "dry_run",
        th.BooleanType,
        default=False,
        description="Map, filter, validate and report, but send nothing to SendGrid and emit no STATE (the next "
        "real run starts where the last real run ended).",
    ),
    th.Property(
        "plan",
        th.BooleanType,
        default=False,
        description="Read what the run needs from SendGrid (lists, custom fields, the target lists' members, "
        "look-ups of the contacts) and write nothing: no contact, list or custom field is created, changed or "
        "removed, and no STATE is emitted. Ends with one line per list (contacts to create, update, leave "
        "unchanged, add and remove) and a plan object in the summary; exits non-zero when the real run would "
        "fail or be stopped.",
    ),
    th.Property(
        "plan_path",
        th.StringType,
        description="With plan: a JSON Lines file (rewritten by each plan) of one line per planned change: "
        "list, action, record number and the email's sha256 hash (a member that would leave a list without a "
        "record: its contact id). Never an email.",
    ),
    th.Property(
        "max_retries",
        th.IntegerType(minimum=0),
        default=DEFAULT_MAX_RETRIES,
        description="Retries of a request after a 5xx answer, a dropped connection or a timeout "
        "(exponential backoff with jitter). 429 answers wait as SendGrid says, separately.",
    ),
    th.Property(
        "request_timeout_seconds",
        th.NumberType(minimum=1),
        default=DEFAULT_TIMEOUT_SECONDS,
        description="Longest one HTTP request may take, from connecting to the last byte of the answer, however "
        "slowly the answer comes (retries are separate).",
    ),
    th.Property(
        "job_timeout_seconds",
        th.NumberType(minimum=1),
        default=DEFAULT_JOB_TIMEOUT_SECONDS,
        description="Longest wait for one import job to finish; past it the run fails without emitting "
        "STATE beyond the job.",
    ),
    th.Property(
        "max_job_attempts",
        th.IntegerType(minimum=1),
        default=DEFAULT_MAX_JOB_ATTEMPTS,
        description="Submissions of one batch whose import job ends 'failed' before the run fails.",
    ),
    th.Property(
        "max_jobs_in_flight",
        th.IntegerType(minimum=1, maximum=16),
        default=DEFAULT_MAX_JOBS_IN_FLIGHT,
        description="Upserts whose import jobs may run at SendGrid at once, while the next batch is built.",
    ),
    th.Property(
        "progress_interval_seconds",
        th.NumberType(minimum=0),
        default=30,
        description="Seconds between progress lines (records read, contacts sent, jobs finished and running, "
        "elapsed) while the run is under way; 0 turns them off.",
    ),
    th.Property(
        "shutdown_timeout_seconds",
        th.NumberType(minimum=0),
        default=300,
        description="On SIGTERM or SIGINT: how long the import jobs already sent may take to finish (their STATE is "
        "written) before the run exits with 143 or 130. A second signal exits at once.",
    ),
).to_dict()
