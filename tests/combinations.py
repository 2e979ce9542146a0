"""Running one combination case against a fresh emulator, and comparing the end with the contract's model.

Shared by the generated test (``tests/integration/test_combinations.py``) and the cases it found,
kept as scenario files (``tests/integration/test_found_combinations.py``).
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import assume, currently_in_test_context
from hypothesis import note as hypothesis_note

from sendgrid_emulator import SendGridEmulator
from tests.model import ABSENT, STAMP, VERSION, Account, Case, Expected, Row, expect
from tests.model import states as input_states
from tests.support import API_KEY, Api, accounted, run_target


def note(text: str) -> None:
    """Shown with a failing example; in a scenario's own test, kept for the assertion's message."""
    if currently_in_test_context():
        hypothesis_note(text)
    else:
        print(text)  # pytest shows a failing test's output


SCHEMA = {
    "type": "object",
    "properties": {
        "email": {"type": ["string", "null"]},
        "fname": {"type": ["string", "null"]},
        "ltv": {"type": ["number", "string", "null"]},
        "segments": {"type": ["array", "null"], "items": {"type": "string"}},
        "_sdc_deleted_at": {"type": ["string", "null"]},
    },
}


@dataclass
class Outcome:
    """One in-process run: exit, STATE lines, summary, and the error that ended it."""

    ok: bool
    refused: bool
    states: list[dict[str, Any]]
    summary: dict[str, Any]
    error: BaseException | None = None


def prepare(emulator: SendGridEmulator, account: Account) -> dict[str, str]:
    """Make the starting account; returns list name -> id."""
    ids = {name: emulator.create_list(name) for name in sorted(account.lists)}
    fields = {}
    if account.ltv_type:
        fields["ltv"] = emulator.create_custom_field("ltv", account.ltv_type)
    if account.stamp_field:
        fields[STAMP] = emulator.create_custom_field(STAMP, "Number")
    api = Api(emulator.url)
    for member in account.contacts:
        contact: dict[str, Any] = {"email": member.email}
        if member.fname is not None:
            contact["first_name"] = member.fname
        custom = {fields[n]: v for n, v in (("ltv", member.ltv), (STAMP, member.stamp)) if v is not None}
        if custom:
            contact["custom_fields"] = custom
        if member.alternate:
            contact["alternate_emails"] = [member.alternate]
        body = {"list_ids": [ids[n] for n in sorted(member.lists)], "contacts": [contact]}
        assert api("PUT", "/v3/marketing/contacts", json=body).status_code == 202
    emulator.wait_for_jobs()
    return ids


def singer_input(case: Case, folder: Path) -> list[str]:
    """The case's input as a tap would send it (BATCH files written into ``folder``)."""
    lines: list[dict[str, Any]] = [{"type": "SCHEMA", "stream": "people", "schema": SCHEMA, "key_properties": []}]
    versioned = case.habit != "none"
    if case.habit in ("sdk", "pipelinewise"):
        lines.append({"type": "ACTIVATE_VERSION", "stream": "people", "version": VERSION})
    records = [_record(row) for row in case.rows]
    marks = iter(input_states(case))
    if case.delivery == "record":
        for n, record in enumerate(records, start=1):
            message = {"type": "RECORD", "stream": "people", "record": record}
            lines.append({**message, "version": VERSION} if versioned else message)
            if n % case.state_every == 0:
                lines.append({"type": "STATE", "value": next(marks)})
    else:  # one BATCH message per STATE interval, as a tap's batches go
        for start in range(0, len(records), case.state_every):
            chunk = records[start : start + case.state_every]
            lines.append(_batch(chunk, folder, start, gzipped=case.delivery == "batch_gzip"))
            if len(chunk) == case.state_every:
                lines.append({"type": "STATE", "value": next(marks)})
    if case.habit in ("pipelinewise", "resumed"):
        lines.append({"type": "ACTIVATE_VERSION", "stream": "people", "version": VERSION})
    lines.append({"type": "STATE", "value": next(marks)})
    return [json.dumps(m) + "\n" for m in lines]


def _record(row: Row) -> dict[str, Any]:
    record: dict[str, Any] = {"email": row.email, "segments": list(row.segments)}
    for key, value in (("fname", row.fname), ("ltv", row.ltv)):
        if value is not ABSENT:
            record[key] = value
    if row.deleted:
        record["_sdc_deleted_at"] = "2026-12-01T00:00:00Z"
    return record


