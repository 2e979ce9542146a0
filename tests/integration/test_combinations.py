"""Every combination of settings and inputs, drawn by Hypothesis and checked against the contract's model.

Each example starts a fresh emulator with a drawn account (lists, contacts with values, stamps
and alternate emails, custom fields), runs the target in process on drawn input (RECORDs or
BATCH files, with or without table versions), and compares what the emulator holds, the STATE
lines, the exit code and the summary with :func:`tests.model.expect`. Every example that is a
real run is first made as a plan, which must write nothing and predict the real run exactly.

``--hypothesis-profile=thorough`` runs thousands of examples (see the README, "Tests").
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.combinations import run_both_paths
from tests.model import ABSENT, HABITS, SEGMENT_LISTS, VERSION, Account, Case, Member, Row, expect

EMAILS = ("ann@x.io", "bo@x.io", "cy@x.io", "dee@x.io")
MAPPINGS = {"absent": None, "full": {"email": "email", "first_name": "fname"}, "partial": {"first_name": "fname"}}

# --- drawing cases ------------------------------------------------------------------------------------

rows = st.builds(
    Row,
    email=st.sampled_from([*EMAILS, " Ann@X.io ", "not-an-email", None, "", "  "]),
    fname=st.sampled_from([ABSENT, None, "", "   ", "Ann", " Zoe ", "Old"]),
    ltv=st.sampled_from([ABSENT, None, "", " ", 7, "12.5", "abc"]),
    segments=st.sampled_from([(), ("vip",), ("news",), ("vip", "news"), (" VIP ",)]),
    deleted=st.booleans(),
)


@st.composite
def accounts(draw: st.DrawFn, need_main: bool) -> Account:
    lists = {"Other"} | {n for n in ("Main", "VIP", "News") if draw(st.booleans())}
    if need_main:
        lists.add("Main")
    ltv_type = draw(st.sampled_from([None, "Number", "Text"]))
    stamp_field = draw(st.booleans())
    contacts = []
    for email in EMAILS:
        if draw(st.booleans()):
            contacts.append(
                Member(
                    email,
                    frozenset(draw(st.sets(st.sampled_from(sorted(lists))))),
                    fname=draw(st.sampled_from([None, "Ann", "Old"])),
                    ltv=draw(st.sampled_from([None, 7])) if ltv_type == "Number" else None,
                    stamp=draw(st.sampled_from([None, 1, VERSION])) if stamp_field else None,
                )
            )
    if draw(st.booleans()):  # a stranger who has a customer's address as an alternate email
        member_of = frozenset(draw(st.sets(st.sampled_from(sorted(lists)), min_size=1)))
        contacts.append(Member("zed@x.io", member_of, alternate="bo@x.io"))
    return Account(frozenset(lists), ltv_type, stamp_field, tuple(contacts))


@st.composite
def cases(draw: st.DrawFn) -> Case:
    destination = draw(st.sampled_from(["list_id", "list_name", "segment_lists"]))
    s: dict[str, Any] = {}
    if destination == "segment_lists":
        s["segment_lists"] = dict(SEGMENT_LISTS)
        s["segments"] = draw(st.sampled_from([["vip", "news"], [], ["vip"]]))
    else:
        s[destination] = "Main"
        s["segments"] = draw(st.sampled_from([[], ["vip"], ["vip", "news"]]))
    mode = draw(st.sampled_from(["run", "run", "run", "plan", "dry_run", "plan+dry_run"]))
    s["plan"], s["dry_run"] = "plan" in mode, "dry_run" in mode
    s["sync_mode"] = draw(st.sampled_from(["upsert", "mirror"]))
    s["mirror_close_at_end_of_input"] = draw(st.booleans())
    s["skip_unchanged"] = draw(st.booleans())
    s["remove_non_members"] = draw(st.booleans())
    s["hard_delete"] = draw(st.sampled_from([True, True, False]))
    s["deleted_records"] = draw(st.sampled_from(["remove_from_lists", "delete_contacts"]))
    s["max_contacts"] = draw(st.sampled_from([100_000, 0, 1, 3]))
    s["batch_size"] = draw(st.sampled_from([False, False, 1, 2]))  # False: the default; small: records cross requests
    s["fail_on_empty_export"] = draw(st.booleans())
    custom = draw(st.sampled_from(["none", "plain", "declared"]))
    if custom != "none":
        s["custom_field_mapping"] = {"ltv": "ltv" if custom == "plain" else {"property": "ltv", "type": "Number"}}
        s["create_custom_fields"] = draw(st.booleans())
    mapping = MAPPINGS[draw(st.sampled_from(sorted(MAPPINGS)))]
    if mapping is not None:
        s["field_mapping"] = mapping
    # A False or empty setting is left out (its default), but hard_delete, whose default is true.
    s = {k: v for k, v in s.items() if (v is not False or k == "hard_delete") and v != []}
    account = draw(accounts(need_main=destination == "list_id"))
    delivery = draw(st.sampled_from(["record", "record", "batch", "batch_gzip"]))
    habits = HABITS if delivery == "record" else ("none", "sdk")  # batch files come from singer-sdk taps
    habit = draw(st.sampled_from(habits))
    drawn = tuple(draw(st.lists(rows, max_size=7)))
    return Case(s, account, drawn, delivery, habit, draw(st.integers(1, 3)))


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(case=cases())
def test_every_combination_keeps_the_contract_on_both_record_paths(
    case: Case, tmp_path_factory: pytest.TempPathFactory
) -> None:
    run_both_paths(case, tmp_path_factory.mktemp("batch"))


def test_the_model_is_not_vacuous() -> None:
    """The model predicts changes, removals, failures and refusals: a comparison with it can fail."""
    one = Row("ann@x.io", fname="Ann", segments=("vip",))
    base = Account(frozenset({"Main", "Other"}))
    assert expect(Case({"list_name": "Main"}, base, (one,))).lists["Main"] == {"ann@x.io"}
    refused = expect(Case({"list_name": "Main", "plan": True, "dry_run": True}, base, (one,)))
    assert refused.refused and not refused.ok
    stale = Account(
        base.lists, contacts=(Member("bo@x.io", frozenset({"Main"})), Member("cy@x.io", frozenset({"Main"})))
    )
    mirrored = expect(Case({"list_name": "Main", "sync_mode": "mirror"}, stale, (one,)))
    assert not mirrored.ok  # two of three members would leave: the safety stop
    assert replace(mirrored, ok=True) != mirrored
