"""The SDK's Sink, with the private names of it this project overrides, and the direct record path.

:class:`SingerSink` takes each record through the SDK's steps, on the SDK's path or on the
direct one (:meth:`SingerSink.accept`), and hands it to :meth:`SingerSink.handle_record`, which
the plugin's sink implements. Each override is marked ``@override``.
"""

from __future__ import annotations

import logging
import typing as t

from singer_sdk.exceptions import InvalidJSONSchema, InvalidRecord
from singer_sdk.sinks import Sink
from singer_sdk.sinks.core import BaseJSONSchemaValidator, JSONSchemaValidator
from typing_extensions import override

from target_sendgrid.singer.cursor import RecordCursor
from target_sendgrid.singer.validation import FastJSONSchemaValidator, Invalid, prepared

# The SDK's record metadata properties (sinks/core.py, _remove_sdc_metadata_from_record).
SDC_PROPERTIES = frozenset(
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


class SingerSink(Sink):
    """A sink whose records are handed on one by one, on either of the target's record paths.

    ``cursor`` is the target's (the SDK hands every sink the target that builds it). ``deleted``
    says whether the record being handled was flagged deleted.
    """

    def __init__(
        self, target: t.Any, stream_name: str, schema: dict[str, t.Any], key_properties: t.Sequence[str] | None
    ) -> None:
        super().__init__(target, stream_name, schema, key_properties)
        self.cursor: RecordCursor = target.cursor
        self.key_names = tuple(self.key_properties)
        self.deleted = False
        self._uncounted = 0  # records accepted but not yet in the record_count metric (see accept)
        validator = self._validator
        self._compiled = validator.compiled if isinstance(validator, FastJSONSchemaValidator) else None
        # The direct path calls a hook whose SDK default does nothing observable only when a subclass
        # overrides it (the default _after_process_record logs at DEBUG: called then too); see accept.
        kind = type(self)
        self._preprocess = kind.preprocess_record is not Sink.preprocess_record
        self._own_context = kind._get_context is not Sink._get_context
        self._after_hook = kind._after_process_record is not Sink._after_process_record or self.logger.isEnabledFor(
            logging.DEBUG
        )
        # Whether is_full can ever be true: not while max_size is this class's (the plugin batches).
        self.may_fill = kind.max_size is not SingerSink.max_size or kind.is_full is not Sink.is_full

    def handle_record(self, record: dict[str, t.Any]) -> None:
        """One record, validated and stripped of its metadata: the plugin's work."""
        raise NotImplementedError

    def accept(self, record: dict[str, t.Any]) -> None:
        """One record of a stream whose stream map is the identity: the SDK's steps, in one call.

        The SDK's record path (``Target._process_record_message``, singer-sdk 0.54) calls, per record:
        ``_get_context``, ``_remove_sdc_metadata_from_record``, ``_validate_and_parse``,
        ``preprocess_record``, ``_singer_validate_message``, ``tally_record_read``, ``process_record``,
        the record_count metric, ``_after_process_record``; then the target drains a full sink and
        checks the records' age. This calls the same hooks in the same order (the target does the
        last two), leaving out the record copy, the map and the sink lookup, which were a third of
        the run's time. Some steps are cheaper equivalents: the compiled check before
        ``_validate_and_parse`` (called only to raise or warn), the key check before
        ``_singer_validate_message`` (called only to raise); ``_get_context``, ``preprocess_record`` and
        ``_after_process_record`` are called when a subclass overrides them (the SDK's defaults return
        an empty context, return the record as it is, and log at DEBUG: called then too). The metric
        is counted by the thousand (``count_records`` adds the rest before the SDK logs the total).
        ``tests/integration/test_record_paths.py`` and the combination test run both paths.
        """
        context = self._get_context(record) if self._own_context else {}
        self._remove_sdc_metadata_from_record(record)
        if self._compiled is not None:
            try:
                self._compiled(record)
            except Invalid:
                self._validate_and_parse(record)  # again, to raise or warn as the settings say
            except Exception as exc:  # the check itself failed on this record: not the record's fault
                self._fall_back(exc)
                self._validate_and_parse(record)  # this record too is judged, by the SDK's validator
        elif self._validator is not None:
            self._validate_and_parse(record)
        if self._preprocess:
            record = self.preprocess_record(record, context)
        for name in self.key_names:
            if name not in record:
                self._singer_validate_message(record)  # raises the SDK's error
        self.tally_record_read()
        self.process_record(record, context)
        # The record_count metric, by the thousand: Counter.increment reads the clock each time
        # to see whether to log. count_records adds the rest before the SDK logs the total.
        self._uncounted += 1
        if self._uncounted == 1000:
            self.record_counter_metric.increment(1000)
            self._uncounted = 0
        if self._after_hook:
            self._after_process_record(context)

    def count_records(self) -> None:
        """Add the records not yet in the record_count metric (the target calls it at the end of the input)."""
        if self._uncounted:
            self.record_counter_metric.increment(self._uncounted)
            self._uncounted = 0

    @override
    def process_record(self, record: dict[str, t.Any], context: dict[str, t.Any]) -> None:
        """The SDK's last step on both paths: the record reached this sink."""
        self.cursor.reached_sink = True
        self.handle_record(record)

    @override
    def process_batch(self, context: dict[str, t.Any]) -> None:
        """Nothing to do: records are handed on one by one (the SDK's drains send nothing)."""

    @override
    def clean_up(self) -> None:
        """Count what is left (when the SDK cleans up before the end of the input), then its clean-up."""
        self.count_records()
        super().clean_up()

    @property
    @override
    def max_size(self) -> int:
        """The plugin batches; the SDK's own drains of this sink send nothing."""
        return 2**31

    def _fall_back(self, exc: Exception) -> None:
        """The compiled check cannot judge this stream's records: say so once; the SDK's validator takes over.

        Never no validator: a record the check could not judge may still be invalid.
        """
        self.logger.warning(
            "Stream '%s': the compiled schema check failed on record %d (%s), not the record; the SDK's "
            "validator checks this stream's records from now on",
            self.stream_name,
            self.cursor.number,
            type(exc).__name__,
        )
        schema = self._validator.schema if self._validator is not None else prepared(self.schema, self.stream_name)
        self._compiled = None
        self._validator = self._sdk_validator(schema)

    def _sdk_validator(self, schema: dict[str, t.Any]) -> JSONSchemaValidator:
        """The SDK's own validator of ``schema``, as this sink's settings ask for it."""
        return JSONSchemaValidator(schema, validate_formats=self.validate_field_string_format)

    @override
    def get_validator(self) -> BaseJSONSchemaValidator | None:
        """A compiled validator of the schema as taps write it; the SDK's own if the compiler refuses it."""
        if not self.validate_schema:
            return None
        schema = prepared(self.schema, self.stream_name)
        try:
            return FastJSONSchemaValidator(schema)
        except InvalidJSONSchema:
            self.logger.info("Stream '%s': schema not compilable, using the SDK's validator", self.stream_name)
            return self._sdk_validator(schema)

    @override
    def _validate_and_parse(self, record: dict[str, t.Any]) -> dict[str, t.Any]:
        # The SDK logs each invalid record with a traceback before raising it; the reader names the
        # failing line once (reader.py). Timestamps are not parsed here (see below).
        if self._validator is not None:
            try:
                self._validator.validate(record)
            except InvalidRecord as exc:
                if self.fail_on_record_validation_exception:
                    raise
                self.logger.warning("Record %d of stream '%s': %s", self.cursor.number, self.stream_name, exc)
            except Exception as exc:  # the check itself failed on this record, not the record
                if not isinstance(self._validator, FastJSONSchemaValidator):
                    raise  # the SDK's validator is the last resort: a failure of it is the run's
                self._fall_back(exc)
                return self._validate_and_parse(record)  # judged again, by the SDK's validator
        return record

    @override
    def _parse_timestamps_in_record(self, record: dict[str, t.Any], schema: dict[str, t.Any], treatment: t.Any) -> None:
        # Contacts are text and custom values are converted from the raw strings, so the
        # SDK's parsing of every date-time property into datetime objects is skipped: it
        # was a sixth of the run's time and would only be turned back into strings.
        return

    @override
    def _remove_sdc_metadata_from_record(self, record: dict[str, t.Any]) -> None:
        # The SDK strips the metadata before process_record; keep the one flag we act on
        # (and skip the seven pops for the records that carry none, almost all of them).
        self.deleted = record.get("_sdc_deleted_at") is not None
        if not SDC_PROPERTIES.isdisjoint(record):
            super()._remove_sdc_metadata_from_record(record)
