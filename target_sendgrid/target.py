"""TargetSendGrid: the plugin the SDK runs, from its settings to the run's summary.

The SDK's message loop, and every private name of the SDK, are in ``singer/``; this module
answers its hooks, each with one call on the run. Settings live in ``settings``; what a run needs is
wired at start (``wiring.py``) into an :class:`~target_sendgrid.run.ExportRun`, which the sinks use too.
"""

from __future__ import annotations

import copy
import logging
import os
import sys
import typing as t

from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import PluginCapabilities, TargetCapabilities
from typing_extensions import override

from target_sendgrid import settings
from target_sendgrid.lifecycle.failures import ExportError, Interrupted
from target_sendgrid.report import RunReport
from target_sendgrid.run import ExportRun
from target_sendgrid.sendgrid.api_errors import SendGridError
from target_sendgrid.settings import Settings
from target_sendgrid.singer.reader import INPUT_ERRORS
from target_sendgrid.singer.target_base import SingerTarget
from target_sendgrid.sinks import SendGridSink
from target_sendgrid.wiring import start_run


class TargetSendGrid(SingerTarget):
    """Exports segments of customer profiles into SendGrid Marketing Campaigns lists."""

    name = "target-sendgrid"
    default_sink_class: type[SendGridSink] = SendGridSink
    capabilities: t.ClassVar = [
        PluginCapabilities.ABOUT,
        PluginCapabilities.BATCH,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.STRUCTURED_LOGGING,
        TargetCapabilities.VALIDATE_RECORDS,
        TargetCapabilities.HARD_DELETE,
    ]
    # A copy: the SDK adds its built-in settings to this dict, and ours stays as declared.
    config_jsonschema = copy.deepcopy(settings.CONFIG_SCHEMA)
    # Failures that come from the input, the settings, the network or SendGrid's answers (a job past
    # job_timeout_seconds is a TimeoutError with its own message): one line each, never a traceback.
    expected_errors = (SendGridError, ExportError, TimeoutError, *INPUT_ERRORS)
    # What finishing the records before a bad input may meet, besides a bug: logged, and the
    # input's failure is the one raised (a bug is raised, chained to it).
    settling_errors = (SendGridError, ExportError, TimeoutError, Interrupted)

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """Check the settings (no network, no file: ``start`` does the run's I/O)."""
        self._versions_seen: set[str] = set()
        self._export_run: ExportRun | None = None
        try:
            super().__init__(*args, **kwargs)  # validates the config against the schema
        except ConfigValidationError as exc:
            unknown = settings.unknown_settings(self.config, self.config_jsonschema["properties"])
            raise ConfigValidationError(exc.args[0], errors=unknown + settings.explain(exc.errors)) from None
        known = self.config_jsonschema["properties"]
        unknown = settings.unknown_settings(self.config, known)
        prefix = self.name.upper().replace("-", "_") + "_"  # the SDK's naming of its variables
        misspelt = settings.unknown_variables(os.environ, prefix, known)
        if kwargs.get("parse_env_config"):  # --config ENV: a misspelt variable is refused like a misspelt key
            unknown += misspelt
        else:  # read from a file (as Meltano passes them): the variable is not read, which a typo must not hide
            for line in misspelt:
                self.logger.warning("%s It is not read: the settings come from the --config file.", line)
        if unknown:
            raise ConfigValidationError("unknown settings", errors=unknown)  # before anything is read or sent
        self.settings = Settings.from_config(self.config)
        if self.settings.api_key != self.config.get("api_key"):
            self.logger.warning("api_key had blanks around it (a paste?); they are not sent")
        settings.check(self.settings)
        for warning in settings.unused(self.settings):
            self.logger.warning("%s", warning)

    @override
    def start(self) -> None:
        """Check the key, and resolve lists and fields, before reading any input (once: ``listen`` calls it
        too). Kept out of ``__init__``, as the SDK's own sinks keep I/O in ``setup()``: constructing the
        plugin (``--about``, a test, an orchestrator's import) touches neither SendGrid nor a file."""
        if self._export_run is None:
            self._export_run = start_run(self.settings, self.cursor, self.emit_state, self.guard.check)

    @property
    def run(self) -> ExportRun:
        """The started run (``start``)."""
        if self._export_run is None:
            raise RuntimeError("the run has not started: call start() (listen does) before reading input")
        return self._export_run

    @override
    def get_sink_class(self, stream_name: str) -> type[SendGridSink]:
        """Every stream's sink (each uses this target's ``run``, ``settings``, ``report`` and ``cursor``)."""
        return self.default_sink_class

    @property
    def report(self) -> RunReport:
        """The run's tallies and rejected-records file."""
        return self.run.report

    # --- the singer layer's hooks -------------------------------------------------------

    @override
    def before_record(self, stream: str, version: t.Any) -> None:
        """In mirror mode, the record's table version stamps its contact (see sync/versions.py)."""
        self.run.note_record(stream, version)

    @override
    def after_record(self, number: int, reached_sink: bool) -> None:
        """The record is handed over: filtered, rejected or queued."""
        self.run.record_done(number, reached_sink)

    @override
    def record_failed(self, number: int, exc: BaseException) -> None:
        """The record being processed when the run stopped gets a bucket (see ``ExportRun.record_failed``)."""
        self.run.record_failed(number, exc)

    @override
    def accept_state(self, state: dict[str, t.Any]) -> None:
        """STATE is written by the exporter once the records before it are settled."""
        self.run.add_state(state)

    @override
    def activate_version(self, stream: str, version: t.Any) -> None:
        """In mirror mode a completed version removes older members; otherwise there is nothing to do."""
        if self.run.activate_version(stream, version):
            return
        if stream not in self._versions_seen:
            self._versions_seen.add(stream)
            self.logger.info(
                "ACTIVATE_VERSION for stream '%s' acknowledged: sync_mode upsert removes no contacts of older table "
                "versions (sync_mode mirror does)",
                stream,
            )

    @override
    def flush_buffered(self) -> None:
        """Send what is buffered, so STATE keeps moving while a slow tap's records trickle in."""
        self.run.flush()

    @override
    def on_input_error(self, exc: BaseException) -> None:
        """A failure while reading: settle what came before a bad input, then report."""
        try:
            if isinstance(exc, INPUT_ERRORS):
                try:
                    self.run.finish_before_failure()
                except self.settling_errors as closing:
                    self.logger.error("While finishing the records before the failure: %s", closing)
            else:
                self.run.abort()
        finally:
            self._log_summary("failed")

    @override
    def on_interrupted(self, stop: Interrupted) -> None:
        """After a signal: let the batches in flight finish (bounded), log the summary, exit non-zero."""
        timeout = self.settings.shutdown_timeout_seconds
        finished = self.run.stop(timeout)
        if not finished:
            self.logger.error("Import jobs still running after shutdown_timeout_seconds=%s; exiting", timeout)
        self._log_summary("interrupted")
        if not finished:  # worker threads would hold the process open: leave without them
            logging.shutdown()
            sys.stdout.flush()
            os._exit(stop.exit_code)
        sys.exit(stop.exit_code)

    @override
    def process_endofpipe(self) -> None:
        """Send the rest, wait for every job, write the last STATE, and log the summary."""
        self.start()  # a no-op after listen; the SDK's test runner may end a run that read no input
        try:
            self.run.finish()
        except Interrupted as stop:
            self.on_interrupted(stop)
        except BaseException:  # whatever stops the run, its summary is logged; the failure is raised as it is
            self._log_summary("failed")
            raise
        super().process_endofpipe()
        silent = self.run.silent_results()
        for warning in silent:
            self.logger.warning("%s", warning)
        self._log_summary("finished")
        if silent and self.settings.fail_on_empty_export:
            raise ExportError(f"fail_on_empty_export: {silent[0].split(':')[0]}; failing the run as asked")

    def _log_summary(self, outcome: str) -> None:
        for line in self.run.end(outcome):
            self.logger.info("%s", line)


if __name__ == "__main__":
    TargetSendGrid.cli()
