"""Reading Singer messages: the SDK's fast msgspec reader, counting lines to name bad ones."""

from __future__ import annotations

import typing as t
from collections import Counter
from collections.abc import Callable, Iterable

import msgspec
from singer_sdk.contrib.msgspec import MsgSpecReader, decoder
from singer_sdk.exceptions import (
    InvalidInputLine,
    InvalidRecord,
    MissingKeyPropertiesError,
    RecordsWithoutSchemaException,
)

from target_sendgrid.shutdown import Interrupted, ShutdownGuard

# Failures of the input itself: the records before them are still exported.
INPUT_ERRORS = (InvalidInputLine, InvalidRecord, RecordsWithoutSchemaException, MissingKeyPropertiesError)


class SingerInputReader(MsgSpecReader):
    """Counts input lines and, on a failure, lets the target settle what came before it.

    ``on_error`` (set by the target) is called with the failure before it is raised. An
    input error keeps its SDK type, its message prefixed with the line and stream. With a
    ``guard``, a termination signal stops the reading between messages (see ``shutdown``).
    """

    line_number = 0
    on_error: Callable[[BaseException], None] | None = None
    guard: ShutdownGuard | None = None
    _message: dict | None = None

    def deserialize_json(self, line: str) -> dict:
        """Parse one line; a bad line is named by the error's position, never its text.

        The SDK's decoder, without its handling: it logs the raw line and puts it in the error,
        and input lines hold personal data.
        """
        try:
            return decoder.decode(line)
        except msgspec.DecodeError as exc:
            hint = " The input must be Singer messages, one JSON object a line." if self.line_number == 1 else ""
            raise InvalidInputLine(f"not valid JSON ({exc}).{hint}") from None

    def process_lines(
        self, file_input: t.IO[str] | None, callbacks: dict[str, Callable[[dict], None]]
    ) -> t.Counter[str]:
        """Process every line; a failure is handed to ``on_error`` and raised."""
        lines = file_input or self.default_input
        try:
            return self._read(lines, callbacks)
        except Interrupted:
            raise  # the target stops the run itself
        except INPUT_ERRORS as exc:
            stream = (self._message or {}).get("stream")
            where = f"Input line {self.line_number}" + (f" (stream '{stream}')" if stream else "")
            exc.args = (f"{where}: {exc.args[0] if exc.args else exc}", *exc.args[1:])
            self._report(exc)
            raise
        except Exception as exc:
            self._report(exc)
            raise

    @staticmethod
    def assert_line_requires(line_dict: dict, requires: set[str]) -> None:
        """Raise InvalidInputLine naming the missing keys (the SDK's message holds the whole line)."""
        if isinstance(line_dict, dict) and requires.issubset(line_dict):
            return
        missing = sorted(requires - set(line_dict)) if isinstance(line_dict, dict) else sorted(requires)
        raise InvalidInputLine(f"not a Singer message: no {', '.join(missing)} key")

    def _process_unknown_message(self, message_dict: dict) -> None:
        # The SDK raises a ValueError, shown with a traceback: this is bad input, named by its line.
        kind = str(message_dict.get("type"))[:40]
        raise InvalidInputLine(f"not a Singer message: unknown type {kind!r}")

    def _read(self, lines: Iterable[str], callbacks: dict[str, Callable[[dict], None]]) -> t.Counter[str]:
        # The SDK's loop (encoding/base.py, process_lines), with the signal guard inline: a signal
        # may stop the run at once only while the next line is awaited, never mid-message.
        # Written as one loop because it runs once per input line.
        guard = self.guard or ShutdownGuard()
        source = iter(lines)
        stats: Counter[str] = Counter()
        while True:
            if guard.signum is not None:
                raise Interrupted(guard.signum)
            guard.safe_to_raise = True
            try:
                line = next(source, None)
            finally:
                guard.safe_to_raise = False
            if line is None:
                return stats
            self.line_number += 1
            self._message = None
            self._message = message = self.deserialize_json(line)
            record_type = message.get("type") if isinstance(message, dict) else None
            if record_type is None:
                self.assert_line_requires(message, requires={"type"})  # raises, naming the line
            if callback := callbacks.get(record_type):  # type: ignore[arg-type]
                callback(message)
            else:
                self._process_unknown_message(message)
            stats[record_type] += 1  # type: ignore[index]

    def _report(self, exc: BaseException) -> None:
        if self.on_error is not None:
            self.on_error(exc)
