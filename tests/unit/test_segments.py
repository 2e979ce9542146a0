"""Segment membership: from a record's segment property or its stream's name, without case or spaces."""

from __future__ import annotations

import pytest

from target_sendgrid.contacts.segments import SegmentFilter


@pytest.mark.parametrize("value", [["VIP", "x"], "x, vip", "x; Vip", "x|vip", " vip "])
def test_a_record_in_a_selected_segment_is_kept_whatever_the_form(value: object) -> None:
    assert SegmentFilter(["vip"]).matches({"segments": value}, "profiles") == ["vip"]


def test_a_record_in_no_selected_segment_is_filtered_out() -> None:
    segments = SegmentFilter(["vip"])
    assert segments.matches({"segments": ["newsletter"]}, "profiles") is None
    assert segments.matches({}, "profiles") is None


def test_a_stream_named_like_a_segment_makes_its_records_members() -> None:
    assert SegmentFilter(["VIP"]).matches({}, " vip ") == ["VIP"]


def test_without_segments_every_record_is_kept() -> None:
    assert SegmentFilter(None).matches({"segments": "anything"}, "profiles") == []


def test_segments_no_record_matched_are_reported_with_the_names_seen() -> None:
    segments = SegmentFilter(["vip", "vips"], segment_property="tags")
    segments.matches({"tags": "VIP, Newsletter"}, "profiles")
    assert segments.unmatched() == ["vips"]
    assert segments.seen == {"vip", "newsletter"}


def test_an_unhashable_segment_value_is_judged_every_time() -> None:
    segments = SegmentFilter(["vip"])
    record = {"segments": [{"name": "vip"}]}  # a list of objects: no segment names in it
    assert segments.matches(record, "profiles") is None
    assert segments.matches({"segments": ["vip"]}, "profiles") == ["vip"]
