"""Every private name of singer-sdk this project touches: where, why, and the public way if there is one.

Only modules of this subpackage touch them (a layout test keeps it so), and the contract test
(``tests/unit/test_sdk_contract.py``) fails, naming the name, when the installed SDK lacks one:
a new SDK release is then read here first.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TouchPoint:
    """One private SDK name: its owner (``module:Class``, or a module), how it is used, and why."""

    owner: str
    name: str
    use: str  # "override", "extend" (calls the SDK's own), "read", "call" or "import"
    why: str
    public: str = "none"  # the public alternative, and why it does not serve


_TARGET = "singer_sdk.target_base:Target"
_SINK = "singer_sdk.sinks.core:Sink"
_READER = "singer_sdk.singerlib.encoding.base:GenericSingerReader"

TOUCH_POINTS: tuple[TouchPoint, ...] = (
    TouchPoint(
        _TARGET,
        "_handle_termination",
        "override",
        "the SDK drains and exits 0 from inside the signal handler, wherever the main thread was: an "
        "interrupted run would look like a success",
        "none (0.55 guards a second signal, #3698, but still exits from the handler)",
    ),
    TouchPoint(
        _TARGET, "_write_state_message", "override", "json.dumps cannot encode the Decimal the msgspec reader makes"
    ),
    TouchPoint(
        _TARGET,
        "_process_state_message",
        "override",
        "STATE is written once the records before it are in finished import jobs; the SDK writes it "
        "when it drains, ahead of the jobs",
    ),
    TouchPoint(
        _TARGET,
        "_process_activate_version_message",
        "override",
        "a completed table version removes older members in mirror mode",
        "Sink.activate_version: per sink, for SQL sinks, and warns about _sdc_ properties",
    ),
    TouchPoint(
        _TARGET,
        "_process_batch_message",
        "override",
        "each record of a BATCH file takes the RECORD path: stream maps, validation, numbering, STATE",
        "Sink.process_batch_files: hands the sink whole files, past all of those",
    ),
    TouchPoint(_TARGET, "_process_schema_message", "extend", "a new schema resets the direct record path's sinks"),
    TouchPoint(
        _TARGET,
        "_process_record_message",
        "extend",
        "records are numbered, and a stream whose map is the identity skips the record copy and the map "
        "(a third of the run's time)",
    ),
    TouchPoint(
        _TARGET,
        "_handle_max_record_age",
        "extend",
        "the SDK's timed drains send nothing here: the exporter's open batches are sent instead",
    ),
    TouchPoint(_TARGET, "_max_record_age_in_minutes", "read", "whether the SDK is about to drain for age"),
    TouchPoint(_TARGET, "_MAX_RECORD_AGE_IN_MINUTES", "read", "whether the SDK is about to drain for age"),
    TouchPoint(
        _TARGET,
        "_last_full_drain_at",
        "read",
        "the direct record path reads the clock against it before calling _handle_max_record_age, as the SDK "
        "calls that after every record (a call per record was a tenth of the run's time)",
    ),
    TouchPoint(
        _TARGET,
        "_sinks_active",
        "read",
        "the sinks of the direct path, and those whose record counts to complete at the end",
        "get_sink(name): one stream at a time, and it creates sinks",
    ),
    TouchPoint(_TARGET, "_sinks_to_clear", "read", "retired sinks' record counts are completed at the end too"),
    TouchPoint(
        "singer_sdk.plugin_base:PluginBase",
        "_env_var_config",
        "extend",
        "with --config ENV a number setting stays text (the SDK converts integers, booleans and arrays only), and "
        "the schema refuses it: read as a number here",
        "none in 0.54 (parse_environment_config has no number case)",
    ),
    TouchPoint(
        "singer_sdk.helpers._classproperty",
        "classproperty",
        "import",
        "_env_var_config is a class property of the SDK's own kind: an override must be one too",
    ),
    TouchPoint(
        "singer_sdk.helpers._typing",
        "is_number_type",
        "call",
        "which settings _env_var_config reads as numbers: the SDK's own test of a schema's type, as its "
        "parse_environment_config uses for integers",
    ),
    TouchPoint(
        "singer_sdk.plugin_base:PluginBase",
        "append_builtin_config",
        "call",
        "super(Target, cls) skips Target's version: load_method and batch_size_rows mean nothing here",
    ),
    TouchPoint(
        "singer_sdk.plugin_base:SingerCommand",
        "__class__",
        "override",
        "the command the SDK builds takes SendGridCommand's class (expected failures in one line)",
        "none: get_singer_command builds the command with many arguments and no hook for its class",
    ),
    TouchPoint(
        "singer_sdk.plugin_base:SingerCommand",
        "invoke",
        "override",
        "a copy of the SDK's invoke: each refused setting is one line, without its 'Config validation failed'",
        "the method is public; what is copied is its set-up (warnings captured, the excepthook)",
    ),
    TouchPoint(
        _SINK,
        "_validate_and_parse",
        "override",
        "an invalid record is named by its line once, not logged with a traceback first",
    ),
    TouchPoint(
        _SINK,
        "_parse_timestamps_in_record",
        "override",
        "date-times stay the text they came as: parsing them was a sixth of the run and would be undone",
    ),
    TouchPoint(
        _SINK,
        "_remove_sdc_metadata_from_record",
        "extend",
        "the _sdc_deleted_at flag is kept before the metadata is stripped",
        "include_sdc_metadata_properties: adds every metadata property instead",
    ),
    TouchPoint(
        _SINK,
        "_validator",
        "read, write",
        "the compiled check is called directly on the direct path, and switched off when it cannot judge a stream",
    ),
    TouchPoint(_SINK, "_singer_validate_message", "call", "a missing key property raises the SDK's own error"),
    TouchPoint(
        _SINK,
        "_get_context, _after_process_record",
        "call",
        "the direct record path calls the SDK's per-record hooks as its record path does (SingerSink.accept)",
        "none: they are the SDK's hooks for sinks; the direct path calls them when a subclass overrides them",
    ),
    TouchPoint(
        _READER,
        "_process_unknown_message",
        "override",
        "an unknown message type is bad input named by its line (the SDK raises a ValueError, with a traceback)",
    ),
    TouchPoint(
        _READER,
        "process_lines",
        "override",
        "a copy of the SDK's read loop, with the signal guard inline (a signal stops the run only between "
        "messages) and each failure named by its line",
        "the method is public; what is private is the loop it copies, to be compared on each SDK release",
    ),
    TouchPoint(
        "singer_sdk.helpers._batch",
        "BaseBatchFileEncoding, BatchFileFormat, StorageTarget",
        "import",
        "BATCH files are opened on every storage the SDK supports, with its own parsing of the message",
        "none in 0.54 (singer_sdk.batch exports batchers, not readers)",
    ),
)
