"""The SDK's Target, with every private name of it this project overrides or reads, and why.

:class:`SingerTarget` keeps the SDK's message loop and reports each message to a public hook
that the plugin (``target_sendgrid.target``) implements: ``start`` before the first line,
``before_record`` and ``after_record``
around each record, ``accept_state``, ``activate_version``, ``flush_buffered``, ``on_input_error``
and ``on_interrupted``. Each override is marked ``@override``; ``tests/unit/test_sdk_contract.py``
fails, naming the name, when the installed SDK no longer has one.
"""

from __future__ import annotations

import math
import sys
import time
import typing as t
from types import FrameType

import click
import msgspec
from singer_sdk.helpers._classproperty import classproperty
from singer_sdk.helpers._typing import is_number_type
from singer_sdk.helpers.capabilities import TARGET_VALIDATE_RECORDS_CONFIG
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.target_base import Target
from typing_extensions import override

from target_sendgrid.lifecycle.failures import Interrupted
from target_sendgrid.lifecycle.signals import ShutdownGuard
from target_sendgrid.singer.batch_files import batch_records
from target_sendgrid.singer.command import SendGridCommand, check_config_files
from target_sendgrid.singer.cursor import RecordCursor
from target_sendgrid.singer.reader import SingerInputReader
from target_sendgrid.singer.sink_base import SingerSink


def _as_number(text: str) -> t.Any:
    """``text`` as a number when it is one (the schema's bounds then judge it); else the text, refused by name."""
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


_requires = SingerInputReader.assert_line_requires  # names the missing keys, never the line
_encode_state = msgspec.json.Encoder(decimal_format="number").encode


