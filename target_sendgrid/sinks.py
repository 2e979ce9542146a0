"""The sink: one per stream, turning its records into contacts for the shared exporter."""

from __future__ import annotations

import typing as t

from singer_sdk.exceptions import InvalidJSONSchema, InvalidRecord
from singer_sdk.sinks import Sink
from singer_sdk.sinks.core import BaseJSONSchemaValidator
from singer_sdk.target_base import Target

from target_sendgrid.contacts.mapping import ContactMapper, Rejected, normalise_email, resolve_mapping
from target_sendgrid.contacts.segments import normalise
from target_sendgrid.report import RecordRef
from target_sendgrid.run import ExportContext
from target_sendgrid.singer.validation import FastJSONSchemaValidator, Invalid

# The SDK's record metadata properties (sinks/core.py, _remove_sdc_metadata_from_record).
_SDC_PROPERTIES = frozenset(
    {
        "_sdc_extracted_at",
        "_sdc_received_at",
        "_sdc_batched_at",
        "_sdc_deleted_at",
        "_sdc_sequence",
        "_sdc_table_version",
        "_sdc_sync_started_at",
    }
)


_NO_CONTEXT: dict = {}  # process_record's batch context: unused (the exporter batches)
_NOTHING_DECLARED: frozenset[str] = frozenset()


