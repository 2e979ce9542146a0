"""skip_unchanged over the CLI: only what differs from SendGrid's own copy is sent, and a failed read sends all."""

from __future__ import annotations

from pathlib import Path

import pytest

from sendgrid_emulator import SendGridEmulator
from tests.conftest import run_cli
from tests.support import EXPORT_VARIANTS, Api, target_config

EMAILS = {f"p{i}@example.com" for i in range(1, 11)}
CUSTOM = {"ltv": "ltv", "signup_date": "signup"}


def sent(emulator: SendGridEmulator, since: int) -> list[str]:
    """The emails upserted by requests after the first ``since``."""
    upserts = [r for r in emulator.requests_made("/v3/marketing/contacts")[since:] if r["method"] == "PUT"]
    return sorted(e for r in upserts for e in r["emails"])


@pytest.fixture
def config(emulator: SendGridEmulator) -> dict:
    return target_config(emulator, skip_unchanged=True, custom_field_mapping=CUSTOM, create_custom_fields=True)


@pytest.mark.parametrize("variant", ["gzip-json-contact_id", "gzip-json-upper-keys", "gzip-csv", "split-files"])
def test_an_unchanged_rerun_sends_nothing(
    emulator: SendGridEmulator, config: dict, tmp_path: Path, variant: str
) -> None:
    for name, value in EXPORT_VARIANTS[variant].items():  # SendGrid's copy read from each export format
        setattr(emulator.export_variants, name, value)
    first = run_cli(config, "nightly_base.singer", tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    assert first.summary["exported"] == 10
    before = len(emulator.requests_made("/v3/marketing/contacts"))
    again = run_cli(config, "nightly_base.singer", tmp_path)
    assert again.returncode == 0
    assert sent(emulator, before) == []
    assert again.summary["unchanged"] == 10 and again.summary["exported"] == 0
    assert again.states == [{"bookmarks": {"profiles": {"done": True}}}]  # skipped records are settled
    assert emulator.list_emails(config["list_id"]) == EMAILS


def test_only_changed_fields_values_and_memberships_are_sent(
    emulator: SendGridEmulator, api: Api, config: dict, tmp_path: Path
) -> None:
    assert run_cli(config, "nightly_base.singer", tmp_path).returncode == 0
    # Members removed from the list in SendGrid's UI come back.
    ids = {c["email"]: c["id"] for c in emulator.list_contacts(config["list_id"])}
    gone = f"{ids['p6@example.com']},{ids['p7@example.com']}"
    api("DELETE", f"/v3/marketing/lists/{config['list_id']}/contacts", params={"contact_ids": gone})
    emulator.wait_for_jobs()
    before = len(emulator.requests_made("/v3/marketing/contacts"))
    # Two field changes (p3's first name, p4's city) and one custom value (p5's ltv).
    run = run_cli(config, "nightly_changed.singer", tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert sent(emulator, before) == [f"p{i}@example.com" for i in (3, 4, 5, 6, 7)]
    assert run.summary["exported"] == 5 and run.summary["unchanged"] == 5
    assert emulator.list_emails(config["list_id"]) == EMAILS
    by_email = {c["email"]: c for c in emulator.list_contacts(config["list_id"])}
    assert by_email["p3@example.com"]["first_name"] == "Peter" and by_email["p4@example.com"]["city"] == "Lyon"


def test_a_failed_export_falls_back_to_sending_everything(
    emulator: SendGridEmulator, config: dict, tmp_path: Path
) -> None:
    assert run_cli(config, "nightly_base.singer", tmp_path).returncode == 0
    emulator.export_variants.fail = True
    before = len(emulator.requests_made("/v3/marketing/contacts"))
    run = run_cli(config, "nightly_base.singer", tmp_path)
    assert run.returncode == 0
    assert "skip_unchanged: could not read the target lists' current members" in run.stderr
    assert "every contact is sent" in run.stderr
    assert sent(emulator, before) == sorted(EMAILS)
    assert run.summary["unchanged"] == 0


def test_one_read_serves_skip_unchanged_and_mirror(emulator: SendGridEmulator, api: Api, tmp_path: Path) -> None:
    config = target_config(
        emulator,
        sync_mode="mirror",
        skip_unchanged=True,
        custom_field_mapping=CUSTOM,
        create_custom_fields=True,
        mirror_max_removal_fraction=0.5,
    )
    assert run_cli(config, "nightly_base.singer", tmp_path).returncode == 0
    stale = ["stale1@example.com", "stale2@example.com"]
    api(
        "PUT",
        "/v3/marketing/contacts",
        json={"list_ids": [config["list_id"]], "contacts": [{"email": e} for e in stale]},
    )
    emulator.wait_for_jobs()
    exports_before = len([r for r in emulator.requests_made("/v3/marketing/contacts/exports") if r["method"] == "POST"])
    before = len(emulator.requests_made("/v3/marketing/contacts"))
    run = run_cli(config, "nightly_base.singer", tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    exports = [r for r in emulator.requests_made("/v3/marketing/contacts/exports") if r["method"] == "POST"]
    assert len(exports) - exports_before == 1  # the read at start served the mirror too
    assert sent(emulator, before) == []
    assert emulator.list_emails(config["list_id"]) == EMAILS  # the stale members left
    assert run.summary["removed_from_lists"] == 2 and run.summary["unchanged"] == 10
