"""A newcomer's first hour, over the CLI: mistakes explain themselves, non-results are said, no personal data."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest

from sendgrid_emulator import SendGridEmulator
from tests.conftest import about, run_cli, target_command
from tests.support import API_KEY, DATA, target_config


def run_with_env(config: dict, scenario: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    return subprocess.run(
        target_command(config_path, DATA / scenario),
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


def test_a_config_file_that_is_not_json_is_named_without_a_traceback(tmp_path: Path) -> None:
    config_path = tmp_path / "sendgrid.json"
    config_path.write_text('{"api_key": "SG.secret-in-a-broken-file",\n "list_id": }')
    done = subprocess.run(
        target_command(config_path, DATA / "profiles_mixed.singer"), capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert f"config file {config_path} is not valid JSON (at line 2 column 13)" in done.stderr
    assert "Traceback" not in done.stderr
    assert "SG.secret-in-a-broken-file" not in done.stderr


def test_a_refused_key_is_one_line_and_a_traceback_only_at_debug(emulator: SendGridEmulator, tmp_path: Path) -> None:
    config = target_config(emulator, api_key="SG.wrong-key")
    done = run_with_env(config, "profiles_mixed.singer", tmp_path)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "SendGrid refused the API key (HTTP 401" in errors[0]
    assert "Traceback" not in done.stderr
    debug = run_with_env(config, "profiles_mixed.singer", tmp_path, TARGET_SENDGRID_LOGLEVEL="DEBUG")
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_csv_piped_in_is_named_by_line_without_its_content(emulator: SendGridEmulator, tmp_path: Path) -> None:
    run = run_cli(target_config(emulator), "profiles.csv", tmp_path)
    assert run.returncode == 1
    assert "Input line 1: not valid JSON" in run.stderr and "Singer messages, one JSON object a line" in run.stderr
    assert "Traceback" not in run.stderr
    assert "ann@example.com" not in run.stderr


def test_a_malformed_line_is_never_printed(emulator: SendGridEmulator, tmp_path: Path) -> None:
    run = run_cli(target_config(emulator), "malformed_personal_line.singer", tmp_path)
    assert run.returncode == 1
    assert "Input line 3 (stream 'customers')" not in run.stderr  # not parsed: no stream is known
    assert "Input line 3: not valid JSON (Input data was truncated)" in run.stderr
    assert "secret.person" not in run.stderr and "Secretname" not in run.stderr
    assert run.summary["exported"] == 1  # the record before it still went


def test_about_shows_the_required_settings() -> None:
    required = json.loads(about("--format=json").stdout)["settings"]["required"]
    assert {"api_key", "data_privacy_consent"} <= set(required)


def test_no_list_is_refused_unless_allowed(emulator: SendGridEmulator, tmp_path: Path) -> None:
    config = target_config(emulator, list_id=None)
    run = run_cli(config, "profiles_mixed.singer", tmp_path)
    assert run.returncode == 1
    assert "No list is configured: set list_id, list_name or segment_lists, or set allow_no_list" in run.stderr
    assert not emulator.requests_made("/v3/marketing/contacts")
    run = run_cli({**config, "allow_no_list": True}, "profiles_mixed.singer", tmp_path)
    assert run.returncode == 0 and "to no list" in run.stderr


def test_a_misspelled_segment_is_warned_with_the_names_seen(emulator: SendGridEmulator, tmp_path: Path) -> None:
    run = run_cli(target_config(emulator, segments=["vips"]), "profiles_mixed.singer", tmp_path)
    assert run.returncode == 0
    assert "The segments ['vips'] matched no record" in run.stderr
    assert "Segment names seen in the input: ['dormant', 'newsletter', 'vip']" in run.stderr
    assert "No contact was exported from 7 records" in run.stderr


def test_a_mapped_property_the_stream_lacks_is_warned(emulator: SendGridEmulator, tmp_path: Path) -> None:
    mapping = {"email": "EmailAddress", "first_name": "GivenNam", "last_name": "Surname"}
    run = run_cli(target_config(emulator, field_mapping=mapping), "profiles_mixed.singer", tmp_path)
    assert run.returncode == 0
    assert "Stream 'customers' has no property {'first_name': 'GivenNam'} named in the mapping" in run.stderr
    assert (
        "The stream's properties: Country, EmailAddress, GivenName, Surname, customer_id, segments, zip" in run.stderr
    )


def test_an_empty_input_says_nothing_was_exported(emulator: SendGridEmulator, tmp_path: Path) -> None:
    run = run_cli(target_config(emulator), "empty.singer", tmp_path)
    assert run.returncode == 0
    assert "The input held no RECORD messages, so nothing was exported" in run.stderr


def test_the_rejected_records_file_is_private_marked_per_run_and_holds_no_email(
    emulator: SendGridEmulator, tmp_path: Path
) -> None:
    rejected = tmp_path / "out" / "rejected.jsonl"
    config = target_config(emulator, rejected_records_path=str(rejected))
    first = run_cli(config, "email_keyed.singer", tmp_path)
    second = run_cli(config, "email_keyed.singer", tmp_path)
    assert first.returncode == second.returncode == 0
    assert stat.S_IMODE(rejected.stat().st_mode) == 0o600
    text = rejected.read_text()
    assert "example" not in text.lower() and "Bo" not in text and " at " not in text
    lines = [json.loads(x) for x in text.splitlines()]
    assert len(lines) == 4 and len({x["run_id"] for x in lines}) == 2  # two runs, each marked
    assert all(x["key_hashed"] == ["email"] and x["key"]["email"].startswith("sha256:") for x in lines)
    assert lines[0]["key"] == lines[2]["key"]  # stable: the same address hashes the same way every run
    for run in (first, second):
        run_id = next(x["run_id"] for x in lines if f"under run_id {x['run_id']}" in run.stderr)
        assert f"2 records rejected, listed in {rejected} under run_id {run_id}" in run.stderr


def test_the_summary_names_the_list(emulator: SendGridEmulator, tmp_path: Path) -> None:
    config = target_config(emulator, list_id=None, list_name="Sample segments")
    run = run_cli(config, "profiles_mixed.singer", tmp_path)
    [list_id] = [i for i, lst in emulator.lists.items() if lst["name"] == "Sample segments"]
    assert f"Contacts exported: 4 to list 'Sample segments' ({list_id})." in run.stderr


def test_a_slow_job_shows_progress(emulator: SendGridEmulator, tmp_path: Path) -> None:
    emulator.job_delay = 3.5  # SendGrid's jobs take seconds to minutes
    run = run_cli(target_config(emulator, progress_interval_seconds=1), "profiles_mixed.singer", tmp_path)
    assert run.returncode == 0
    lines = run.stderr.splitlines()
    sending = next(i for i, line in enumerate(lines) if "Sending 4 contacts to list" in line)
    progress = [line for line in lines[sending:] if "Progress: " in line]
    assert len(progress) >= 2, run.stderr
    assert "7 records read, 4 contacts sent, 0 jobs finished, 1 running" in progress[0]


def test_settings_come_from_the_environment_with_config_env(emulator: SendGridEmulator, tmp_path: Path) -> None:
    config = target_config(emulator)
    key = config.pop("api_key")
    done = run_with_env(config, "profiles_mixed.singer", tmp_path, TARGET_SENDGRID_API_KEY=key)
    assert done.returncode == 1  # a file alone: the environment is read only with --config ENV, as the line says
    assert "api_key is missing: set it in the --config file, or add --config ENV to read it" in done.stderr
    config_path = tmp_path / "config.json"
    done = subprocess.run(
        [*target_command(config_path, DATA / "profiles_mixed.singer"), "--config", "ENV"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TARGET_SENDGRID_API_KEY": API_KEY},
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_record_that_does_not_match_its_schema_is_one_line(emulator: SendGridEmulator, tmp_path: Path) -> None:
    run = run_cli(target_config(emulator), "record_not_matching_schema.singer", tmp_path)
    assert run.returncode == 1
    errors = [line for line in run.stderr.splitlines() if "ERROR" in line]
    assert errors == [errors[0]] and "Input line 6 (stream 'customers')" in errors[0]
    assert "data.customer_id must be integer" in errors[0] and "Traceback" not in run.stderr


def test_a_message_missing_a_key_names_the_key_not_the_line(emulator: SendGridEmulator, tmp_path: Path) -> None:
    line = '{"type": "RECORD", "stream": "customers", "recrd": {"email": "secret.person@example.com"}}\n'
    scenario = tmp_path / "missing_key.singer"
    scenario.write_text(line)
    run = run_cli(target_config(emulator), scenario, tmp_path)
    assert run.returncode == 1
    assert "Input line 1 (stream 'customers'): not a Singer message: no record key" in run.stderr
    assert "secret.person" not in run.stderr


@pytest.mark.parametrize(
    ("where", "cause"),
    [
        ("http://127.0.0.1:9", "the connection was refused, nothing listens there (is the emulator running?"),
        ("https://no-such-host.invalid", "its host name is unknown: check api_url"),
        ("https://EMULATOR", "the TLS handshake failed: is it a plain http:// server?"),
    ],
    ids=["refused", "unknown host", "tls to plain http"],
)
def test_an_unreachable_api_url_fails_at_once_in_one_line(
    emulator: SendGridEmulator, tmp_path: Path, where: str, cause: str
) -> None:
    """A wrong address is not a passing fault: no retries before SendGrid has answered once (#31)."""
    api_url = where.replace("EMULATOR", emulator.url.split("//", 1)[1])
    config = target_config(emulator, api_url=api_url)  # max_retries 6: a retried refusal would take a minute
    started = time.monotonic()
    run = run_cli(config, "profiles_mixed.singer", tmp_path)
    assert time.monotonic() - started < 15  # the process's start-up and one attempt, never the retries
    assert run.returncode == 1
    errors = [line for line in run.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and f"Could not connect to {api_url} (GET /v3/scopes): {cause}" in errors[0]
    assert "Retrying" not in run.stderr and "Traceback" not in run.stderr


def test_an_unknown_message_type_is_one_line(emulator: SendGridEmulator, tmp_path: Path) -> None:
    scenario = tmp_path / "unknown_type.singer"
    scenario.write_text(
        '{"type": "RECORDS", "stream": "customers", "record": {"email": "secret.person@example.com"}}\n'
    )
    run = run_cli(target_config(emulator), scenario, tmp_path)
    assert run.returncode == 1
    assert "Input line 1 (stream 'customers'): not a Singer message: unknown type 'RECORDS'" in run.stderr
    assert "Traceback" not in run.stderr and "secret.person" not in run.stderr


def test_an_api_url_ending_in_v3_works_and_another_path_is_refused(emulator: SendGridEmulator, tmp_path: Path) -> None:
    pasted = run_cli(target_config(emulator, api_url=emulator.url + "/v3/"), "profiles_mixed.singer", tmp_path)
    assert pasted.returncode == 0, pasted.stderr[-3000:]
    assert pasted.summary["exported"] == 4
    assert not [r for r in emulator.requests_made("/v3/v3")]  # the documented base, not doubled
    other = run_cli(target_config(emulator, api_url=emulator.url + "/api"), "profiles_mixed.singer", tmp_path)
    assert other.returncode == 1 and "Traceback" not in other.stderr
    assert "api_url must be the API's base URL, without a path: e.g. https://api.sendgrid.com" in other.stderr
