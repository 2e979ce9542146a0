"""TargetSendGrid: its settings, and the run from first message to summary."""

from __future__ import annotations

import json
import typing as t

from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import (
    TARGET_VALIDATE_RECORDS_CONFIG,
    PluginCapabilities,
    TargetCapabilities,
)
from singer_sdk.target_base import Target

from target_sendgrid.client import NotFound, SendGridClient, check_url
from target_sendgrid.customfields import CustomFieldRegistry, name_errors
from target_sendgrid.exporter import MAX_BATCH_CONTACTS, Exporter, MaxContactsExceeded
from target_sendgrid.lists import ListRouter, mirror
from target_sendgrid.mapping import MAPPABLE_FIELDS, resolve_mapping
from target_sendgrid.reader import INPUT_ERRORS, SingerInputReader
from target_sendgrid.report import RunReport
from target_sendgrid.segments import SegmentFilter
from target_sendgrid.sinks import SendGridSink

# Just under SendGrid's 6 MB body cap, leaving room for headers and rounding.
DEFAULT_MAX_REQUEST_BYTES = 5_900_000


class TargetSendGrid(Target):
    """Exports segments of customer profiles into SendGrid Marketing Campaigns lists."""

    name = "target-sendgrid"
    default_sink_class = SendGridSink
    message_reader_class = SingerInputReader
    capabilities: t.ClassVar = [
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.STRUCTURED_LOGGING,
        TargetCapabilities.VALIDATE_RECORDS,
        TargetCapabilities.HARD_DELETE,
    ]

    config_jsonschema = th.PropertiesList(
        th.Property(
            "api_key",
            th.StringType,
            required=True,
            secret=True,
            description="SendGrid API key with the Marketing scopes. Sent only over TLS (or to a loopback emulator).",
        ),
        th.Property(
            "api_url",
            th.StringType,
            default="https://api.sendgrid.com",
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
            '"first_name": "GivenName"}. Unset: properties are matched by common names (email, email_address, '
            f"first_name, given_name, zip, ...) and the mapping used is logged. Fields: {', '.join(MAPPABLE_FIELDS)}.",
        ),
        th.Property(
            "custom_field_mapping",
            th.ObjectType(additional_properties=th.StringType),
            description='SendGrid custom field *name* -> record property, e.g. {"lifetime_value": "ltv"}. '
            "Names are resolved to SendGrid's field ids at start; values are converted to the field's type "
            "(Number, Date as ISO-8601, Text of at most 1,000 characters).",
        ),
        th.Property(
            "create_custom_fields",
            th.BooleanType,
            default=False,
            description="Create mapped custom fields that do not exist, typed from the stream's JSON schema: "
            "number/integer -> Number, format date or date-time -> Date, anything else -> Text.",
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
            description="upsert: add and update only. mirror: after a complete run, remove from each target list "
            "the contacts this run did not export to it, so the list equals the segment.",
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
            description="Remove records the tap flags deleted (_sdc_deleted_at) from the target lists. Contacts "
            "themselves are never deleted.",
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
            "export); 0 disables it. Crossing it fails the run before anything beyond it is sent.",
        ),
        th.Property(
            "data_privacy_consent",
            th.BooleanType,
            default=False,
            description="Must be true: exporting sends personal data outside your warehouse's compliance "
            "boundary, to SendGrid. Without it the target refuses to start.",
        ),
        th.Property(
            "rejected_records_path",
            th.StringType,
            description="JSON Lines file receiving one line per record not exported: stream, record number, "
            "key properties and reason (never the email).",
        ),
        th.Property(
            "dry_run",
            th.BooleanType,
            default=False,
            description="Map, filter, validate and report, but send nothing to SendGrid.",
        ),
        th.Property(
            "max_retries",
            th.IntegerType(minimum=0),
            default=8,
            description="Retries of a request after a 5xx answer, a dropped connection or a timeout "
            "(exponential backoff with jitter). 429 answers wait as SendGrid says, separately.",
        ),
        th.Property(
            "request_timeout_seconds",
            th.NumberType(minimum=1),
            default=60,
            description="Timeout of one HTTP request.",
        ),
        th.Property(
            "job_timeout_seconds",
            th.NumberType(minimum=1),
            default=3600,
            description="Longest wait for one import job to finish; past it the run fails without emitting "
            "STATE beyond the job.",
        ),
        th.Property(
            "max_job_attempts",
            th.IntegerType(minimum=1),
            default=5,
            description="Submissions of one batch whose import job ends 'failed' before the run fails.",
        ),
        th.Property(
            "max_jobs_in_flight",
            th.IntegerType(minimum=1, maximum=16),
            default=4,
            description="Upserts whose import jobs may run at SendGrid at once, while the next batch is built.",
        ),
    ).to_dict()

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """Check the settings and the key, before reading any input."""
        super().__init__(*args, **kwargs)
        config = self.config
        if config.get("data_privacy_consent") is not True:
            raise ConfigValidationError(
                "data_privacy_consent is not true",
                errors=[
                    "Exporting sends personal data (emails, names, addresses) outside your warehouse's compliance "
                    "boundary, to SendGrid. Confirm that this is allowed by setting data_privacy_consent: true."
                ],
            )
        if config.get("list_id") and config.get("list_name"):
            raise ConfigValidationError(
                "list_id and list_name are both set", errors=["Set list_id or list_name, not both."]
            )
        try:
            check_url(config.get("api_url", "https://api.sendgrid.com"))
            resolve_mapping(config.get("field_mapping"), ())
        except ValueError as exc:
            raise ConfigValidationError(str(exc), errors=[str(exc)]) from None
        if errors := name_errors(list(config.get("custom_field_mapping") or {})):
            raise ConfigValidationError("custom_field_mapping has invalid names", errors=errors)
        self.dry_run = bool(config.get("dry_run"))
        self.mirror = config.get("sync_mode", "upsert") == "mirror"
        self.remove_non_members = bool(config.get("remove_non_members"))
        self.hard_delete = config.get("hard_delete", True) is not False
        self.report = RunReport(config.get("rejected_records_path"))
        self.segments = SegmentFilter(config.get("segments"), config.get("segment_property", "segments"))
        self.record_number = 0  # RECORD messages read so far
        self.record_reached_sink = False

        # Before any input is read: check the key, resolve custom fields and lists.
        self.client = None if self.dry_run else self._client()
        self.custom_fields = self._custom_fields()
        segment_lists = config.get("segment_lists") or {}
        list_name = config.get("list_name")
        # One read of the account's lists finds (or creates) every list named in the settings.
        ids = ListRouter.resolve(self.client, [*segment_lists.values(), *([list_name] if list_name else [])])
        self.list_id = self._checked_list_id() if config.get("list_id") else ids.get(list_name)
        self.router = ListRouter(
            self.list_id, {s: ids[v] for s, v in segment_lists.items()}, bool(config.get("segments"))
        )
        if self.mirror and not self.router.all_lists:
            raise ConfigValidationError(
                "mirror needs a list", errors=["sync_mode mirror needs list_id, list_name or segment_lists."]
            )
        self.exporter = Exporter(
            self.client,
            self.report,
            self._write_state_message,
            batch_size=config.get("batch_size", MAX_BATCH_CONTACTS),
            max_request_bytes=config.get("max_request_bytes", DEFAULT_MAX_REQUEST_BYTES),
            max_in_flight=config.get("max_jobs_in_flight", 4),
            job_timeout=config.get("job_timeout_seconds", 3600),
            max_job_attempts=config.get("max_job_attempts", 5),
            max_contacts=config.get("max_contacts", 100_000),
            track_members=self.mirror,
        )
        if isinstance(self.message_reader, SingerInputReader):
            self.message_reader.on_error = self._on_error

    @classmethod
    def append_builtin_config(cls, config_jsonschema: dict) -> None:
        """Add the SDK's built-in settings that mean something here.

        ``load_method`` and ``batch_size_rows`` do not apply (an upsert is the only load, and
        ``batch_size`` sizes requests), so only record validation joins the plugin-wide ones.
        """
        for name, schema in TARGET_VALIDATE_RECORDS_CONFIG["properties"].items():  # hard_delete is ours
            config_jsonschema["properties"].setdefault(name, schema)
        super(Target, cls).append_builtin_config(config_jsonschema)

    def _client(self) -> SendGridClient:
        config = self.config
        return SendGridClient(
            config["api_key"],
            config.get("api_url", "https://api.sendgrid.com"),
            timeout=config.get("request_timeout_seconds", 60),
            max_retries=config.get("max_retries", 8),
        )

    def _custom_fields(self) -> CustomFieldRegistry:
        """The account's custom fields: one cheap request that also checks the key at once."""
        config = self.config
        definitions = self.client.field_definitions()["custom_fields"] if self.client else []
        registry = CustomFieldRegistry(
            config.get("custom_field_mapping") or {},
            definitions,
            self.client,
            # A dry run cannot see the account: it takes every name as creatable.
            create=bool(config.get("create_custom_fields")) or self.client is None,
        )
        missing = registry.missing()
        if missing and not registry.create:
            raise ConfigValidationError(
                "unknown custom fields",
                errors=[
                    f"custom_field_mapping names custom fields this SendGrid account does not have: {missing}. "
                    f"The account has: {registry.account_fields()}. Fix the names, or set "
                    "create_custom_fields: true to create them."
                ],
            )
        return registry

    def _checked_list_id(self) -> str:
        """list_id, once SendGrid confirmed it exists (a dry run takes it on trust)."""
        list_id = self.config["list_id"]
        if self.client is not None:
            try:
                self.client.get_list(list_id)
            except NotFound:
                raise ConfigValidationError(
                    "list_id not found", errors=[f"No SendGrid list has the id {list_id!r} (list_id)."]
                ) from None
        return list_id

    # --- the message loop ---------------------------------------------------------------

    def _process_record_message(self, message_dict: dict) -> None:
        self.record_number += 1
        self.record_reached_sink = False
        super()._process_record_message(message_dict)
        if not self.record_reached_sink:
            self.report.count("filtered_map")  # a stream map's __filter__ dropped it
        self.exporter.mark_processed(self.record_number)

    def _process_state_message(self, message_dict: dict) -> None:
        # STATE is written by the exporter once the records before it are settled; the SDK's
        # own copy (written when it drains all sinks) would run ahead of the import jobs.
        self._assert_line_requires(message_dict, requires={"value"})
        self.exporter.add_state(message_dict["value"])

    def _handle_max_record_age(self) -> None:
        # The SDK drains every few minutes so that a slow tap's records do not wait for a
        # full batch: send what is buffered then, so STATE keeps moving.
        if self._max_record_age_in_minutes > self._MAX_RECORD_AGE_IN_MINUTES:
            self.exporter.flush()
        super()._handle_max_record_age()

    def process_endofpipe(self) -> None:
        """Send the rest, wait for every job, write the last STATE, and log the summary."""
        try:
            self.exporter.close()
            if self.mirror and self.client is not None:
                exported = self.exporter.members or {}
                removed = mirror(
                    self.client,
                    {list_id: exported.get(list_id, set()) for list_id in self.router.all_lists},
                    self.config.get("mirror_max_removal_fraction", 0.5),
                    self.config.get("job_timeout_seconds", 3600),
                    self.config.get("max_job_attempts", 5),
                )
                self.report.count("removed", sum(removed.values()))
        except BaseException:
            self._log_summary("failed")
            raise
        super().process_endofpipe()
        self._log_summary("finished")

    def _on_error(self, exc: BaseException) -> None:
        """A failure while reading: settle what came before a bad input, then report."""
        if isinstance(exc, (*INPUT_ERRORS, MaxContactsExceeded)):
            try:
                self.exporter.close()
            except BaseException as closing:
                self.logger.error("While finishing the records before the failure: %s", closing)
        else:
            self.exporter.abort()
        self._log_summary("failed")

    def _log_summary(self, outcome: str) -> None:
        self.report.count("records_read", self.record_number)
        summary = self.report.summary(self.client.requests_sent if self.client else 0, dry_run=self.dry_run)
        self.report.close()
        self.logger.info("Export %s%s: %s", outcome, " (dry run)" if self.dry_run else "", json.dumps(summary))


if __name__ == "__main__":
    TargetSendGrid.cli()
