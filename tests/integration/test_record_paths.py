"""One record path in behaviour: the direct path and the SDK's own give the same contacts and the same summary.

A stream whose map is the identity takes the direct path (``SingerSink.accept``); any stream map
sends its records through the SDK's ``_process_record_message``. A filter that keeps every
record forces the SDK's path without changing a record.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from singer_sdk.sinks.core import JSONSchemaValidator
from typing_extensions import override

from sendgrid_emulator import SendGridEmulator
from target_sendgrid.singer.reader import INPUT_ERRORS
from target_sendgrid.singer.validation import FastJSONSchemaValidator
from target_sendgrid.sinks import SendGridSink
from target_sendgrid.target import TargetSendGrid
from tests.support import API_KEY, DATA, PREFILLED, Api, Run, prefill, run_target, target_config

SCENARIOS: dict[str, dict[str, Any]] = {
    "profiles_mixed.singer": {"segments": ["vip", "newsletter"]},
    "leavers.singer": {"segments": ["vip"], "remove_non_members": True},
    "custom_fields.singer": {
        "custom_field_mapping": {"lifetime_value": "ltv", "signup_date": "signup", "plan": "plan", "tags": "tags"},
        "create_custom_fields": True,
    },
    "utf8_names_crlf.singer": {},
    "values_as_text.singer": {},
    "email_keyed.singer": {},
    "stream_without_email.singer": {"allow_no_list": True, "list_id": None},
}


def streams(scenario: str) -> list[str]:
    lines = (DATA / scenario).read_text().splitlines()
    return sorted({m["stream"] for m in map(json.loads, filter(None, lines)) if m.get("type") == "SCHEMA"})


def on_path(config: dict[str, Any], scenario: str, sdk_path: bool) -> dict[str, Any]:
    """The config, with a filter keeping every record on each of the scenario's streams if ``sdk_path``."""
    if sdk_path:
        config["stream_maps"] = {s: {"__filter__": "True"} for s in streams(scenario)}
    return config


@pytest.fixture(params=[False, True], ids=["direct", "sdk"])
def sdk_path(request: pytest.FixtureRequest) -> bool:
    """Each record path in turn: the direct one, then the SDK's."""
    return bool(request.param)


def export(scenario: str, sdk_path: bool, tmp_path: Path, target: type[TargetSendGrid] = TargetSendGrid) -> Any:
    """Run a scenario into a fresh account; what the account holds (by list name) and the summary."""
    with SendGridEmulator(API_KEY, job_delay=0.01, seed=7) as emulator:
        config = on_path(target_config(emulator, **SCENARIOS.get(scenario, {})), scenario, sdk_path)
        if config.get("remove_non_members"):
            prefill(emulator, Api(emulator.url), config["list_id"], PREFILLED)
        run = run_target(config, scenario, target=target)
        names = {i: lst["name"] for i, lst in emulator.lists.items()}
        held = sorted(
            (
                c["email"],
                sorted(names[i] for i in c["list_ids"]),
                json.dumps({k: v for k, v in c.items() if k not in ("id", "created_at", "updated_at", "list_ids")}),
            )
            for c in emulator.list_contacts()
        )
        # Polls of jobs and exports depend on timing: the requests compared are those that change or search.
        summary = {k: v for k, v in run.summary.items() if k not in ("elapsed_seconds", "requests")}
        sent = Counter((r["method"], r["contacts"]) for r in emulator.requests_made() if r["method"] != "GET")
        return held, summary, sent, run.states


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_both_record_paths_export_the_same(scenario: str, tmp_path: Path) -> None:
    direct = export(scenario, False, tmp_path)
    sdk = export(scenario, True, tmp_path)
    assert direct[0], "the scenario exported nothing: it would prove nothing"
    assert sdk == direct


class UpperNames(SendGridSink):
    """A sink with the SDK's public preprocess_record hook: first names in capitals."""

    def preprocess_record(self, record: dict, context: dict) -> dict:
        return {**record, "first_name": str(record.get("first_name") or "").upper() or None}


class UpperNamesTarget(TargetSendGrid):
    default_sink_class = UpperNames


def test_preprocess_record_works_on_both_paths(tmp_path: Path) -> None:
    direct = export("utf8_names_crlf.singer", False, tmp_path, UpperNamesTarget)
    sdk = export("utf8_names_crlf.singer", True, tmp_path, UpperNamesTarget)
    assert sdk == direct
    first_names = [json.loads(extra).get("first_name") for _, _, extra in direct[0]]
    assert first_names and all(n == n.upper() for n in first_names if n)
    assert any(n and n != n.lower() for n in first_names)