class SingerTarget(Target):
    """The SDK's Target: its reading, numbering, STATE and signals as this project needs them."""

    message_reader_class = SingerInputReader
    expected_errors: t.ClassVar[tuple[type[BaseException], ...]] = ()  # shown as one line (see command.py)

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """The guard exists before the SDK installs its signal handlers (``_handle_termination``, below)."""
        self.guard = ShutdownGuard()
        self.cursor = RecordCursor()
        self._record_done = False
        self._direct: dict[str, SingerSink | None] = {}  # stream -> its sink on the direct path, or None
        # stream -> its current table version (the last ACTIVATE_VERSION or versioned RECORD): what a
        # BATCH file's records belong to, since the files carry no version (docs/contract.md, "BATCH").
        self._table_versions: dict[str, t.Any] = {}
        super().__init__(*args, **kwargs)
        self._max_record_age_seconds = self._MAX_RECORD_AGE_IN_MINUTES * 60
        if isinstance(self.message_reader, SingerInputReader):
            self.message_reader.on_start = self.start
            self.message_reader.on_error = self.on_input_error
            self.message_reader.on_interrupted = self.on_interrupted
            self.message_reader.guard = self.guard

    # --- the hooks the plugin implements ----------------------------------------------

    def start(self) -> None:
        """Before the first line is read (``listen`` calls it): the run's I/O, kept out of the constructor."""

    def before_record(self, stream: str, version: t.Any) -> None:
        """A RECORD (numbered ``self.cursor.number``) is about to be processed."""

    def after_record(self, number: int, reached_sink: bool) -> None:
        """Record ``number`` was processed; ``reached_sink`` is False when a stream map dropped it."""

    def record_failed(self, number: int, exc: BaseException) -> None:
        """Processing record ``number`` raised ``exc`` (raised on after this): account for the record."""

    def accept_state(self, state: dict[str, t.Any]) -> None:
        """A STATE message's value (the SDK's own copy is never written: see ``_process_state_message``)."""

    def activate_version(self, stream: str, version: t.Any) -> None:
        """An ACTIVATE_VERSION message."""

    def flush_buffered(self) -> None:
        """Records have waited longer than the SDK's max record age: send what is buffered."""

    def on_input_error(self, exc: BaseException) -> None:
        """A failure while reading, before it is raised."""

    def on_interrupted(self, stop: Interrupted) -> None:
        """A termination signal stopped the run (while reading, or at the end of the input): end the process."""
        raise SystemExit(stop.exit_code)

    def emit_state(self, state: dict[str, t.Any]) -> None:
        """Write a STATE message to standard output, numbers digit for digit."""
        sys.stdout.write(_encode_state(state).decode() + "\n")
        sys.stdout.flush()

    # --- public SDK methods, extended ---------------------------------------------------

    @classmethod
    @override
    def append_builtin_config(cls, config_jsonschema: dict[str, t.Any]) -> None:
        """Add the SDK's built-in settings that mean something here.

        ``load_method`` and ``batch_size_rows`` do not apply (an upsert is the only load, and
        ``batch_size`` sizes requests), so only record validation joins the plugin-wide ones:
        Target's own version is skipped for PluginBase's.
        """
        for name, schema in TARGET_VALIDATE_RECORDS_CONFIG["properties"].items():  # hard_delete is ours
            config_jsonschema["properties"].setdefault(name, schema)
        super(Target, cls).append_builtin_config(config_jsonschema)

    @classmethod
    @override
    def get_singer_command(cls) -> click.Command:
        """The SDK's command, showing expected failures as one line (see ``command``)."""
        command = super().get_singer_command()
        # The SDK builds its SingerCommand with many arguments and offers no hook for its class;
        # SendGridCommand only adds a method, so the built command takes that class.
        command.__class__ = SendGridCommand
        t.cast(SendGridCommand, command).expected_errors = cls.expected_errors
        return command

    @classmethod
    @override
    def cb_config(cls, ctx: click.Context, param: click.Option, value: tuple[str, ...]) -> t.Any:
        """Read --config files, naming a file that cannot be read (the SDK fails with a traceback)."""
        check_config_files(value)
        return super().cb_config(ctx, param, value)

    # --- private SDK names --------------------------------------------------------------

    @classproperty
    @override
    def _env_var_config(cls) -> dict[str, t.Any]:
        # With --config ENV, the SDK converts integers, booleans, arrays and objects, but leaves a number
        # setting ("type": "number") as text, which the schema then refuses ('2.5' is not of type 'number').
        config: dict[str, t.Any] = super()._env_var_config
        for name, value in config.items():
            schema = cls.config_jsonschema["properties"].get(name, {})
            if isinstance(value, str) and is_number_type(schema):
                config[name] = _as_number(value)
        return config

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        # The SDK drains and exits 0 from inside the handler, wherever the main thread was:
        # orchestrators would take an unfinished run for a success. See lifecycle/signals.py.
        self.guard.handle(signum, frame)

    @override
    def _write_state_message(self, state: dict[str, t.Any]) -> None:
        # The SDK writes STATE with json.dumps, which cannot encode the Decimal its msgspec
        # reader makes of every fraction.
        self.emit_state(state)

    @override
    def _process_state_message(self, message_dict: dict[str, t.Any]) -> None:
        # STATE is written once the records before it are settled; the SDK's own copy (written
        # when it drains all sinks) would run ahead of the import jobs.
        _requires(message_dict, {"value"})
        self.accept_state(message_dict["value"])

    @override
    def _process_activate_version_message(self, message_dict: dict[str, t.Any]) -> None:
        # The SDK's handling is for SQL sinks (and warns about _sdc_ properties).
        _requires(message_dict, {"stream", "version"})
        self._table_versions[message_dict["stream"]] = message_dict["version"]
        self.activate_version(message_dict["stream"], message_dict["version"])

    @override
    def _process_batch_message(self, message_dict: dict[str, t.Any]) -> None:
        # The SDK hands a sink whole files, past stream maps, validation and record numbering:
        # each record of a batch file takes the RECORD path instead, one line at a time.
        _requires(message_dict, {"stream", "encoding", "manifest"})
        stream = message_dict["stream"]
        # A record of a batch file belongs to the stream's current table version, as a RECORD would.
        message: dict[str, t.Any] = {"type": "RECORD", "stream": stream}
        if isinstance(stream, str) and (version := self._table_versions.get(stream)) is not None:
            message["version"] = version
        for record in batch_records(stream, message_dict["encoding"], message_dict["manifest"]):
            self._process_record_message({**message, "record": record})
            self.guard.check()  # a signal stops the reading between records, as between messages

    @override
    def _process_schema_message(self, message_dict: dict[str, t.Any]) -> None:
        super()._process_schema_message(message_dict)
        # A schema changes the maps of its stream and the sinks of their aliases: those streams are
        # judged again at their next record (forgetting every stream made many streams quadratic).
        stream = message_dict["stream"]
        self._direct.pop(stream, None)
        for stream_map in self.mapper.stream_maps.get(stream) or []:
            self._direct.pop(stream_map.stream_alias, None)

    @override
    def _process_record_message(self, message_dict: dict[str, t.Any]) -> None:
        cursor = self.cursor
        cursor.number += 1
        cursor.reached_sink = False
        self._record_done = False  # set once the record is handed over, before any drain for age
        stream = message_dict.get("stream")
        version = message_dict.get("version")
        if version is not None and type(stream) is str:
            self._table_versions[stream] = version
        # ``stream`` is whatever the line holds (None, or not a string): checked by catching, not
        # before each record, and the SDK's path then names the error. Hence the three ignores.
        self.before_record(stream, version)  # type: ignore[arg-type]
        try:
            sink = self._direct[stream]  # type: ignore[index]
        except KeyError:
            sink = self._direct_sink(stream)  # type: ignore[arg-type]
        except TypeError:  # not a stream name at all: the SDK's path names the error
            sink = None
        record = message_dict.get("record")
        try:
            if sink is not None and type(record) is dict:
                # The SDK's path for a stream whose map is the identity (no stream maps, no flattening),
                # without the record copy, the map and the sink lookup: they were a third of the run's
                # time. The same hooks in the same order otherwise (SingerSink.accept).
                sink.accept(record)
                self._record_done = True
                if sink.may_fill and sink.is_full:
                    self.drain_one(sink)
                # The SDK checks the records' age after each record; the clock is read here first, so the
                # check costs a subtraction until the SDK's age is reached.
                if time.time() - self._last_full_drain_at > self._max_record_age_seconds:
                    self._handle_max_record_age()
            else:
                super()._process_record_message(message_dict)
        except BaseException as exc:
            if not self._record_done:
                self.record_failed(cursor.number, exc)
            raise
        self.after_record(cursor.number, cursor.reached_sink)

    def _direct_sink(self, stream: str) -> SingerSink | None:
        """The stream's sink if its stream map is the identity (its records take the direct path), else None."""
        active = self._sinks_active.get(stream)
        maps = self.mapper.stream_maps.get(stream) or []
        sink = active if isinstance(active, SingerSink) else None
        direct = (
            sink is not None
            and len(maps) == 1
            and type(maps[0]) is SameRecordTransform
            and maps[0].stream_alias == stream
            and not maps[0].flattening_enabled
            and not sink.include_sdc_metadata_properties
        )
        # Remembered until a SCHEMA of the stream forgets it: a sink appears only through one.
        self._direct[stream] = sink if direct else None
        return sink if direct else None

    @override
    def _handle_max_record_age(self) -> None:
        # The SDK drains every few minutes so that a slow tap's records do not wait for a full
        # batch; its drains send nothing here, so the plugin sends what is buffered.
        self._record_done = True  # the SDK drains after a record: a failure now is not the record's
        if self._max_record_age_in_minutes > self._MAX_RECORD_AGE_IN_MINUTES:
            self.flush_buffered()
        super()._handle_max_record_age()

    @override
    def process_endofpipe(self) -> None:
        """Count every record in the sinks' record_count metrics, then the SDK's drain and clean-up.

        singer-sdk 0.55 closes the metric before it calls ``clean_up`` (meltano/sdk #3697): what a
        sink counted there would be lost, so the counts are completed first.
        """
        for sink in [*self._sinks_to_clear, *self._sinks_active.values()]:
            if isinstance(sink, SingerSink):
                sink.count_records()
        super().process_endofpipe()
