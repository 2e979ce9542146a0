"""The contract (docs/contract.md) as code: what a run must leave behind, computed without SendGrid.

Given a :class:`Case` (settings, SendGrid's starting account, the input), :func:`expect` returns
the :class:`Expected` end: each list's members, each contact's values, whether and which STATE
may be emitted, the exit code, and the summary's buckets. It knows nothing of the target's code:
it is the contract read literally, small enough to check against ``docs/contract.md`` in one
sitting. ``tests/integration/test_combinations.py`` draws cases and compares the target with it.

Scope (what the generator draws): one stream ``people`` with ``email``, ``fname``, ``segments``,
``ltv`` and ``_sdc_deleted_at``; up to four customers; the lists ``Main`` (``list_id`` or
``list_name``) or ``VIP`` and ``News`` (``segment_lists``); the custom field ``ltv`` (Number) and
mirror's stamp field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

ABSENT = "<absent>"  # a property the record does not have at all
STAMP = "singer_table_version"
SEGMENT_LISTS = {"vip": "VIP", "news": "News"}
VERSION = 2  # the input's table version, when it has one; starting stamps are 1 (older) or 2
HABITS = ("none", "sdk", "pipelinewise", "resumed")  # how a tap sends table versions (see _version_events)
_EMAIL = re.compile(
    r"^[a-z0-9!#$%&'*+/=?^_`{|}~.-]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$"
)


@dataclass(frozen=True)
class Row:
    """One record: values as the tap sends them (ABSENT: the property is missing)."""

    email: Any
    fname: Any = ABSENT
    ltv: Any = ABSENT
    segments: tuple[str, ...] = ()
    deleted: bool = False


@dataclass(frozen=True)
class Member:
    """A contact SendGrid has before the run."""

    email: str
    lists: frozenset[str]  # list names
    fname: str | None = None
    ltv: int | None = None
    stamp: int | None = None
    alternate: str | None = None  # an alternate email: another customer's address


@dataclass(frozen=True)
class Account:
    """SendGrid's account before the run."""

    lists: frozenset[str]
    ltv_type: str | None = None  # the account's custom field ltv: its type, or None when it has none
    stamp_field: bool = False
    contacts: tuple[Member, ...] = ()


@dataclass(frozen=True)
class Case:
    """Settings (beyond the key, the URL and the consent), the starting account and the input."""

    settings: dict[str, Any]
    account: Account
    rows: tuple[Row, ...]
    delivery: str = "record"  # record, batch (JSON Lines files) or batch_gzip
    habit: str = "none"  # table versions: see _version_events
    state_every: int = 2  # a STATE message after every this many records, and one at the end


@dataclass
class Expected:
    """What the run must leave behind; None where the contract leaves a number to the run's timing."""

    ok: bool  # exit code 0
    refused: bool = False  # refused at start: nothing read, nothing sent
    lists: dict[str, frozenset[str]] = field(default_factory=dict)  # list name -> member emails
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)  # email -> {fname, ltv, lists}
    last_state: dict[str, Any] | None = None  # the last STATE emitted (None: no STATE at all)
    state_may_lag: bool = False  # a failure: STATE may stop short of last_state, never pass it
    counts: dict[str, int] = field(default_factory=dict)  # summary buckets known exactly
    upserted: int = 0  # records handed to an upsert: exported + merged_duplicates
    created_lists: frozenset[str] = frozenset()
    created_fields: frozenset[str] = frozenset()
    determined: bool = True  # False: the contract does not fix the outcome of this case (the test skips it)


def states(case: Case) -> list[dict[str, Any]]:
    """The STATE messages of the input, in order."""
    n = len(case.rows)
    marks = [i for i in range(1, n + 1) if i % case.state_every == 0]
    return [{"bookmarks": {"people": {"n": i}}} for i in marks] + [{"bookmarks": {"people": {"n": n, "end": True}}}]


def normal_email(raw: Any) -> tuple[str | None, str | None]:
    """(the email as SendGrid stores it, None) or (None, the rejection reason)."""
    text = "" if raw is None or raw is ABSENT else str(raw).strip().lower()
    if not text:
        return None, "missing email"
    if len(text) > 254 or not _EMAIL.match(text):
        return None, "invalid email"
    return text, None


