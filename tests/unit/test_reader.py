"""Reading Singer messages: each line counted, bad ones named by number and position, never by content."""

from __future__ import annotations

import contextlib
import gc
import io
from collections.abc import Callable

import pytest
from singer_sdk.exceptions import InvalidInputLine

from target_sendgrid.lifecycle.failures import Interrupted
from target_sendgrid.lifecycle.signals import ShutdownGuard
from target_sendgrid.singer.reader import SingerInputReader


def read(data: bytes, seen: list[dict] | None = None) -> tuple[SingerInputReader, list[BaseException]]:
    reader = SingerInputReader()
    errors: list[BaseException] = []
    reader.on_error = errors.append
    keep: Callable[[dict], None] = (seen if seen is not None else []).append
    reader.process_lines(io.BytesIO(data), {"RECORD": keep, "SCHEMA": keep, "STATE": keep})
    return reader, errors


def test_messages_are_handed_to_their_callbacks_and_counted() -> None:
    seen: list[dict] = []
    reader, _ = read(b'{"type": "SCHEMA", "stream": "s"}\r\n{"type": "RECORD", "stream": "s", "record": {}}\n', seen)
    assert [m["type"] for m in seen] == ["SCHEMA", "RECORD"]
    assert reader.line_number == 2


def test_a_line_that_is_not_json_is_named_by_number_never_by_content() -> None:
    with pytest.raises(InvalidInputLine) as bad:
        read(b'{"type": "STATE", "value": {}}\n{"email": "ann@x.io" oops\n')
    assert str(bad.value).startswith("Input line 2: not valid JSON")
    assert "ann@x.io" not in str(bad.value)


def test_a_first_line_that_is_not_json_says_what_the_input_must_be() -> None:
    with pytest.raises(InvalidInputLine, match="must be Singer messages"):
        read(b"email,first_name\n")


@pytest.mark.parametrize(
    ("line", "message"),
    [(b'{"stream": "s"}', "no type key"), (b"[1, 2]", "no type key"), (b'{"type": "NOPE"}', "unknown type 'NOPE'")],
)
def test_a_line_that_is_not_a_singer_message_is_named(line: bytes, message: str) -> None:
    with pytest.raises(InvalidInputLine, match=message) as bad:
        read(line + b"\n")
    assert str(bad.value).startswith("Input line 1")


def test_the_failure_is_handed_to_on_error_before_it_is_raised() -> None:
    reader = SingerInputReader()
    errors: list[BaseException] = []
    reader.on_error = errors.append
    with pytest.raises(InvalidInputLine):
        reader.process_lines(io.BytesIO(b"nope\n"), {})
    assert len(errors) == 1 and isinstance(errors[0], InvalidInputLine)


def test_a_signal_stops_the_reading_before_the_next_line() -> None:
    reader = SingerInputReader()
    reader.guard = ShutdownGuard()
    stopped: list[Interrupted] = []
    reader.on_interrupted = stopped.append

    def first(message: dict) -> None:
        reader.guard.signum = 15  # type: ignore[union-attr]  # as the handler records a SIGTERM

    with pytest.raises(Interrupted):
        reader.process_lines(
            io.BytesIO(b'{"type": "STATE", "value": 1}\n{"type": "STATE", "value": 2}\n'), {"STATE": first}
        )
    assert reader.line_number == 1 and stopped[0].exit_code == 143


@pytest.mark.parametrize("data", [b'{"type": "STATE", "value": {}}\n', b"nope\n"], ids=["finished", "failed"])
def test_the_collector_runs_rarely_while_reading_and_its_settings_are_restored_after(data: bytes) -> None:
    threshold, frozen = gc.get_threshold(), gc.get_freeze_count()
    seen: list[tuple[int, int, int]] = []  # the collector's thresholds while a message is handled
    reader = SingerInputReader()
    reader.on_error = lambda exc: None
    with contextlib.suppress(InvalidInputLine):
        reader.process_lines(io.BytesIO(data), {"STATE": lambda message: seen.append(gc.get_threshold())})
    assert [during[0] > threshold[0] for during in seen] == ([True] if data.startswith(b"{") else [])
    assert (gc.get_threshold(), gc.get_freeze_count()) == (threshold, frozen)
