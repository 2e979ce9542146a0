"""Table versions in mirror mode: when a version is complete, and when STATE must wait for the end."""

from __future__ import annotations

from target_sendgrid.sync.versions import TableVersions


def test_a_first_record_of_a_version_changes_what_the_run_knows_once() -> None:
    versions = TableVersions()
    assert versions.record("users", 1) is True
    assert versions.record("users", 1) is False
    assert versions.record("users", 2) is True  # a new version
    assert versions.versioned_streams == {"users"}


def test_an_activate_version_after_its_records_completes_it() -> None:
    versions = TableVersions()
    versions.record("users", 7)
    assert versions.activate("users", 7) == 7
    assert "users" not in versions.open


def test_an_activate_version_before_any_record_announces_it() -> None:
    versions = TableVersions()
    assert versions.activate("users", 8) is None
    assert versions.open["users"].announced and not versions.open["users"].records
    assert versions.holds_state()  # it may complete at the end of the input


def test_an_announced_version_with_no_record_completes_at_the_end() -> None:
    versions = TableVersions()
    versions.activate("users", 8)
    assert versions.at_end() == ([("users", 8)], [])


def test_a_version_with_records_and_no_closing_message_stays_open_at_the_end() -> None:
    versions = TableVersions()
    versions.activate("users", 8)
    versions.record("users", 8)
    assert not versions.holds_state()
    assert versions.at_end() == ([], [("users", 8)])


def test_close_at_end_completes_every_open_version() -> None:
    versions = TableVersions(close_at_end=True)
    versions.record("users", 3)
    versions.record("orders", 4)
    assert versions.holds_state()
    complete, left_open = versions.at_end()
    assert sorted(complete) == [("orders", 4), ("users", 3)] and left_open == []


def test_an_activate_version_of_another_version_restarts_the_stream() -> None:
    versions = TableVersions()
    versions.record("users", 1)
    assert versions.activate("users", 2) is None  # not the version being read: a new announcement
    assert versions.open["users"].version == 2
