"""TargetSendGrid: the plugin the SDK runs, and the message loop from first message to summary.

Settings live in ``settings``; what a run needs is resolved at start into an
:class:`~target_sendgrid.context.ExportContext`, which the sinks receive.
"""

from __future__ import annotations

import json
import typing as t

from singer_sdk.helpers.capabilities import (
    TARGET_VALIDATE_RECORDS_CONFIG,
    PluginCapabilities,
    TargetCapabilities,
)
from singer_sdk.target_base import Target

from target_sendgrid import settings
from target_sendgrid.client import SendGridClient
from target_sendgrid.context import ExportContext
from target_sendgrid.exporter import Exporter, MaxContactsExceeded
from target_sendgrid.reader import INPUT_ERRORS, SingerInputReader
from target_sendgrid.report import RunReport
from target_sendgrid.sinks import SendGridSink


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
    config_jsonschema = settings.CONFIG_SCHEMA

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """Check the settings and the key, and resolve lists and fields, before reading any input."""
        super().__init__(*args, **kwargs)
        settings.check(dict(self.config))
        self.context = ExportContext.start(dict(self.config), self._write_state_message)
        # The SDK builds sinks itself (add_sink is final), so they get the context through their class.
        self._sink_class = SendGridSink.for_run(self.context)
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

    def get_sink_class(self, stream_name: str) -> type[SendGridSink]:
        """Every stream's sink, bound to this run's context."""
        return self._sink_class

    @property
    def client(self) -> SendGridClient | None:
        """The run's SendGrid client (None in a dry run)."""
        return self.context.client

    @property
    def report(self) -> RunReport:
        """The run's tallies and rejected-records file."""
        return self.context.report

    @property
    def exporter(self) -> Exporter:
        """The run's exporter."""
        return self.context.exporter

    # --- the message loop ---------------------------------------------------------------

    def _process_record_message(self, message_dict: dict) -> None:
        context = self.context
        context.record_number += 1
        context.record_reached_sink = False
        super()._process_record_message(message_dict)
        if not context.record_reached_sink:
            context.report.count("filtered_map")  # a stream map's __filter__ dropped it
        context.exporter.mark_processed(context.record_number)

    def _process_state_message(self, message_dict: dict) -> None:
        # STATE is written by the exporter once the records before it are settled; the SDK's
        # own copy (written when it drains all sinks) would run ahead of the import jobs.
        self._assert_line_requires(message_dict, requires={"value"})
        self.context.exporter.add_state(message_dict["value"])

    def _handle_max_record_age(self) -> None:
        # The SDK drains every few minutes so that a slow tap's records do not wait for a
        # full batch: send what is buffered then, so STATE keeps moving.
        if self._max_record_age_in_minutes > self._MAX_RECORD_AGE_IN_MINUTES:
            self.context.exporter.flush()
        super()._handle_max_record_age()

    def process_endofpipe(self) -> None:
        """Send the rest, wait for every job, write the last STATE, and log the summary."""
        try:
            self.context.finish()
        except BaseException:
            self._log_summary("failed")
            raise
        super().process_endofpipe()
        self._log_summary("finished")

    def _on_error(self, exc: BaseException) -> None:
        """A failure while reading: settle what came before a bad input, then report."""
        if isinstance(exc, (*INPUT_ERRORS, MaxContactsExceeded)):
            try:
                self.context.exporter.close()
            except BaseException as closing:
                self.logger.error("While finishing the records before the failure: %s", closing)
        else:
            self.context.exporter.abort()
        self._log_summary("failed")

    def _log_summary(self, outcome: str) -> None:
        summary = self.context.summary()
        self.context.report.close()
        dry = " (dry run)" if self.context.dry_run else ""
        self.logger.info("Export %s%s: %s", outcome, dry, json.dumps(summary))


if __name__ == "__main__":
    TargetSendGrid.cli()
