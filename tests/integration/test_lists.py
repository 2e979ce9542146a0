"""Lists follow the segments: found or created by name, one list per segment, leavers and mirror."""

from __future__ import annotations

from sendgrid_emulator import SendGridEmulator
from tests.support import PREFILLED, Api, prefill, run_target, target_config


def test_list_found_or_created_by_name(emulator: SendGridEmulator) -> None:
    existing = emulator.create_list("Existing")
    run_target(target_config(emulator, list_id=None, list_name="Existing"), "profiles_mixed.singer")
    assert len(emulator.list_emails(existing)) == 4
    run_target(target_config(emulator, list_id=None, list_name="Brand new"), "profiles_mixed.singer")
    [created] = [i for i, lst in emulator.lists.items() if lst["name"] == "Brand new"]
    assert emulator.list_emails(created) == emulator.list_emails(existing)
    assert len(emulator.lists) == 2


def test_two_segments_to_two_lists_with_an_overlapping_contact(emulator: SendGridEmulator) -> None:
    newsletter = emulator.create_list("Newsletter")
    config = target_config(
        emulator,
        list_id=None,
        segments=["vip", "newsletter"],
        segment_lists={"vip": "VIP customers", "newsletter": newsletter},  # a name (created) and an id
    )
    run_target(config, "profiles_mixed.singer")
    [vip] = [i for i, lst in emulator.lists.items() if lst["name"] == "VIP customers"]
    assert emulator.list_emails(vip) == {"ann@example.com", "carl@example.com"}
    assert emulator.list_emails(newsletter) == {"ann@example.com", "bo@example.com"}
    puts = [r for r in emulator.requests_made() if r["method"] == "PUT"]
    # Each request carries one set of lists: ann's first record (vip and newsletter) went once
    # with both list ids; her later record (VIP only) went with the VIP list's request.
    by_lists = {tuple(sorted(p["list_ids"])): sorted(p["emails"]) for p in puts}
    assert len(puts) == len(by_lists) == 3
    assert by_lists[tuple(sorted([vip, newsletter]))] == ["ann@example.com"]
    assert by_lists[(vip,)] == ["ann@example.com", "carl@example.com"]
    assert by_lists[(newsletter,)] == ["bo@example.com"]


def test_leaver_and_deleted_record_leave_the_list_but_stay_contacts(emulator: SendGridEmulator, api: Api) -> None:
    config = target_config(emulator, segments=["vip"], remove_non_members=True)
    prefill(emulator, api, config["list_id"], PREFILLED)
    run = run_target(config, "leavers.singer")
    # bo left the segment, carl was deleted by the tap; dave was not in this run: he stays.
    assert emulator.list_emails(config["list_id"]) == {"ann@example.com", "eve@example.com", "dave@example.com"}
    assert set(PREFILLED) <= emulator.list_emails()  # nobody was deleted from the account
    assert run.summary["removed_from_lists"] == 2
    assert run.summary["deleted_records"] == 1
    assert run.summary["filtered_by_segment"] == 1  # bo, who left
    assert run.states[-1] == {"bookmarks": {"customers": {"replication_key_value": 4}}}


def test_deleted_record_is_removed_even_without_remove_non_members(emulator: SendGridEmulator, api: Api) -> None:
    config = target_config(emulator, segments=["vip"])
    prefill(emulator, api, config["list_id"], PREFILLED)
    run_target(config, "leavers.singer")
    assert emulator.list_emails(config["list_id"]) == {
        "ann@example.com",
        "bo@example.com",
        "dave@example.com",
        "eve@example.com",
    }


def test_mirror_leaves_the_list_equal_to_the_segment(emulator: SendGridEmulator, api: Api) -> None:
    config = target_config(emulator, segments=["vip"], sync_mode="mirror", mirror_max_removal_fraction=0.8)
    prefill(emulator, api, config["list_id"], PREFILLED)
    run = run_target(config, "leavers.singer")
    assert emulator.list_emails(config["list_id"]) == {"ann@example.com", "eve@example.com"}
    assert set(PREFILLED) <= emulator.list_emails()
    assert run.summary["removed_from_lists"] == 3  # carl as a deleted record, then bo and dave by mirror


def test_mirror_removal_fraction_stop_removes_nothing(emulator: SendGridEmulator, api: Api) -> None:
    config = target_config(emulator, segments=["vip"], sync_mode="mirror", hard_delete=False)
    prefill(emulator, api, config["list_id"], PREFILLED + [f"other{i}@example.com" for i in range(6)])
    run = run_target(config, "leavers.singer", expect_error=True)
    assert "mirror_max_removal_fraction=0.5" in str(run.error) and "Nothing was removed" in str(run.error)
    assert set(PREFILLED) <= emulator.list_emails(config["list_id"])
    assert len(emulator.list_emails(config["list_id"])) == 11  # ten prefilled, and eve added


def test_an_interrupted_mirror_run_removes_nothing(emulator: SendGridEmulator, api: Api) -> None:
    config = target_config(emulator, sync_mode="mirror", mirror_max_removal_fraction=1.0)
    prefill(emulator, api, config["list_id"], PREFILLED)
    run_target(config, "malformed_not_json.singer", expect_error=True)
    assert set(PREFILLED) <= emulator.list_emails(config["list_id"])
    assert not [r for r in emulator.requests_made() if r["method"] == "DELETE"]
