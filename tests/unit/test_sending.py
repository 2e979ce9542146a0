"""Delivering one batch against a scripted SendGrid: jobs resubmitted, refusals isolated, every contact counted.

The client is the real one (``run_job``: submission, following, resubmission) over fake endpoints
(``fakes.FakeSendGrid``): no request leaves the process, and no job is pending, so nothing waits.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from target_sendgrid.delivery.exporter import Exporter
from target_sendgrid.delivery.request_batch import Batch, encode
from target_sendgrid.delivery.sending import Delivery
from target_sendgrid.lifecycle.failures import ExportError
from target_sendgrid.report import RecordRef, RunReport
from target_sendgrid.sendgrid.api_errors import BadRequest, NotFound, SendGridError
from tests.unit.fakes import FakeSendGrid, Tap, completed, failed


def batch(emails: list[str], kind: str = "upsert", list_ids: tuple[str, ...] = ("L",)) -> Batch:
    """A batch of these contacts, record numbers from 1 in order."""
    made = Batch(list_ids, 1, 10_000, 6_000_000, kind)
    for number, email in enumerate(emails, 1):
        assert made.add(email, encode({"email": email}) if kind == "upsert" else b"", RecordRef("s", number))
    return made


def delivery(client: FakeSendGrid | None, report: RunReport, attempts: int = 3) -> Delivery:
    return Delivery(client, report, job_timeout=60, max_job_attempts=attempts)


EMAILS = ["a@x.com", "b@x.com", "c@x.com"]


def test_an_upsert_is_accounted_for_from_its_finished_job() -> None:
    sendgrid, report = FakeSendGrid(), RunReport()
    sendgrid.outcomes = [completed(created=1, updated=2)]
    sent = batch(EMAILS)
    delivery(sendgrid, report).deliver(sent)
    assert sendgrid.upserts == [EMAILS]
    assert (report.counts["exported"], report.counts["created"], report.counts["updated"]) == (3, 1, 2)
    assert (report.counts["upserts"], report.counts["jobs"], report.counts["jobs_resubmitted"]) == (1, 1, 0)
    assert report.per_list == {"L": 3} and sent.settled == 3


def test_a_failed_import_job_is_submitted_again() -> None:
    """A job that ends ``failed`` is resubmitted with the same contacts; the run counts both submissions."""
    sendgrid, report = FakeSendGrid(), RunReport()
    sendgrid.outcomes = [failed("internal error"), completed(updated=3)]
    delivery(sendgrid, report).deliver(batch(EMAILS))
    assert sendgrid.upserts == [EMAILS, EMAILS]
    assert (report.counts["upserts"], report.counts["jobs_resubmitted"], report.counts["exported"]) == (2, 1, 3)


def test_jobs_failing_every_attempt_stop_the_export_with_sendgrids_reason() -> None:
    sendgrid, report = FakeSendGrid(), RunReport()
    sendgrid.outcomes = [failed("disk on fire"), failed("disk on fire")]
    sent = batch(EMAILS)
    with pytest.raises(SendGridError, match=r"ended failed 2 times.*disk on fire"):
        delivery(sendgrid, report, attempts=2).deliver(sent)
    assert len(sendgrid.upserts) == 2 and report.counts["exported"] == 0 and sent.settled == 0


def test_a_job_failed_past_the_contact_limit_is_not_submitted_again() -> None:
    sendgrid, report = FakeSendGrid(), RunReport()
    sendgrid.outcomes = [failed("Contact limit exceeded for this plan")]
    with pytest.raises(SendGridError, match="cannot succeed"):
        delivery(sendgrid, report, attempts=5).deliver(batch(EMAILS))
    assert len(sendgrid.upserts) == 1


def test_contacts_a_400_names_are_rejected_and_the_others_sent(tmp_path: Path) -> None:
    """A 400 naming contacts[1]: that record is rejected with SendGrid's message, the others are sent again."""
    sendgrid, report = FakeSendGrid(), RunReport(str(tmp_path / "rejected.jsonl"))
    refusal = [{"field": "contacts[1].email", "message": "email <email> is not valid"}]  # as the transport scrubs
    sendgrid.outcomes = [BadRequest("HTTP 400", 400, refusal)]
    sent = batch(EMAILS)
    delivery(sendgrid, report).deliver(sent)
    report.close()
    assert sendgrid.upserts == [EMAILS, ["a@x.com", "c@x.com"]]
    assert report.rejected == {"rejected by SendGrid": 1} and report.counts["exported"] == 2 and sent.settled == 3
    [line] = (tmp_path / "rejected.jsonl").read_text().splitlines()
    written = json.loads(line)
    assert (written["record_number"], written["detail"]) == (2, "email <email> is not valid")