def text_value(raw: Any) -> str | None:
    """A reserved text field's value: no value for null, absent, "" and blanks."""
    if raw is None or raw is ABSENT:
        return None
    text = str(raw).strip()
    return text[:50] or None


def _long_text(raw: Any) -> str | None:
    """A custom Text field's value (numbers as a person writes them); no value for null, "" and blanks."""
    if raw is None or raw is ABSENT:
        return None
    if isinstance(raw, (int, float, Decimal)) and not isinstance(raw, bool):
        number = Decimal(str(raw))
        return str(int(number)) if number == number.to_integral_value() else format(number.normalize(), "f")
    return str(raw).strip()[:1000] or None


def number_value(raw: Any) -> tuple[Decimal | None, bool]:
    """A Number custom field's value, and whether it was dropped (a text that is not a number)."""
    if raw is None or raw is ABSENT or (isinstance(raw, str) and not raw.strip()):
        return None, False
    try:
        number = Decimal(str(raw).strip())
    except InvalidOperation:
        return None, True
    return (number, False) if number.is_finite() else (None, True)


def expect(case: Case) -> Expected:
    """The end the contract prescribes for ``case``."""
    s = case.settings
    account = case.account
    plan, dry = bool(s.get("plan")), bool(s.get("dry_run"))
    writes = not plan and not dry  # a plan and a dry run change nothing in SendGrid and emit no STATE
    mirror = s.get("sync_mode") == "mirror"
    custom = s.get("custom_field_mapping", {}).get("ltv")
    declared = custom.get("type") if isinstance(custom, dict) else None
    before = Expected(ok=False, refused=True, **_snapshot(account))

    # --- refused at start, before any input is read ----------------------------------------------
    if plan and dry:
        return before
    if dry and (s.get("skip_unchanged") or mirror):
        return before  # both need SendGrid's copy of the lists, which a dry run does not read
    if s.get("deleted_records") == "delete_contacts" and not s.get("hard_delete", True):
        return before  # the flag that deleted_records acts on is switched off
    if custom is not None and declared is not None and account.ltv_type not in (None, declared) and not dry:
        return before  # SendGrid cannot change a field's type (a dry run reads no field definitions)
    if custom is not None and account.ltv_type is None and not s.get("create_custom_fields") and not dry:
        return before  # a dry run cannot see the account: it takes every field as creatable

    # --- what the run resolves at start --------------------------------------------------------------
    selected = {x.lower() for x in s.get("segments", [])}
    # A segment_lists entry of a segment that segments does not select is no target: not created, not judged.
    routed = {k: v for k, v in s.get("segment_lists", {}).items() if not selected or k in selected}
    targets = tuple(sorted(set(routed.values()))) if "segment_lists" in s else ("Main",)
    # The stream's schema types ltv as a number or a string: created undeclared, it is a Text field. A dry run
    # reads no field definitions: it judges values by the declared type, or the type it would create.
    ltv_type = (None if dry else account.ltv_type) or declared or "Text"
    # Each contact SendGrid holds: fname, ltv, stamp (values as stored) and lists (a set of names).
    start: dict[str, dict[str, Any]] = {
        m.email: {"fname": m.fname, "ltv": m.ltv, "stamp": m.stamp, "lists": set(m.lists)} for m in account.contacts
    }
    counts = dict.fromkeys(("records_read", "filtered_by_segment", "deleted_records", "unchanged"), 0)
    counts["custom_values_dropped"] = 0
    rejected: dict[str, int] = {}
    events: list[tuple[str, Any]] = []  # ("upsert", (email, values, lists)) | ("remove", (email, list)), in order
    upserted: list[str] = []
    touched: set[str] = set()  # emails an earlier record of this run upserted, removed or deleted
    deletions: list[str] = []
    sent_to: dict[str, set[str]] = {t: set() for t in targets}  # mirror: emails this run sent (or kept) to a list
    matched: set[str] = set()
    versioned = case.habit != "none"

    for row in case.rows:
        counts["records_read"] += 1
        declared_segments = {x.strip().lower() for x in row.segments}
        matched |= declared_segments & selected
        member_of = sorted(declared_segments & selected) if selected else []
        is_selected = bool(member_of) or not selected
        deleted = row.deleted and s.get("hard_delete", True)
        if not is_selected and not deleted and not s.get("remove_non_members"):
            counts["filtered_by_segment"] += 1
            continue
        email, reason = normal_email(row.email)
        if email is None:
            rejected[str(reason)] = rejected.get(str(reason), 0) + 1
            continue
        earlier = email in touched  # an earlier record of this run changed this contact in SendGrid
        if not is_selected or deleted:
            touched.add(email)  # it leaves the target lists (or, deleted, maybe the account)
            if deleted and s.get("deleted_records") == "delete_contacts":
                if email not in deletions:
                    deletions.append(email)
            else:
                for target in targets:
                    events.append(("remove", (email, target)))
                    sent_to[target].discard(email)
            counts["deleted_records" if deleted else "filtered_by_segment"] += 1
            continue
        values: dict[str, Any] = {"fname": text_value(row.fname)}
        if custom is not None:
            number, dropped = number_value(row.ltv) if ltv_type == "Number" else (_long_text(row.ltv), False)
            values["ltv"] = number
            counts["custom_values_dropped"] += dropped
        lists = _member_lists(s, member_of, declared_segments)
        if mirror and versioned and lists:
            values["stamp"] = VERSION
        if email in deletions:
            deletions.remove(email)  # a later record of a deleted customer: the customer is back
        if (
            s.get("skip_unchanged")
            and not earlier
            and _unchanged(email, values, lists, start, targets, account, mirror)
        ):
            counts["unchanged"] += 1
        else:
            upserted.append(email)
            events.append(("upsert", (email, values, lists)))
            touched.add(email)
        for target in lists:
            sent_to[target].add(email)
        if s.get("remove_non_members"):
            for target in targets:
                if target not in lists:
                    events.append(("remove", (email, target)))
                    sent_to[target].discard(email)
                    touched.add(email)
    counts["rejected"] = sum(rejected.values())
    counts.update({f"rejected:{k}": v for k, v in rejected.items()})
    found = Expected(ok=True, counts=counts, upserted=len(upserted))
    if writes:
        found.created_lists = frozenset(t for t in targets if t not in account.lists)
        found.created_fields = frozenset({"ltv"} if custom is not None and account.ltv_type is None else ())
    last_state: dict[str, Any] | None = states(case)[-1]

    # --- max_contacts: all or nothing ----------------------------------------------------------------
    ceiling = s.get("max_contacts", 100_000)
    if ceiling and len(set(upserted)) > ceiling:  # contacts, however their records fall into requests
        found.ok = False
        made = found.created_lists, found.created_fields
        _keep(found, before, None)
        # Lists and fields are made at start, before the input is read: a new list stays, empty.
        found.created_lists, found.created_fields = made
        found.lists = {**found.lists, **{name: frozenset() for name in found.created_lists}}
        return found

    # --- what SendGrid holds once the run's changes are applied, in order (a plan's would-be account) -----
    contacts = {e: dict(c, lists=set(c["lists"])) for e, c in start.items()}
    for kind, what in events:
        if kind == "upsert":
            email, values, lists = what
            contact = contacts.setdefault(email, {"fname": None, "ltv": None, "stamp": None, "lists": set()})
            contact.update({k: v for k, v in values.items() if v is not None})  # no value leaves SendGrid's alone
            contact["lists"] |= set(lists)
        elif what[0] in contacts:  # by primary email only: a contact holding it as an alternate is another
            contacts[what[0]]["lists"].discard(what[1])

    # --- mirror mode: stale members leave, within the safety stop ---------------------------------------
    complete = False
    if mirror:
        # Versioned: complete at an ACTIVATE_VERSION after the records, or at the end for a version with no
        # record, or at the end with mirror_close_at_end_of_input. Unversioned: the run is complete at its end.
        complete = not versioned or not (
            case.habit == "sdk" and case.rows and not s.get("mirror_close_at_end_of_input")
        )
        leaving: dict[str, set[str]] = {}
        for target in targets:
            now = {e for e, c in contacts.items() if target in c["lists"]}
            if versioned:
                leaving[target] = {e for e in now if (contacts[e]["stamp"] or 0) < VERSION}
            else:
                leaving[target] = now - sent_to[target]
        fraction = s.get("mirror_max_removal_fraction", 0.5)
        stopped = complete and any(
            leaving[t] and len(leaving[t]) / len({e for e, c in contacts.items() if t in c["lists"]}) > fraction
            for t in targets
        )
        if stopped:
            found.ok = False
            if not writes:
                return _keep(found, before, None)
            # Versioned: a STATE before the completing ACTIVATE_VERSION may have gone, never the one after it.
            # Unversioned: every STATE waits for the removals, so none at all.
            found.state_may_lag = versioned
            return _account(found, contacts, account, last_state if versioned else None)
        if complete:
            for target, emails in leaving.items():
                for email in emails:
                    contacts[email]["lists"].discard(target)

    # --- deletions, at the end of the input ----------------------------------------------------------------
    deleting = s.get("deleted_records") == "delete_contacts" and s.get("hard_delete", True)
    if deleting:
        found.counts["deleted_contacts"] = len(deletions)
        for email in deletions:
            contacts.pop(email, None)

    # --- an empty run, and fail_on_empty_export ------------------------------------------------------------
    # A removal counts when the contact exists; a dry run cannot tell, and counts every removal it would ask for.
    removed = any(kind == "remove" and (dry or what[0] in start or what[0] in upserted) for kind, what in events)
    stale = mirror and complete and any(leaving.values())
    did_something = upserted or counts["unchanged"] or removed or deletions or stale
    if (not case.rows or not did_something or selected - matched) and s.get("fail_on_empty_export"):
        found.ok = False  # after the summary and the last STATE
    if not writes:
        return _keep(found, before, None)
    return _account(found, contacts, account, last_state)


