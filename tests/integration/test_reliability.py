"""A hostile API, bad input and unsafe settings: nothing lost, nothing leaked, clear errors."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from singer_sdk.exceptions import ConfigValidationError, InvalidRecord

from sendgrid_emulator import SendGridEmulator
from target_sendgrid.delivery.exporter import Exporter
from target_sendgrid.sendgrid.api_errors import SendGridError
from target_sendgrid.singer.reader import INPUT_ERRORS
from tests.support import API_KEY, expected_emails, run_target, singer_lines, target_config


def test_chaos_every_contact_arrives_and_the_key_never_shows(emulator: SendGridEmulator, tmp_path: Path) -> None:
    """429 storms, 20% 503s, 5% connection resets and 20% failed jobs, through the CLI."""
    config = target_config(
        emulator,
        batch_size=700,
        max_contacts=0,
        max_retries=10,
        max_job_attempts=10,
        rejected_records_path=str(tmp_path / "rejected.jsonl"),
    )
    emulator.rate_limit = 4  # per endpoint per 1 s window: polling alone hits it
    emulator.set_faults(error_rate=0.2, reset_rate=0.05, job_failure_rate=0.2)
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "input.singer").write_text("".join(singer_lines(5_000)))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "target_sendgrid.target",
            "--config",
            str(tmp_path / "config.json"),
            "--input",
            str(tmp_path / "input.singer"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert emulator.list_emails(config["list_id"]) == expected_emails(5_000)
    statuses = {r["status"] for r in emulator.requests_made()}
    assert {429, 0}.issubset(statuses) and statuses & {500, 503}, statuses  # the faults really happened
    everything = done.stdout + done.stderr + (tmp_path / "rejected.jsonl").read_text()
    assert API_KEY not in everything
    assert API_KEY[10:30] not in everything
    assert json.loads(done.stdout.splitlines()[-1])["bookmarks"]["profiles"]["replication_key_value"] == 5_000


def test_a_job_pending_too_long_fails_without_state_past_it(emulator: SendGridEmulator) -> None:
    emulator.job_delay = 30
    config = target_config(emulator, job_timeout_seconds=1)
    run = run_target(config, "profiles_mixed.singer", expect_error=True)
    assert "still pending" in str(run.error) and "job_timeout_seconds" in str(run.error)
    assert run.states == []


@pytest.mark.parametrize(
    "url", ["http://api.sendgrid.com", "http://10.0.0.5:3030", "ftp://127.0.0.1", "api.sendgrid.com"]
)
def test_api_url_must_be_tls_unless_loopback(emulator: SendGridEmulator, url: str) -> None:
    with pytest.raises(ConfigValidationError) as info:
        run_target(target_config(emulator, api_url=url, list_id=str(uuid.uuid4())), [])
    assert "https" in str(info.value)
    assert emulator.requests_made() == []


@pytest.mark.parametrize(
    ("scenario", "named"),
    [
        ("malformed_not_json.singer", "Input line 6"),
        ("record_before_schema.singer", "Input line 6 (stream 'orders')"),
        ("record_not_matching_schema.singer", "Input line 6 (stream 'customers')"),
    ],
)
def test_bad_input_fails_clearly_after_settling_what_came_before(
    emulator: SendGridEmulator, scenario: str, named: str
) -> None:
    config = target_config(emulator)
    run = run_target(config, scenario, expect_error=True)
    assert isinstance(run.error, INPUT_ERRORS)
    assert named in str(run.error)
    assert emulator.list_emails(config["list_id"]) == {"a1@example.com", "a2@example.com", "a3@example.com"}
    assert run.states == [{"bookmarks": {"customers": {"replication_key_value": 3}}}]


@pytest.mark.parametrize(
    ("failure", "raised"),
    [(SendGridError("the upsert was refused"), InvalidRecord), (RuntimeError("a bug in closing"), RuntimeError)],
    ids=["sendgrid-error-logged", "bug-raised"],
)
def test_a_failure_while_settling_before_bad_input_is_logged_only_if_expected(
    emulator: SendGridEmulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    failure: Exception,
    raised: type[Exception],
) -> None:
    """SendGrid's refusal while settling: one line, the input's error raised. A bug: raised, never swallowed."""

    def close(exporter: Exporter) -> None:
        raise failure

    monkeypatch.setattr(Exporter, "close", close)
    caplog.set_level(logging.INFO)
    run = run_target(target_config(emulator), "record_not_matching_schema.singer", expect_error=True)
    assert isinstance(run.error, raised)
    assert isinstance(run.error, INPUT_ERRORS) or isinstance(run.error.__context__, INPUT_ERRORS)
    logged = [r.getMessage() for r in caplog.records]
    assert ("While finishing the records before the failure: the upsert was refused" in logged) is (
        raised is InvalidRecord
    )
    assert any(m.startswith("Export failed: ") for m in logged)  # the summary, either way
