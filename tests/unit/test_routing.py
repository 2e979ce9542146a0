"""Routing records to lists: the default list, one list per segment, and lists named in messages."""

from __future__ import annotations

from target_sendgrid.contacts.routing import ListRouter


def test_with_one_list_every_member_goes_to_it() -> None:
    router = ListRouter("L", {}, segments_selected=True)
    assert router.member_lists(["vip"], set()) == ("L",)
    assert router.member_lists(None, set()) == ()  # filtered out


def test_selected_segments_go_to_their_own_lists_and_the_rest_to_the_default() -> None:
    router = ListRouter("D", {"VIP": "V", "news": "N"}, segments_selected=True)
    assert router.member_lists(["vip", "news"], set()) == ("N", "V")
    assert router.member_lists(["other"], set()) == ("D",)
    assert router.all_lists == ("D", "N", "V")


def test_without_selected_segments_a_record_joins_the_lists_of_the_segments_it_declares() -> None:
    router = ListRouter(None, {"vip": "V"}, segments_selected=False)
    assert router.member_lists([], {"vip", "other"}) == ("V",)
    assert router.member_lists([], {"other"}) == ()  # no default list


def test_lists_are_named_by_name_and_id_in_messages() -> None:
    router = ListRouter("L1", {}, segments_selected=False)
    router.names = {"L1": "VIP customers"}
    assert router.describe_all(("L1",)) == "list 'VIP customers' (L1)"
    assert router.describe_all(()) == "no list"
    assert router.describe("L2") == "L2"


def test_a_dry_run_takes_list_names_for_ids() -> None:
    assert ListRouter.resolve(None, ["VIP"], None) == ({"VIP": "VIP"}, {"VIP": "VIP"})
