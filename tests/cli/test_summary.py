"""The summary adds up on every ending: each record read is in one bucket, whether the run finished or not."""

from __future__ import annotations

from pathlib import Path

from sendgrid_emulator import SendGridEmulator
from tests.conftest import run_cli
from tests.support import accounted, singer_lines, target_config


def write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "input.singer"
    path.write_text("".join(lines))
    return path


def test_a_finished_run_adds_up(emulator: SendGridEmulator, tmp_path: Path) -> None:
    run = run_cli(target_config(emulator, segments=["vip", "newsletter"]), "profiles_mixed.singer", tmp_path)
    assert run.returncode == 0
    assert run.summary["records_read"] == accounted(run.summary) == 7
    assert run.summary["stopped_run"] == 0


def test_a_run_stopped_by_a_bad_record_counts_that_record(emulator: SendGridEmulator, tmp_path: Path) -> None:
    run = run_cli(target_config(emulator), "record_not_matching_schema.singer", tmp_path)
    assert run.returncode == 1
    summary = run.summary
    assert summary["stopped_run"] == 1
    assert summary["records_read"] == accounted(summary) and summary["records_read"] >= 1


def test_a_run_past_max_contacts_counts_every_contact_as_not_sent(emulator: SendGridEmulator, tmp_path: Path) -> None:
    run = run_cli(target_config(emulator, max_contacts=1000), write(tmp_path, singer_lines(1200)), tmp_path)
    assert run.returncode == 1 and "more than max_contacts=1000" in run.stderr
    summary = run.summary
    assert summary["exported"] == 0 and summary["stopped_run"] == 0
    assert summary["not_sent"] == 1200 - summary["rejected"]  # all or nothing: none was sent
    assert summary["records_read"] == accounted(summary)


def test_a_run_failed_by_sendgrid_counts_what_it_never_confirmed_as_not_sent(
    emulator: SendGridEmulator, tmp_path: Path
) -> None:
    emulator.set_faults(job_failure_rate=1.0)  # every import job ends failed
    config = target_config(emulator, batch_size=500, max_job_attempts=1, max_jobs_in_flight=2)
    run = run_cli(config, write(tmp_path, singer_lines(3000)), tmp_path)
    assert run.returncode == 1 and "ended failed" in run.stderr
    summary = run.summary
    assert summary["exported"] == 0 and summary["not_sent"] > 0
    assert summary["records_read"] == accounted(summary)
    assert run.states == []


def test_an_unchanged_rerun_names_its_cause_and_warns_of_nothing(emulator: SendGridEmulator, tmp_path: Path) -> None:
    config = target_config(emulator, skip_unchanged=True)
    assert run_cli(config, "nightly_base.singer", tmp_path).returncode == 0
    again = run_cli({**config, "fail_on_empty_export": True}, "nightly_base.singer", tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]  # unchanged is no empty export
    assert again.summary["unchanged"] == again.summary["records_read"] > 0
    assert "WARNING" not in again.stderr
    assert f"{again.summary['unchanged']} unchanged, already in SendGrid (skip_unchanged)." in again.stderr


def test_a_run_that_exports_nothing_says_why_and_fails_when_asked(emulator: SendGridEmulator, tmp_path: Path) -> None:
    config = target_config(emulator, segments=["nobody"])
    run = run_cli(config, "profiles_mixed.singer", tmp_path)
    assert run.returncode == 0
    assert "No contact was exported from 7 records: 7 filtered_by_segment." in run.stderr
    failing = run_cli({**config, "fail_on_empty_export": True}, "profiles_mixed.singer", tmp_path)
    assert failing.returncode == 1
    assert "fail_on_empty_export: The segments ['nobody'] matched no record; failing the run as asked" in failing.stderr
    assert failing.summary["records_read"] == accounted(failing.summary) == 7