def _batch(records: list[dict[str, Any]], folder: Path, start: int, gzipped: bool) -> dict[str, Any]:
    data = "".join(json.dumps(r) + "\n" for r in records).encode()
    path = folder / f"people-{start}.jsonl{'.gz' if gzipped else ''}"
    path.write_bytes(gzip.compress(data) if gzipped else data)
    encoding = {"format": "jsonl", "compression": "gzip" if gzipped else "none"}
    return {"type": "BATCH", "stream": "people", "encoding": encoding, "manifest": [path.as_uri()]}


def configure(case: Case, emulator: SendGridEmulator, ids: dict[str, str], sdk_path: bool) -> dict[str, Any]:
    config = {"api_key": API_KEY, "api_url": emulator.url, "data_privacy_consent": True, "max_retries": 2}
    config |= case.settings
    if "list_id" in config:
        config["list_id"] = ids["Main"]
    if sdk_path:  # a stream map that keeps every record: records take the SDK's own path
        config["stream_maps"] = {"people": {"__filter__": "True"}}
    return config


def run(config: dict[str, Any], lines: list[str]) -> Outcome:
    """The target in this process, as the CLI runs it: STATE lines, summary, and whether it failed."""
    try:
        done = run_target(config, lines, expect_error=None)
    except Exception as exc:  # refused at start (settings, custom fields, list)
        return Outcome(False, True, [], {}, exc)
    return Outcome(done.error is None, False, done.states, done.target.run.summary(), done.error)


# --- what the emulator holds ----------------------------------------------------------------------------


@dataclass
class Held:
    lists: dict[str, frozenset[str]]
    contacts: dict[str, dict[str, Any]]
    list_names: frozenset[str]
    field_names: frozenset[str]


def held(emulator: SendGridEmulator) -> Held:
    names = {i: lst["name"] for i, lst in emulator.lists.items()}
    contacts: dict[str, dict[str, Any]] = {}
    for c in emulator.list_contacts():
        ltv = (c.get("custom_fields") or {}).get("ltv")
        contacts[c["email"]] = {
            "fname": c.get("first_name") or None,
            "ltv": Decimal(str(ltv)).normalize() if isinstance(ltv, (int, float)) else ltv,
            "lists": frozenset(names[i] for i in c["list_ids"]),
        }
    lists = {n: frozenset(e for e, c in contacts.items() if n in c["lists"]) for n in names.values()}
    fields = frozenset(f["name"] for f in emulator.custom_fields.values())
    return Held(lists, contacts, frozenset(names.values()), fields)


# --- the comparison ---------------------------------------------------------------------------------------


def check(case: Case, expected: Expected, outcome: Outcome, before: Held, after: Held, sent: list[Any]) -> None:
    note(f"outcome: ok={outcome.ok} refused={outcome.refused} error={outcome.error!r}")
    note(f"states: {outcome.states}")
    note(f"summary: {outcome.summary}")
    if expected.refused:
        assert outcome.refused, "the run should have been refused at start"
        assert sent == [] and outcome.states == []
        return
    assert not outcome.refused, f"refused at start: {outcome.error}"
    assert outcome.ok == expected.ok, f"exit: expected {'0' if expected.ok else 'non-zero'}: {outcome.error!r}"
    expected_lists = {n: m for n, m in expected.lists.items()}
    assert {n: after.lists.get(n, frozenset()) for n in expected_lists} == expected_lists
    assert after.list_names - before.list_names == expected.created_lists
    assert {e: after.contacts.get(e) for e in expected.contacts} == expected.contacts
    assert set(after.contacts) == set(expected.contacts)
    created = after.field_names - before.field_names
    assert created - {STAMP} == expected.created_fields
    if case.settings.get("plan") or case.settings.get("dry_run"):
        assert sent == [], "a plan or a dry run writes nothing"
    # STATE: only what SendGrid holds, in the tap's order.
    all_states = input_states(case)
    positions = [all_states.index(s) for s in outcome.states]
    assert positions == sorted(positions), "STATE out of order"
    if expected.last_state is None:
        assert outcome.states == [], "no STATE may be emitted"
    elif expected.state_may_lag:
        assert expected.last_state not in outcome.states
    else:
        assert outcome.states and outcome.states[-1] == expected.last_state
    summary = outcome.summary
    assert accounted(summary) == summary["records_read"], "the summary does not add up"
    for key, value in expected.counts.items():
        if key.startswith("rejected:"):
            assert summary["rejected_by_reason"].get(key.split(":", 1)[1], 0) == value, key
        else:
            assert summary[key] == value, key
    if outcome.ok:
        exported = summary.get("exported", summary.get("would_export"))
        assert exported + summary["merged_duplicates"] == expected.upserted