class BrokenCheck(FastJSONSchemaValidator):
    """A check that fails on every record with something other than a verdict."""

    def __init__(self, schema: dict) -> None:
        super().__init__(schema)

        def compiled(record: dict) -> None:
            raise TypeError("unsupported operand type(s)")

        self.compiled = compiled


class BrokenCheckSink(SendGridSink):
    def get_validator(self) -> BrokenCheck:
        return BrokenCheck(self.schema)


class BrokenCheckTarget(TargetSendGrid):
    default_sink_class = BrokenCheckSink


def test_a_check_that_cannot_judge_a_stream_hands_it_to_the_sdks_validator_once(
    sdk_path: bool, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = export("profiles_mixed.singer", sdk_path, tmp_path, BrokenCheckTarget)
    assert broken == export("profiles_mixed.singer", sdk_path, tmp_path)  # every record exported as usual
    warned = [r.getMessage() for r in caplog.records if "compiled schema check failed" in r.getMessage()]
    assert warned == [
        "Stream 'customers': the compiled schema check failed on record 1 (TypeError), not the record; the SDK's "
        "validator checks this stream's records from now on"
    ]


class HookedSink(SendGridSink):
    """A sink with the SDK's per-record hooks overridden: each call is recorded, in order."""

    calls: list[tuple[str, Any]] = []

    def _get_context(self, record: dict) -> dict:
        self.calls.append(("context", sorted(record)))
        return {"record": len([c for c in self.calls if c[0] == "context"])}  # the record's number in the stream

    def preprocess_record(self, record: dict, context: dict) -> dict:
        self.calls.append(("preprocess", context))
        return record

    def process_record(self, record: dict, context: dict) -> None:
        self.calls.append(("process", context))
        super().process_record(record, context)

    def _after_process_record(self, context: dict) -> None:
        self.calls.append(("after", context))


class HookedTarget(TargetSendGrid):
    default_sink_class = HookedSink


def test_both_record_paths_call_the_sdks_hooks_in_the_same_order(tmp_path: Path) -> None:
    HookedSink.calls = []
    direct = export("profiles_mixed.singer", False, tmp_path, HookedTarget)
    on_direct, HookedSink.calls = HookedSink.calls, []
    sdk = export("profiles_mixed.singer", True, tmp_path, HookedTarget)
    assert sdk == direct
    assert HookedSink.calls == on_direct
    assert [name for name, _ in on_direct[:4]] == ["context", "preprocess", "process", "after"]
    records = (DATA / "profiles_mixed.singer").read_text().count('"type": "RECORD"')
    assert records and len(on_direct) == 4 * records  # every record of the scenario, four hooks each


@contextmanager
def failed_run(
    scenario: str, sdk_path: bool, target: type[TargetSendGrid]
) -> Iterator[tuple[Run, SendGridEmulator, str]]:
    """A run of ``scenario`` expected to fail, on the path asked for, into a fresh account that stays up while the
    test looks: the run, the account and the target list's id."""
    with SendGridEmulator(API_KEY, job_delay=0.01, seed=7) as emulator:
        config = on_path(target_config(emulator), scenario, sdk_path)
        yield run_target(config, scenario, expect_error=True, target=target), emulator, config["list_id"]


def test_after_the_check_fails_an_invalid_record_is_still_refused(sdk_path: bool) -> None:
    """Validation falls back to the SDK's validator, never to none: line 6's customer_id is not an integer."""
    with failed_run("record_not_matching_schema.singer", sdk_path, BrokenCheckTarget) as (run, account, list_id):
        assert isinstance(run.error, INPUT_ERRORS)
        assert "Input line 6 (stream 'customers')" in str(run.error)
        assert account.list_emails(list_id) == {"a1@example.com", "a2@example.com", "a3@example.com"}


class BrokenSdkValidator(JSONSchemaValidator):
    """The SDK's validator, failing on every record with something other than a verdict."""

    @override
    def validate(self, record: dict[str, Any]) -> None:
        raise TypeError("unsupported operand type(s)")


class BrokenSdkValidatorSink(SendGridSink):
    @override
    def get_validator(self) -> BrokenSdkValidator:
        return BrokenSdkValidator(self.schema)


class BrokenSdkValidatorTarget(TargetSendGrid):
    default_sink_class = BrokenSdkValidatorSink


def test_a_failure_of_the_sdks_validator_itself_fails_the_run(sdk_path: bool) -> None:
    """The last resort has no fallback: its failure is raised, never taken as a record let through."""
    with failed_run("profiles_mixed.singer", sdk_path, BrokenSdkValidatorTarget) as (run, account, _):
        assert isinstance(run.error, TypeError)
        assert account.list_contacts() == []