class SendGridSink(Sink):
    """Maps, filters and hands each record's contact to the run's exporter.

    Batching is not done here but in the exporter, across streams, so that records of
    every stream bound for the same lists share requests: the SDK's per-sink drains
    have nothing to send. What a sink needs of the run comes in its ``context``.
    """

    context: t.ClassVar[ExportContext]

    @classmethod
    def for_run(cls, context: ExportContext) -> type[SendGridSink]:
        """This class bound to a run's context (the SDK constructs sinks with a fixed signature)."""
        return type(cls.__name__, (cls,), {"context": context})

    def __init__(self, target: Target, stream_name: str, schema: dict, key_properties: t.Sequence[str] | None) -> None:
        super().__init__(target, stream_name, schema, key_properties)
        self._key_names = tuple(self.key_properties)
        self._uncounted = 0  # records accepted but not yet in the record_count metric (see accept)
        self._deleted = False
        properties = schema.get("properties") or {}
        mapping = resolve_mapping(self.config.get("field_mapping"), properties)
        self.mapper = ContactMapper(mapping, self.context.custom_fields.for_stream(properties))
        self.email_property = mapping.get("email")
        self.has_email = self.email_property in properties
        self._email_keys = tuple(k for k in self._key_names if k == self.email_property)
        shown = _names(properties)
        if not self.has_email:
            self.logger.warning(
                "Stream '%s' has no %s property for the contact email; its records will be rejected "
                "(reason 'no email property'). Map one with field_mapping.email. The stream's properties: %s",
                stream_name,
                f"'{self.email_property}'" if self.email_property else "email-like",
                shown,
            )
        else:
            self.logger.info("Stream '%s' maps SendGrid fields to properties: %s", stream_name, mapping)
        validator = self._validator
        self._compiled = validator.compiled if isinstance(validator, FastJSONSchemaValidator) else None
        fields = tuple(f for f in mapping if f != "email" and mapping[f] in properties)
        self._copy = self.context.sendgrid_copy(stream_name, fields, tuple(self.mapper.custom_fields))
        wanted = {**mapping, **(self.config.get("custom_field_mapping") or {})}
        absent = {field: prop for field, prop in wanted.items() if prop not in properties and field != "email"}
        if absent:
            self.logger.warning(
                "Stream '%s' has no property %s named in the mapping (field: property); those fields are left "
                "unchanged in SendGrid. The stream's properties: %s",
                stream_name,
                absent,
                shown,
            )

    def get_validator(self) -> BaseJSONSchemaValidator | None:
        """A compiled validator; the SDK's own if the schema defeats the compiler."""
        if not self.validate_schema:
            return None
        try:
            return FastJSONSchemaValidator(self.schema)
        except InvalidJSONSchema:
            self.logger.info("Stream '%s': schema not compilable, using the SDK's validator", self.stream_name)
            return super().get_validator()

    def _validate_and_parse(self, record: dict) -> dict:
        # The SDK logs each invalid record with a traceback before raising it; the reader names the
        # failing line once (reader.py). Timestamps are not parsed here (see below).
        if self._validator is not None:
            try:
                self._validator.validate(record)
            except InvalidRecord as exc:
                if self.fail_on_record_validation_exception:
                    raise
                self.logger.warning("Record %d of stream '%s': %s", self.context.record_number, self.stream_name, exc)
        return record

    def _parse_timestamps_in_record(self, record: dict, schema: dict, treatment: t.Any) -> None:
        # Contacts are text and custom values are converted from the raw strings, so the
        # SDK's parsing of every date-time property into datetime objects is skipped: it
        # was a sixth of the run's time and would only be turned back into strings.
        return

    @property
    def max_size(self) -> int:
        """The exporter batches; the SDK's own drains of this sink send nothing."""
        return 2**31

    def _remove_sdc_metadata_from_record(self, record: dict) -> None:
        # The SDK strips the metadata before process_record; keep the one flag we act on
        # (and skip the seven pops for the records that carry none, almost all of them).
        self._deleted = record.get("_sdc_deleted_at") is not None
        if not _SDC_PROPERTIES.isdisjoint(record):
            super()._remove_sdc_metadata_from_record(record)

    def accept(self, record: dict) -> None:
        """One record of a stream whose stream map is the identity: the SDK's steps, in one call.

        The same steps, in the same order, as the SDK's record path (``Target._process_record_message``):
        metadata stripped, validated, key properties checked, tallied, processed, counted. Only
        the record copy, the map and the sink lookup are left out, and the checks are made
        inline: this runs once per record, and each call was a few percent of the run.
        """
        self._remove_sdc_metadata_from_record(record)
        if self._compiled is not None:
            try:
                self._compiled(record)
            except Invalid:
                self._validate_and_parse(record)  # again, to raise or warn as the settings say
        elif self._validator is not None:
            self._validate_and_parse(record)
        for name in self._key_names:
            if name not in record:
                self._singer_validate_message(record)  # raises the SDK's error
        self.tally_record_read()
        self.process_record(record, _NO_CONTEXT)
        # The record_count metric, by the thousand: Counter.increment reads the clock each time
        # to see whether to log. clean_up adds the rest before the SDK logs the total.
        self._uncounted += 1
        if self._uncounted == 1000:
            self._record_counter.increment(1000)
            self._uncounted = 0

    def clean_up(self) -> None:
        """Count the records not yet in the record_count metric, then the SDK's clean-up (which logs it)."""
        self._record_counter.increment(self._uncounted)
        self._uncounted = 0
        super().clean_up()

    def process_record(self, record: dict, context: dict) -> None:
        """Filter by segment, map, and queue the contact's upsert and removals (or account for it)."""
        run = self.context
        router = run.router
        run.record_reached_sink = True
        selected = run.segments.matches(record, self.stream_name)
        deleted = self._deleted and run.hard_delete
        leaves = deleted or (run.remove_non_members and router.all_lists)
        if selected is None and not leaves:
            run.report.count("filtered_segment")
            return
        ref = RecordRef(
            self.stream_name,
            run.record_number,
            self._key_names,
            tuple(map(record.get, self._key_names)),
            self._email_keys,
        )
        if not self.has_email:
            run.report.reject(ref, "no email property")
            return
        if selected is None or deleted:
            # A leaver or a deleted record: it leaves the lists, and its contact stays in SendGrid.
            try:
                email = normalise_email(record.get(self.email_property))
            except Rejected as exc:
                run.report.reject(ref, exc.reason, exc.detail)
                return
            with run.exporter.unsent_if_stopped():  # a removal too may wait for a slot
                for list_id in router.all_lists:
                    run.exporter.remove(email, list_id, ref)
            run.report.count("deleted_records" if deleted else "filtered_segment")
            return
        try:
            contact, truncated, dropped = self.mapper.build(record)
        except Rejected as exc:
            run.report.reject(ref, exc.reason, exc.detail)
            return
        if truncated:
            run.report.count("truncated", truncated)
        if dropped:
            run.report.count("custom_values_dropped", len(dropped))
        if router.segment_lists:
            declared = run.segments.record_segments(record)
            declared.add(normalise(self.stream_name))
            lists = router.member_lists(selected, declared)
        else:
            lists = router.member_lists(selected, _NOTHING_DECLARED)
        mirror = run.mirror
        if mirror is not None and mirror.record_version is not None and lists:
            mirror.stamp(contact)  # mirror mode with table versions: see versions.py
        copy = self._copy
        if copy is not None and copy.is_current(contact, lists) and not run.exporter.holds(contact["email"]):
            run.report.count("unchanged")  # settled at once: nothing to send
            run.exporter.note_members(contact["email"], lists)
        else:
            run.exporter.add(contact, lists, ref)
        if run.remove_non_members:
            for list_id in router.all_lists:
                if list_id not in lists:
                    run.exporter.remove(contact["email"], list_id, ref)

    def process_batch(self, context: dict) -> None:
        """Nothing to do: see the class docstring."""


def _names(properties: t.Mapping[str, t.Any], most: int = 50) -> str:
    """A stream's property names for a message, the first ``most`` of them."""
    names = sorted(properties)
    return ", ".join(names[:most]) + (f", ... ({len(names) - most} more)" if len(names) > most else "")
