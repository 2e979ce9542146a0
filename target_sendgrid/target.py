"""TargetSendGrid: the plugin the SDK runs, and the message loop from first message to summary.

Settings live in ``settings``; what a run needs is resolved at start into an
:class:`~target_sendgrid.context.ExportContext`, which the sinks receive.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import sys
import typing as t
from types import FrameType

import click
import msgspec
from singer_sdk.helpers.capabilities import (
    TARGET_VALIDATE_RECORDS_CONFIG,
    PluginCapabilities,
    TargetCapabilities,
)
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.target_base import Target

from target_sendgrid import settings
from target_sendgrid.delivery.exporter import Exporter, MaxContactsExceeded
from target_sendgrid.report import RunReport
from target_sendgrid.run import ExportContext
from target_sendgrid.sendgrid.client import SendGridClient
from target_sendgrid.singer.batch_files import batch_records
from target_sendgrid.singer.command import SendGridCommand, check_config_files
from target_sendgrid.singer.reader import INPUT_ERRORS, SingerInputReader
from target_sendgrid.singer.signals import Interrupted, ShutdownGuard
from target_sendgrid.sinks import SendGridSink


class TargetSendGrid(Target):
    """Exports segments of customer profiles into SendGrid Marketing Campaigns lists."""

    name = "target-sendgrid"
    default_sink_class = SendGridSink
    message_reader_class = SingerInputReader
    capabilities: t.ClassVar = [
        PluginCapabilities.ABOUT,
        PluginCapabilities.BATCH,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.STRUCTURED_LOGGING,
        TargetCapabilities.VALIDATE_RECORDS,
        TargetCapabilities.HARD_DELETE,
    ]
    config_jsonschema = settings.CONFIG_SCHEMA

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """Check the settings and the key, and resolve lists and fields, before reading any input."""
        self.guard = ShutdownGuard()  # before the SDK installs its signal handlers (ours, below)
        self._versions_seen: set[str] = set()
        self._direct: dict[str, SendGridSink] | None = None
        super().__init__(*args, **kwargs)
        settings.check(dict(self.config))
        self.context = ExportContext.start(dict(self.config), self._write_state_message, self.guard.check)
        # The SDK builds sinks itself (add_sink is final), so they get the context through their class.
        self._sink_class = SendGridSink.for_run(self.context)
        if isinstance(self.message_reader, SingerInputReader):
            self.message_reader.on_error = self._on_error
            self.message_reader.guard = self.guard

    @classmethod
    def append_builtin_config(cls, config_jsonschema: dict) -> None:
        """Add the SDK's built-in settings that mean something here.

        ``load_method`` and ``batch_size_rows`` do not apply (an upsert is the only load, and
        ``batch_size`` sizes requests), so only record validation joins the plugin-wide ones.
        """
        for name, schema in TARGET_VALIDATE_RECORDS_CONFIG["properties"].items():  # hard_delete is ours
            config_jsonschema["properties"].setdefault(name, schema)
        super(Target, cls).append_builtin_config(config_jsonschema)

    @classmethod
    def get_singer_command(cls) -> click.Command:
        """The SDK's command, showing expected failures as one line (see cli.py)."""
        command = super().get_singer_command()
        # The SDK builds its SingerCommand with many arguments; SendGridCommand only adds a method.
        command.__class__ = SendGridCommand
        return command

    @classmethod
    def cb_config(cls, ctx: click.Context, param: click.Option, value: tuple[str, ...]) -> t.Any:
        """Read --config files, naming a file that cannot be read (the SDK fails with a traceback)."""
        check_config_files(value)
        return super().cb_config(ctx, param, value)

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

    def listen(self, file_input: t.IO[str] | None = None) -> None:
        """Read every message and finish the export; a termination signal stops it cleanly."""
        # Records make a few small objects each and almost no reference cycles: the cyclic
        # collector, run every 700 allocations by default, cost a tenth of the run. What start-up
        # made is frozen out of its scans, and it runs less often.
        gc.freeze()
        gc.set_threshold(100_000, 50, 100)
        try:
            super().listen(file_input)
        except Interrupted as stop:
            self._stop(stop)

    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        # The SDK drains and exits 0 from inside the handler, wherever the main thread was:
        # orchestrators would take an unfinished run for a success. See shutdown.py.
        self.guard.handle(signum, frame)

    def _stop(self, stop: Interrupted) -> None:
        """After a signal: let the batches in flight finish (bounded), log the summary, exit non-zero."""
        timeout = float(self.config.get("shutdown_timeout_seconds", 300))
        finished = self.context.exporter.stop(timeout)
        if not finished:
            self.logger.error("Import jobs still running after shutdown_timeout_seconds=%s; exiting", timeout)
        self._log_summary("interrupted")
        if not finished:  # worker threads would hold the process open: leave without them
            logging.shutdown()
            sys.stdout.flush()
            os._exit(stop.exit_code)
        sys.exit(stop.exit_code)

    def _write_state_message(self, state: dict) -> None:
        # The SDK writes STATE with json.dumps, which cannot encode the Decimal its msgspec
        # reader makes of every fraction: encode numbers as they came, digit for digit.
        sys.stdout.write(_encode_state(state).decode() + "\n")
        sys.stdout.flush()

    def _process_batch_message(self, message_dict: dict) -> None:
        # The SDK hands a sink whole files, past stream maps, validation and record numbering:
        # each record of a batch file takes the RECORD path instead, one line at a time.
        self._assert_line_requires(message_dict, requires={"stream", "encoding", "manifest"})
        stream = message_dict["stream"]
        for record in batch_records(stream, message_dict["encoding"], message_dict["manifest"]):
            self._process_record_message({"type": "RECORD", "stream": stream, "record": record})
            self.guard.check()  # a signal stops the reading between records, as between messages

    def _process_activate_version_message(self, message_dict: dict) -> None:
        # The SDK's handling is for SQL sinks (and warns about _sdc_ properties): in mirror mode
        # a completed version removes older members (see versions.py); otherwise there is nothing to do.
        self._assert_line_requires(message_dict, requires={"stream", "version"})
        stream = message_dict["stream"]
        if self.context.mirror is not None:
            self.context.mirror.activate_version(stream, message_dict["version"])
            return
        if stream not in self._versions_seen:
            self._versions_seen.add(stream)
            self.logger.info(
                "ACTIVATE_VERSION for stream '%s' acknowledged: sync_mode upsert removes no contacts of older table "
                "versions (sync_mode mirror does)",
                stream,
            )

    def _process_record_message(self, message_dict: dict) -> None:
        context = self.context
        context.record_number += 1
        context.record_reached_sink = False
        if context.mirror is not None:
            context.mirror.note_record(message_dict["stream"], message_dict.get("version"))
        direct = self._direct if self._direct is not None else self._direct_sinks
        sink = direct.get(message_dict.get("stream"))  # type: ignore[arg-type]
        record = message_dict.get("record")
        if sink is not None and type(record) is dict:
            # The SDK's path for a stream whose map is the identity (no stream maps, no flattening),
            # without the record copy, the map and the sink lookup: they were a third of the run's
            # time. Validation, key checks, metrics and counters all stay (SendGridSink.accept).
            sink.accept(record)
            if context.record_number % 1000 == 0:
                self._handle_max_record_age()
        else:
            super()._process_record_message(message_dict)
        if not context.record_reached_sink:
            context.report.count("filtered_map")  # a stream map's __filter__ dropped it
        context.exporter.mark_processed(context.record_number)

    @property
    def _direct_sinks(self) -> dict[str, SendGridSink]:
        """Sinks whose stream map is the identity, by stream: their records take the direct path."""
        if self._direct is None:
            self._direct = {}
            for stream, sink in self._sinks_active.items():
                maps = self.mapper.stream_maps.get(stream) or []
                if (
                    len(maps) == 1
                    and type(maps[0]) is SameRecordTransform
                    and maps[0].stream_alias == stream
                    and not maps[0].flattening_enabled
                    and not sink.include_sdc_metadata_properties
                    and isinstance(sink, SendGridSink)
                ):
                    self._direct[stream] = sink
        return self._direct

    def _process_schema_message(self, message_dict: dict) -> None:
        super()._process_schema_message(message_dict)
        self._direct = None  # a new schema may bring a new sink or a new map

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
        except Interrupted:
            raise
        except BaseException:
            self._log_summary("failed")
            raise
        super().process_endofpipe()
        for warning in self.context.silent_results():
            self.logger.warning("%s", warning)
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
        if self.context.progress is not None:
            self.context.progress.stop()
        summary = self.context.summary()
        self.context.report.close()
        dry = " (dry run)" if self.context.dry_run else ""
        self.logger.info("%s", self.context.destinations())
        self.logger.info("Export %s%s: %s", outcome, dry, json.dumps(summary))


_encode_state = msgspec.json.Encoder(decimal_format="number").encode


if __name__ == "__main__":
    TargetSendGrid.cli()
