"""Accounting: the summary's figures, and a rejected-records file that never holds an email."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

from target_sendgrid.report import RecordRef, RunReport


def test_an_email_key_is_written_hashed_and_named() -> None:
    ref = RecordRef("users", 3, ("id", "email", "alias"), (7, " Ann@X.io ", "ann@x.io"), ("email",))
    key, hashed = ref.safe_key()
    digest = "sha256:" + hashlib.sha256(b"ann@x.io").hexdigest()
    assert key == {"id": 7, "email": digest, "alias": digest}  # any value with an @ is hashed too
    assert hashed == ["email", "alias"]


def test_the_rejected_records_file_is_private_and_holds_no_email(tmp_path: Path) -> None:
    path = tmp_path / "out" / "rejected.jsonl"
    report = RunReport(str(path))
    report.reject(RecordRef("users", 5, ("email",), ("ann@x.io",), ("email",)), "invalid email", "a detail")
    report.close()
    [line] = [json.loads(x) for x in path.read_text().splitlines()]
    assert line["run_id"] == report.run_id and line["record_number"] == 5 and line["reason"] == "invalid email"
    assert "ann@x.io" not in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_summary_names_every_bucket() -> None:
    report = RunReport()
    report.set("records_read", 4)
    report.count("exported", 2)
    report.count("filtered_segment")
    report.reject(RecordRef("s", 4), "missing email")
    summary = report.summary(requests_sent=3)
    assert summary["records_read"] == 4 and summary["exported"] == 2 and summary["filtered_by_segment"] == 1
    assert summary["rejected"] == 1 and summary["rejected_by_reason"] == {"missing email": 1}
    assert summary["requests"] == 3
    assert "would_export" in report.summary(0, dry_run=True) and "exported" not in report.summary(0, dry_run=True)


def test_lists_are_tallied_one_by_one_and_no_list_as_empty() -> None:
    report = RunReport()
    report.count_lists(("A", "B"), 2)
    report.count_lists((), 1)
    assert dict(report.per_list) == {"A": 2, "B": 2, "": 1}