def _member_lists(s: dict[str, Any], member_of: list[str], declared: set[str]) -> tuple[str, ...]:
    """The lists a selected record joins (router.member_lists)."""
    if "segment_lists" not in s:
        return ("Main",)
    names = s["segment_lists"]
    if s.get("segments"):
        return tuple(sorted({names[x] for x in member_of if x in names}))
    return tuple(sorted({names[x] for x in declared if x in names}))


def _unchanged(
    email: str,
    values: dict[str, Any],
    lists: tuple[str, ...],
    start: dict[str, dict[str, Any]],
    targets: tuple[str, ...],
    account: Account,
    mirror: bool,
) -> bool:
    """skip_unchanged: SendGrid's copy (read at start) has this contact, as it would be sent, in these lists."""
    copy = start.get(email)
    if copy is None or not copy["lists"] & set(targets):
        return False  # not a member of a target list: the copy does not have it
    if not set(lists) <= copy["lists"]:
        return False
    if values["fname"] != copy["fname"]:
        return False
    if "ltv" in values and values["ltv"] != (Decimal(copy["ltv"]) if copy["ltv"] is not None else None):
        return False
    if mirror:
        stamp = values.get("stamp")
        if stamp is not None and not account.stamp_field:
            return False
        if account.stamp_field and stamp != copy["stamp"]:
            return False
    return True


def _snapshot(account: Account) -> dict[str, Any]:
    lists = {name: frozenset(m.email for m in account.contacts if name in m.lists) for name in account.lists}
    contacts = {m.email: {"fname": m.fname, "ltv": m.ltv, "lists": frozenset(m.lists)} for m in account.contacts}
    return {"lists": lists, "contacts": contacts}


def _keep(found: Expected, before: Expected, last_state: dict[str, Any] | None) -> Expected:
    """Nothing changed in SendGrid (a plan, a dry run, a run over max_contacts)."""
    found.lists, found.contacts, found.last_state = before.lists, before.contacts, last_state
    found.created_lists = found.created_fields = frozenset()
    return found


def _account(
    found: Expected, contacts: dict[str, Any], account: Account, last_state: dict[str, Any] | None
) -> Expected:
    names = set(account.lists) | set(found.created_lists)
    found.lists = {n: frozenset(e for e, c in contacts.items() if n in c["lists"]) for n in names}
    found.contacts = {
        e: {"fname": c["fname"], "ltv": c["ltv"], "lists": frozenset(c["lists"])} for e, c in contacts.items()
    }
    found.last_state = last_state
    return found
