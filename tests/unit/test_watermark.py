"""The STATE watermark: a tap's STATE is written only once every record before it is settled."""

from __future__ import annotations

from target_sendgrid.delivery.watermark import StateWatermark


def watermark() -> tuple[StateWatermark, list[dict]]:
    written: list[dict] = []
    return StateWatermark(written.append), written


def test_state_waits_for_the_records_before_it() -> None:
    mark, written = watermark()
    mark.processed = 10
    mark.add({"at": 10})
    mark.advance(oldest_unsettled=5)  # record 5 is still in a batch
    assert written == []
    mark.advance(oldest_unsettled=11)
    assert written == [{"at": 10}]


def test_only_the_newest_settled_state_is_written() -> None:
    mark, written = watermark()
    for n in (1, 2, 3):
        mark.processed = n
        mark.add({"at": n})
    mark.advance(oldest_unsettled=3)  # records 1 and 2 are settled, 3 is not
    assert written == [{"at": 2}]
    mark.advance(None)
    assert written == [{"at": 2}, {"at": 3}]


def test_a_held_watermark_writes_the_newest_state_when_released() -> None:
    mark, written = watermark()
    mark.hold(True)
    for n in (1, 2):
        mark.processed = n
        mark.add({"at": n})
        mark.advance(None)
    assert written == []
    mark.hold(False)
    assert written == [{"at": 2}]


def test_the_same_state_is_not_written_twice() -> None:
    mark, written = watermark()
    mark.add({"at": 0})
    mark.advance(None)
    mark.add({"at": 0})
    mark.advance(None)
    assert written == [{"at": 0}]


def test_a_state_before_any_record_is_settled_at_once() -> None:
    mark, written = watermark()
    mark.add({"bookmarks": {}})
    mark.advance(oldest_unsettled=1)
    assert written == [{"bookmarks": {}}]