def test_a_400_naming_no_contact_is_bisected_down_to_the_refused_one() -> None:
    sendgrid, report = FakeSendGrid(), RunReport()
    emails = [f"u{i}@x.com" for i in range(8)]
    sendgrid.refuse = {"u5@x.com"}
    sent = batch(emails)
    delivery(sendgrid, report).deliver(sent)
    delivered = sorted(e for request in sendgrid.upserts[1:] for e in request if "u5@x.com" not in request)
    assert delivered == sorted(set(emails) - {"u5@x.com"})
    assert report.rejected == {"rejected by SendGrid": 1} and report.counts["exported"] == 7 and sent.settled == 8
    assert len(sendgrid.upserts) <= 2 * 3 + 1  # halving: at most two requests per level of 8 -> 1


def test_a_400_refusing_the_list_ids_fails_the_export() -> None:
    sendgrid, report = FakeSendGrid(), RunReport()
    sendgrid.outcomes = [BadRequest("HTTP 400", 400, [{"field": "list_ids", "message": "list does not exist"}])]
    with pytest.raises(ExportError, match="refused the list ids"):
        delivery(sendgrid, report).deliver(batch(EMAILS))
    assert report.rejected == {}


def test_import_job_errors_reject_their_records_itemised_or_not() -> None:
    """errored_count contacts are rejected: those the errors file names by record, the others counted."""
    sendgrid, report = FakeSendGrid(), RunReport()
    sendgrid.outcomes = [completed(updated=1, errored=2)]
    sendgrid.errors = {"job-1": [("c@x.com", "invalid phone"), ("stranger@x.com", "not in this batch")]}
    sent = batch(EMAILS)
    delivery(sendgrid, report).deliver(sent)
    assert report.rejected == {"import job error": 2}
    assert report.counts["exported"] == 1 and report.per_list == {"L": 1}


def test_a_removal_removes_the_contacts_found_and_names_those_no_search_takes() -> None:
    sendgrid, report = FakeSendGrid(), RunReport()
    sendgrid.ids = {"a@x.com": "id-a", "b@x.com": "id-b"}
    sendgrid.unlookable = {"b@x.com"}
    delivery(sendgrid, report).deliver(batch(["a@x.com", "b@x.com", "new@x.com"], "remove"))
    assert sendgrid.removals == [("L", ["id-a"])]
    assert report.counts["removed"] == 1 and report.counts["removals_not_looked_up"] == 1


def test_a_removal_after_a_contact_vanished_removes_the_others() -> None:
    """SendGrid answers 404 for a removal naming a deleted contact: the ones still there are removed again."""
    sendgrid, report = FakeSendGrid(), RunReport()
    sendgrid.ids = {"a@x.com": "id-a", "b@x.com": "id-b"}
    sendgrid.gone = {"id-a"}
    delivery(sendgrid, report).deliver(batch(["a@x.com", "b@x.com"], "remove"))
    assert sendgrid.removals == [("L", ["id-b"])]
    assert report.counts["removed"] == 2  # the vanished contact is out of the list too


def test_a_removal_from_a_list_that_is_gone_fails() -> None:
    """Every contact exists and the removal is a 404 anyway: the list is gone, which is an error."""
    sendgrid, report = FakeSendGrid(), RunReport()
    sendgrid.ids = {"a@x.com": "id-a"}
    sendgrid.lists_gone = {"L"}
    with pytest.raises(NotFound):
        delivery(sendgrid, report).deliver(batch(["a@x.com"], "remove"))


def test_deletions_count_contacts_already_gone_but_not_those_never_looked_up() -> None:
    sendgrid, report = FakeSendGrid(), RunReport()
    sendgrid.ids = {"a@x.com": "id-a", "long@x.com": "id-l"}
    sendgrid.unlookable = {"long@x.com"}
    delivery(sendgrid, report).deliver(batch(["a@x.com", "gone@x.com", "long@x.com"], "delete", ()))
    assert sendgrid.deletions == [["id-a"]]
    assert report.counts["deleted_contacts"] == 2 and report.counts["removals_not_looked_up"] == 1


def test_a_dry_run_counts_without_a_client() -> None:
    report = RunReport()
    dry = delivery(None, report)
    upsert = batch(EMAILS)
    for sent in (upsert, batch(["a@x.com"], "remove"), batch(["a@x.com", "b@x.com"], "delete", ())):
        dry.deliver(sent)
    assert (report.counts["exported"], report.counts["removed"], report.counts["deleted_contacts"]) == (3, 1, 2)
    assert upsert.settled == 3 and report.per_list == {"L": 3}


def test_an_export_through_a_resubmitted_job_moves_state_past_it() -> None:
    """The exporter over a real delivery: a job failed once and resubmitted still settles its records."""
    sendgrid, report = FakeSendGrid(), RunReport()
    sendgrid.outcomes = [failed(), completed(created=2)]
    written: list[dict] = []
    exporter = Exporter(sendgrid, report, written.append, max_job_attempts=2)
    tap = Tap(exporter)
    tap.record("a@x.com")
    tap.record("b@x.com")
    state = tap.state(2)
    exporter.close()
    assert written == [state]
    assert report.counts["jobs_resubmitted"] == 1 and report.counts["created"] == 2