def check_plan(
    plan: Outcome, real: Outcome, before: Held, after: Held, plan_writes: list[Any], upserted: set[str]
) -> None:
    """A plan writes nothing, emits no STATE, and predicts the real run made right after it.

    ``upserted``: the emails the real run sent (a contact it creates and then deletes was deleted too).
    """
    note(f"plan summary: {plan.summary}")
    assert plan_writes == [] and plan.states == []
    assert plan.ok == real.ok, f"the plan {'passed' if plan.ok else 'failed'}: {plan.error!r}; the run: {real.error!r}"
    p, r = plan.summary, real.summary
    for key in ("unchanged", "filtered_by_segment", "deleted_records", "rejected", "custom_values_dropped"):
        assert p[key] == r[key], key
    if not real.ok:
        return
    assert p["would_export"] == r["exported"]
    assert p["removed_from_lists"] == r["removed_from_lists"]
    assert p["deleted_contacts"] == r["deleted_contacts"]
    predicted = p["plan"]
    assert set(predicted["create_lists"]) == after.list_names - before.list_names
    assert set(predicted["create_custom_fields"]) == after.field_names - before.field_names
    assert predicted["delete_contacts"] == len((set(before.contacts) | upserted) - set(after.contacts))
    for name, entry in predicted["lists"].items():
        was, now = before.lists.get(name, frozenset()), after.lists.get(name, frozenset())
        assert (entry["add"], entry["remove"]) == (len(now - was), len(was - now)), name


def run_case(case: Case, folder: Path, sdk_path: bool = False, lines: list[str] | None = None) -> tuple[Any, ...]:
    """Run ``case`` (a plan of it first, when it is a real run) and check both against the model.

    ``lines``: the input as a scenario file holds it (else made from the case). Returns what the run
    did, to compare the record paths with each other: the account after it, its STATE lines, its
    outcome and summary (without timings), the writes it sent, and the plan's summary.
    """
    expected = expect(case)
    if currently_in_test_context():
        assume(expected.determined)
    else:
        assert expected.determined, "a scenario's outcome must be fixed by the contract"
    lines = singer_input(case, folder) if lines is None else lines
    with SendGridEmulator(API_KEY, job_delay=0.0, seed=3) as emulator:
        ids = prepare(emulator, case.account)
        config = configure(case, emulator, ids, sdk_path)
        before = held(emulator)
        start = len(emulator.requests_made())
        is_real = not case.settings.get("plan") and not case.settings.get("dry_run") and not expected.refused
        plan = None
        if is_real:
            plan = run({**config, "plan": True}, lines)
            plan_writes = writes_since(emulator, start)
            assert held(emulator).__dict__ == before.__dict__, "the plan changed the account"
            start = len(emulator.requests_made())
        outcome = run(config, lines)
        sent = writes_since(emulator, start)
        puts = [r for r in emulator.requests_made()[start:] if r["method"] == "PUT"]
        upserted = {str(e).lower() for r in puts for e in r.get("emails") or ()}
        after = held(emulator)
        check(case, expected, outcome, before, after, sent)
        if plan is not None:
            check_plan(plan, outcome, before, after, plan_writes, upserted)
        # Lists by name: ids are made afresh by each emulator.
        named = {list_id: lst["name"] for list_id, lst in emulator.lists.items()}
    sent_named = sorted((method, "/".join(named.get(part, part) for part in path.split("/"))) for method, path in sent)
    # The last STATE only: which earlier ones are written depends on when each request's job ends (the
    # model checks every one against the input's order).
    return after, outcome.states[-1:], outcome.ok, outcome.refused, timeless(outcome), timeless(plan), sent_named


def timeless(outcome: Outcome | None) -> dict[str, Any] | None:
    """A summary without what depends on timing (polls of jobs and exports) or on the emulator's ids."""
    if outcome is None:
        return None
    summary = {k: v for k, v in outcome.summary.items() if k not in ("elapsed_seconds", "requests")}
    if "plan" in summary:
        lists = {name: {k: v for k, v in e.items() if k != "id"} for name, e in summary["plan"]["lists"].items()}
        summary["plan"] = {**summary["plan"], "lists": lists}
    return summary


def run_both_paths(case: Case, folder: Path, lines: list[str] | None = None) -> None:
    """Run ``case`` on the direct record path and on the SDK's: each keeps the contract, and they agree."""
    direct = run_case(case, folder, sdk_path=False, lines=lines)
    sdk = run_case(case, folder, sdk_path=True, lines=lines)
    assert sdk == direct, "the SDK's record path and the direct one differ"


def writes_since(emulator: SendGridEmulator, start: int) -> list[tuple[str, str]]:
    reads = ("/v3/marketing/contacts/search", "/v3/marketing/contacts/exports")
    return [
        (r["method"], r["path"])
        for r in emulator.requests_made()[start:]
        if r["method"] != "GET" and not r["path"].startswith(reads)
    ]
