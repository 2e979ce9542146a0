"""Removals that never touch the wrong contact: search/emails as SendGrid answers it (spec, ListContactByEmail).

It searches alternate emails too, lower-cases its answer's keys, and refuses items over 100
characters: a removal acts only on the contact whose primary email is the address looked up, and
a long address is looked up another way without failing the others.
"""

from __future__ import annotations

import json
from pathlib import Path

from sendgrid_emulator import SendGridEmulator
from tests.conftest import run_cli
from tests.support import Api, target_config


def leavers(tmp_path: Path, emails: list[str]) -> Path:
    schema = {"properties": {"id": {"type": "integer"}, "email": {"type": "string"}, "segments": {}}}
    lines = [{"type": "SCHEMA", "stream": "people", "schema": schema, "key_properties": ["id"]}]
    lines += [
        {"type": "RECORD", "stream": "people", "record": {"id": n, "email": e, "segments": ["dormant"]}}
        for n, e in enumerate(emails, 1)
    ]
    path = tmp_path / "leavers.singer"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def put(api: Api, emulator: SendGridEmulator, list_id: str, contacts: list[dict]) -> None:
    assert api("PUT", "/v3/marketing/contacts", json={"list_ids": [list_id], "contacts": contacts}).status_code == 202
    emulator.wait_for_jobs()


def test_a_member_whose_alternate_email_is_a_leavers_address_keeps_her_list(
    emulator: SendGridEmulator, api: Api, tmp_path: Path
) -> None:
    config = target_config(emulator, segments=["vip"], remove_non_members=True)
    put(api, emulator, config["list_id"], [{"email": "ann@example.com", "alternate_emails": ["old.ann@example.com"]}])
    run = run_cli(config, leavers(tmp_path, ["Old.Ann@example.com"]), tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert emulator.list_emails(config["list_id"]) == {"ann@example.com"}  # found through her alternate: not hers
    assert run.summary["removed_from_lists"] == 0


def test_a_long_address_among_100_leavers_is_looked_up_another_way_and_every_one_leaves(
    emulator: SendGridEmulator, api: Api, tmp_path: Path
) -> None:
    config = target_config(emulator, segments=["vip"], remove_non_members=True)
    long = "a" * 111 + "@example.com"  # 123 characters: valid for upserts (254), too long for search/emails (100)
    emails = [f"leaver{n}@example.com" for n in range(99)] + [long]
    put(api, emulator, config["list_id"], [{"email": e} for e in emails])
    run = run_cli(config, leavers(tmp_path, emails), tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert emulator.list_emails(config["list_id"]) == set()
    assert run.summary["removed_from_lists"] == 100 and run.summary["removals_not_looked_up"] == 0
    searches = [r for r in emulator.requests_made() if r["path"].startswith("/v3/marketing/contacts/search")]
    assert all(r["status"] == 200 for r in searches)  # no look-up was refused


def test_an_address_no_search_can_take_is_counted_and_named_by_record(
    emulator: SendGridEmulator, api: Api, tmp_path: Path
) -> None:
    config = target_config(emulator, segments=["vip"], remove_non_members=True)
    quoted = "o'" + "b" * 110 + "@example.com"  # too long for search/emails, and a quote SGQL's docs do not escape
    put(api, emulator, config["list_id"], [{"email": "bo@example.com"}, {"email": quoted}])
    run = run_cli(config, leavers(tmp_path, ["bo@example.com", quoted]), tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert emulator.list_emails(config["list_id"]) == {quoted}
    assert run.summary["removals_not_looked_up"] == 1
    assert "1 contacts could not be looked up to leave list" in run.stderr and "(records 2)" in run.stderr
    assert quoted not in run.stderr


def test_a_key_without_marketing_read_is_refused_before_the_input_is_read(
    emulator: SendGridEmulator, tmp_path: Path
) -> None:
    emulator.forbidden_keys.add("SG.no-marketing")
    run = run_cli({**target_config(emulator), "api_key": "SG.no-marketing"}, "profiles_mixed.singer", tmp_path)
    assert run.returncode == 1
    [line] = [x.split(" | ")[-1] for x in run.stderr.splitlines() if "ERROR" in x]
    assert line.startswith("The API key lacks the marketing.read scope")
    assert [r["path"] for r in emulator.requests_made()] == ["/v3/scopes"]  # nothing else asked, nothing sent
    assert "completed processing" not in run.stderr  # the input was never read


def test_when_scopes_do_not_answer_the_run_goes_on(emulator: SendGridEmulator, tmp_path: Path) -> None:
    emulator.scopes_endpoint = False
    run = run_cli(target_config(emulator), "profiles_mixed.singer", tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.summary["exported"] == 4


def test_a_plans_contact_limit_ends_the_run_after_one_attempt_saying_what_to_do(
    emulator: SendGridEmulator, tmp_path: Path
) -> None:
    emulator.contact_limit = 2  # the account may hold 2 contacts; the run brings 4
    run = run_cli(target_config(emulator, max_job_attempts=5), "profiles_mixed.singer", tmp_path)
    assert run.returncode == 1
    [line] = [x.split(" | ")[-1] for x in run.stderr.splitlines() if "ERROR" in x]
    assert "(SendGrid says: you have hit your contact limit): submitting it again cannot succeed" in line
    assert "raise the plan's contact limit" in line
    assert len([r for r in emulator.requests_made() if r["method"] == "PUT"]) == 1  # no resubmission
    assert run.states == [] and run.summary["not_sent"] == 4
    assert emulator.list_contacts() == []


def test_in_mirror_mode_a_changed_email_leaves_the_list_and_stays_a_contact(
    emulator: SendGridEmulator, tmp_path: Path
) -> None:
    # SendGrid makes a second contact for the new address (docs/sendgrid-api.md, "Identifiers"): the old one
    # stays in its lists unless something removes it. Mirror mode does, once the run completes.
    config = target_config(emulator, sync_mode="mirror")
    assert run_cli(config, "email_change_before.singer", tmp_path).returncode == 0
    run = run_cli(config, "email_change_after.singer", tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert emulator.list_emails(config["list_id"]) == {"ann.new@example.com", "bo@example.com"}
    assert {"ann.old@example.com", "ann.new@example.com"} <= emulator.list_emails()  # both contacts remain
    assert run.summary["removed_from_lists"] == 1


def test_in_upsert_mode_a_changed_email_leaves_the_customer_in_the_list_twice(
    emulator: SendGridEmulator, tmp_path: Path
) -> None:
    config = target_config(emulator)
    assert run_cli(config, "email_change_before.singer", tmp_path).returncode == 0
    assert run_cli(config, "email_change_after.singer", tmp_path).returncode == 0
    assert {"ann.old@example.com", "ann.new@example.com"} <= emulator.list_emails(config["list_id"])
