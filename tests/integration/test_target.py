"""The core export against the emulator: mapping, segments, batching, STATE, accounting."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import typing
from collections.abc import Iterator

import pytest
from singer_sdk.exceptions import ConfigValidationError

from sendgrid_emulator import SendGridEmulator
from target_sendgrid.delivery.exporter import Exporter
from target_sendgrid.report import RecordRef, RunReport
from target_sendgrid.sendgrid.api_errors import AuthError
from target_sendgrid.sendgrid.client import SendGridClient
from target_sendgrid.target import TargetSendGrid
from tests.conftest import run_cli
from tests.support import (
    API_KEY,
    StateLines,
    accounted,
    expected_emails,
    run_target,
    singer_lines,
    target_config,
)


def test_exports_the_segment_with_mapped_fields(emulator: SendGridEmulator, tmp_path) -> None:
    rejected = tmp_path / "rejected.jsonl"
    config = target_config(emulator, segments=["vip", "newsletter"], rejected_records_path=str(rejected))
    run = run_target(config, "profiles_mixed.singer")
    contacts = {c["email"]: c for c in emulator.list_contacts(config["list_id"])}
    assert set(contacts) == {"ann@example.com", "bo@example.com", "carl@example.com"}
    assert contacts["ann@example.com"]["first_name"] == "Annie"  # the later record wins
    # What the later record lacks keeps the earlier value, as if both were applied in order;
    # numbers become text.
    assert contacts["ann@example.com"]["postal_code"] == "94103"
    assert contacts["bo@example.com"]["country"] == "KR"
    assert len(contacts["carl@example.com"]["first_name"]) == 50  # truncated at SendGrid's limit
    assert emulator.duplicate_emails == []
    summary = run.summary
    assert summary["records_read"] == 7
    assert summary["exported"] == 3
    assert summary["created"] == 3
    assert summary["filtered_by_segment"] == 1
    assert summary["merged_duplicates"] == 1
    assert summary["rejected_by_reason"] == {"invalid email": 1, "missing email": 1}
    assert summary["values_truncated"] == 1
    assert run.states[-1] == {"bookmarks": {"customers": {"replication_key_value": 7}}}
    lines = [json.loads(line) for line in rejected.read_text().splitlines()]
    assert [(line["key"], line["reason"]) for line in lines] == [
        ({"customer_id": 3}, "invalid email"),
        ({"customer_id": 4}, "missing email"),
    ]
    assert "not-an-email" not in rejected.read_text()


def test_without_segments_every_record_is_exported(emulator: SendGridEmulator) -> None:
    config = target_config(emulator)
    run = run_target(config, "profiles_mixed.singer")
    assert emulator.list_emails(config["list_id"]) == {
        "ann@example.com",
        "bo@example.com",
        "carl@example.com",
        "dara@example.com",
    }
    assert run.summary["filtered_by_segment"] == 0


def test_stream_without_email_is_reported_once(emulator: SendGridEmulator, caplog) -> None:
    config = target_config(emulator, segments=["vip"])
    with caplog.at_level(logging.WARNING):
        run = run_target(config, "stream_without_email.singer")
    warnings = [r for r in caplog.records if "no email-like property" in r.getMessage()]
    assert len(warnings) == 1
    assert "page_views" in warnings[0].getMessage()
    # The stream named like the selected segment makes its records members.
    assert emulator.list_emails(config["list_id"]) == {"eve@example.com", "finn@example.com"}
    assert run.summary["filtered_by_segment"] == 3  # page views are not in the segment
    assert run.states == [{"bookmarks": {"vip": {"replication_key_value": 11}}}]
    # Without segments, the page views are candidates, and rejected for want of an email.
    run = run_target(target_config(emulator), "stream_without_email.singer")
    assert run.summary["rejected_by_reason"] == {"no email property": 3}
    assert run.summary["exported"] == 2


def test_requests_are_filled_to_the_contact_cap(emulator: SendGridEmulator) -> None:
    config = target_config(emulator, batch_size=3000, max_contacts=0)
    run_target(config, singer_lines(10_000))
    puts = [r for r in emulator.requests_made() if r["method"] == "PUT"]
    valid = len(expected_emails(10_000))
    # Batches overlap in flight, so the short last batch may be logged before a full one.
    assert sorted((p["contacts"] for p in puts), reverse=True) == [3000, 3000, 3000, valid - 9000]
    assert emulator.list_emails(config["list_id"]) == expected_emails(10_000)


def test_requests_are_filled_to_the_byte_cap(emulator: SendGridEmulator) -> None:
    cap = 200_000
    config = target_config(emulator, max_request_bytes=cap, max_contacts=0)
    run_target(config, singer_lines(5_000))
    puts = [r for r in emulator.requests_made() if r["method"] == "PUT"]
    assert all(p["bytes"] <= cap for p in puts)
    # Every request but the last batch is full: not even one more contact (< 400 bytes) fitted.
    # (Batches overlap in flight, so the last batch is not always the last request logged.)
    assert sum(p["bytes"] <= cap - 400 for p in puts) <= 1
    total = sum(p["bytes"] for p in puts)
    assert len(puts) == -(-total // cap)  # the fewest requests the cap allows
    assert emulator.list_emails(config["list_id"]) == expected_emails(5_000)


def test_record_count_metric_counts_every_record(emulator: SendGridEmulator, tmp_path) -> None:
    # The metric is added to by the thousand (SendGridSink.accept): the rest must still be counted.
    scenario = tmp_path / "profiles.singer"
    scenario.write_text("".join(singer_lines(2_345)))
    cli = run_cli(target_config(emulator, max_contacts=0), scenario, tmp_path)
    assert cli.returncode == 0, cli.stderr
    counted = [
        json.loads(line.split("METRIC: ", 1)[1])
        for line in cli.stderr.splitlines()
        if "METRIC: " in line and '"record_count"' in line
    ]
    assert sum(point["value"] for point in counted) == 2_345 == cli.summary["records_read"]


def test_dry_run_sends_nothing(emulator: SendGridEmulator) -> None:
    config = target_config(emulator, dry_run=True, segments=["vip"])
    run = run_target(config, "profiles_mixed.singer")
    assert emulator.requests_made() == []
    assert run.target.report.summary(0, dry_run=True)["would_export"] == 2


def test_consent_is_required(emulator: SendGridEmulator) -> None:
    with pytest.raises(ConfigValidationError) as info:
        run_target(target_config(emulator, data_privacy_consent=False), [])
    assert "data_privacy_consent" in " ".join(info.value.errors)
    assert emulator.requests_made() == []


def test_constructing_the_target_touches_neither_sendgrid_nor_a_file(emulator: SendGridEmulator, tmp_path) -> None:
    """The run's I/O waits for ``start`` (listen calls it before the first line): an unknown list is
    refused there, not when the plugin is made (by --about, a test, an orchestrator's import)."""
    rejected = tmp_path / "rejected.jsonl"
    list_id = "0c8a3b1e-6f2d-4a5b-9c7e-1d2f3a4b5c6d"  # a list id's form, of no list
    config = target_config(emulator, list_id=list_id, rejected_records_path=str(rejected))
    target = TargetSendGrid(config=config)
    assert emulator.requests_made() == [] and not rejected.exists()
    with pytest.raises(RuntimeError, match="has not started"):
        _ = target.run
    with pytest.raises(ConfigValidationError) as info:
        target.listen(io.StringIO(""))
    assert list_id in " ".join(info.value.errors)
    assert emulator.requests_made()[0]["path"] == "/v3/scopes"


def test_bad_key_fails_at_start_with_a_hint_and_no_key(emulator: SendGridEmulator) -> None:
    config = target_config(emulator, api_key="SG.wrong-key-that-must-not-leak", max_retries=0)
    with pytest.raises(AuthError) as info:
        run_target(config, [])
    message = str(info.value)
    assert "Marketing" in message and "legacy" in message
    assert "SG.wrong-key" not in message
    assert len(emulator.requests_made()) == 1


@pytest.mark.parametrize(
    ("itemised", "bad_field", "suffix"),
    [
        (True, "first_name", "email"),
        (False, "first_name", "email"),
        (True, "email", "email"),
        (True, "email", "identifier"),
    ],
    ids=["named-by-400", "bisected", "bad-email-named-.email", "bad-email-named-.identifier"],
)
def test_a_refused_contact_never_sinks_its_batch(
    emulator: SendGridEmulator, itemised: bool, bad_field: str, suffix: str
) -> None:
    """Contacts the target lets through but SendGrid refuses are isolated, the rest sent.

    SendGrid names a bad email's field ``contacts[N].email`` or ``contacts[N].identifier``
    (see docs/sendgrid-api.md): both are read by the index alone.
    """
    emulator.itemised_errors = itemised
    emulator.invalid_email_field = suffix
    list_id = emulator.create_list("l")
    report = RunReport()
    exporter = Exporter(SendGridClient(API_KEY, emulator.url), report, lambda state: None)
    good = [f"u{i}@example.com" for i in range(40)]
    for i, email in enumerate(good):
        exporter.add({"email": email}, (list_id,), RecordRef("s", i + 1))
        if i in (7, 30):
            bad = {"email": f"x{i}@example.com", "first_name": 7} if bad_field == "first_name" else {"email": str(i)}
            exporter.add(bad, (list_id,), RecordRef("s", 100 + i))
    exporter.close()
    assert emulator.list_emails(list_id) == set(good)
    assert report.rejected == {"rejected by SendGrid": 2}
    if itemised:  # both named by the first 400, the rest sent in one more request: nothing bisected
        assert len([r for r in emulator.requests_made() if r["method"] == "PUT"]) == 2


def test_failed_jobs_are_submitted_again(emulator: SendGridEmulator) -> None:
    # 12 batches at 50%: all succeeding at once has odds 1 in 4096, one failing 25 times ~1e-7.
    emulator.set_faults(job_failure_rate=0.5)
    config = target_config(emulator, batch_size=250, max_contacts=0, max_job_attempts=25)
    run = run_target(config, singer_lines(3_000))
    assert emulator.list_emails(config["list_id"]) == expected_emails(3_000)
    assert run.summary["jobs_resubmitted"] > 0


def test_max_contacts_is_all_or_nothing(emulator: SendGridEmulator) -> None:
    """An input with more contacts than the ceiling sends none of them, names the count, and moves no STATE."""
    config = target_config(emulator, max_contacts=1500, batch_size=1000)
    lines = singer_lines(3_000, state_every=500)
    run = run_target(config, lines, expect_error=True)
    valid = len(expected_emails(3_000))
    assert f"The input holds {valid} contacts to export, more than max_contacts=1500" in str(run.error)
    assert "nothing was sent" in str(run.error)
    assert emulator.list_emails(config["list_id"]) == set()
    assert [r for r in emulator.requests_made() if r["method"] != "GET"] == []
    assert run.states == []
    summary = run.summary
    assert summary["not_sent"] == valid and summary["exported"] == 0
    assert accounted(summary) == 3_000


def test_max_contacts_within_the_ceiling_sends_everything_at_the_end(emulator: SendGridEmulator) -> None:
    config = target_config(emulator, max_contacts=3_000, batch_size=1000)
    run = run_target(config, singer_lines(3_000, state_every=500))
    assert emulator.list_emails(config["list_id"]) == expected_emails(3_000)
    upserts = [r for r in emulator.requests_made() if r["method"] == "PUT"]
    assert len(upserts) == run.summary["upserts"] == 3  # still full batches, sent once the input ended
    assert run.states[-1]["bookmarks"]["profiles"]["replication_key_value"] == 3_000


def test_state_progresses_while_input_is_still_being_read(emulator: SendGridEmulator) -> None:
    """60,000 records with batch_size 4,000: STATE comes out long before the end, always covered."""
    config = target_config(emulator, batch_size=4000, max_contacts=0)
    lines = singer_lines(60_000)
    written: list[tuple[int, bool]] = []  # each STATE's position, and whether SendGrid held what it covers then

    def covered(state: dict) -> None:
        through = state["bookmarks"]["profiles"]["replication_key_value"]
        written.append((through, expected_emails(through) <= emulator.list_emails(config["list_id"])))

    seen_before_end: list[tuple[int, bool]] = []

    def feed() -> Iterator[str]:
        for n, line in enumerate(lines):
            if n == len(lines) // 2:
                seen_before_end.extend(written)
            yield line

    with contextlib.redirect_stdout(StateLines(covered)):
        # The SDK's reader iterates its input: a generator serves, and shows what was written halfway.
        TargetSendGrid(config=config).listen(typing.cast(typing.IO[str], feed()))
    # Halfway through the input, STATE has already moved on (and each one was covered).
    assert seen_before_end, "no STATE before the end of the input"
    assert seen_before_end[-1][0] >= 4000
    assert written[-1][0] == 60_000
    assert all(was_covered for _, was_covered in written)
    assert emulator.list_emails(config["list_id"]) == expected_emails(60_000)
