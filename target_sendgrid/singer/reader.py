"""Reading Singer messages: the SDK's fast msgspec reader, counting lines to name bad ones."""

from __future__ import annotations

import contextlib
import gc
import sys
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
from typing_extensions import override

from target_sendgrid.lifecycle.failures import Interrupted
from target_sendgrid.lifecycle.signals import ShutdownGuard

# Failures of the input itself: the records before them are still exported.
INPUT_ERRORS = (InvalidInputLine, InvalidRecord, RecordsWithoutSchemaException, MissingKeyPropertiesError)

# Bytes of standard input read at a time, and the pipe capacity asked for (Linux's default
# ceiling for an unprivileged process, /proc/sys/fs/pipe-max-size).
INPUT_BUFFER = 1 << 20


def large_reads(stream: t.IO[t.Any]) -> t.IO[t.Any]:
    """The input file or standard input as bytes, read a megabyte at a time (Singer is UTF-8 JSON).

    Why: each read of a text stream's 8 KB buffer releases the GIL and takes it straight back,
    every 0.3 ms while records are read. A thread waiting for the GIL is woken by each release,
    finds it taken again and waits anew; it asks for the GIL only after 5 ms without a release
    (``sys.getswitchinterval()``). So the workers uploading batches starved: a 6 MB upsert took
    0.7 s instead of 0.15 s, and most uploads waited for the input's end. Must be called before
    anything is read from ``stream``; one held in memory (``io.StringIO``) is returned as it is.
    """
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return stream
    with contextlib.suppress(ImportError, OSError, AttributeError):  # not a pipe, or not Linux
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, INPUT_BUFFER)  # so one read can take more than 64 KB
    return open(fd, "rb", buffering=INPUT_BUFFER, closefd=False)  # closefd: the stream is not ours


@contextlib.contextmanager
def fewer_collections() -> t.Iterator[None]:
    """While the input is read, the cyclic garbage collector runs rarely; its settings are restored after.

    Records make a few small objects each and almost no reference cycles: the collector, run
    every 700 allocations by default, cost a tenth of the run. What start-up made is frozen out
    of its scans, and it runs less often. The settings are the process's (a test run's too), so
    they are put back however the reading ends; what another caller froze stays frozen.
    """
    threshold = gc.get_threshold()
    frozen_before = gc.get_freeze_count() > 0
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        if not frozen_before:  # unfreeze moves every frozen object back: only when all were ours
            gc.unfreeze()


class SingerInputReader(MsgSpecReader):
    """Counts input lines and, on a failure, lets the target settle what came before it.

    ``on_start`` (set by the target) is called before the first line is read. ``on_error`` is
    called with a failure before it is raised. An input error keeps its SDK type, its message
    prefixed with the line and stream. With a ``guard``, a termination signal stops the reading
    between messages (see ``shutdown``).
    """

    line_number = 0
    on_start: Callable[[], None] | None = None
    on_error: Callable[[BaseException], None] | None = None
    on_interrupted: Callable[[Interrupted], None] | None = None
    guard: ShutdownGuard | None = None
    _message: dict[str, t.Any] | None = None

    @override
    def deserialize_json(self, line: str | bytes) -> t.Any:
        """Parse one line; a bad line is named by the error's position, never its text.

        The SDK's decoder, without its handling: it logs the raw line and puts it in the error,
        and input lines hold personal data.
        """
        if self.line_number == 1:  # a byte-order mark some Windows tools write first: not part of the message
            line = line.removeprefix(b"\xef\xbb\xbf") if isinstance(line, bytes) else line.removeprefix("\ufeff")
        try:
            return decoder.decode(line)
        except msgspec.DecodeError as exc:
            hint = " The input must be Singer messages, one JSON object a line." if self.line_number == 1 else ""
            raise InvalidInputLine(f"not valid JSON ({exc}).{hint}") from None

    @override
    def process_lines(
        self, file_input: t.IO[str] | t.IO[bytes] | None, callbacks: dict[str, Callable[[dict[str, t.Any]], None]]
    ) -> t.Counter[str]:
        """Process every line; a failure is handed to ``on_error``, a signal to ``on_interrupted``.

        ``on_start`` runs first, before any line is read: a refusal there is raised as it is.
        """
        if self.on_start is not None:
            self.on_start()
        lines = large_reads(file_input or sys.stdin)
        try:
            with fewer_collections():
                return self._read(lines, callbacks)
        except Interrupted as stop:
            if self.on_interrupted is not None:
                self.on_interrupted(stop)  # the target stops the run itself
            raise
        except RecursionError:
            # A value nested deeper than Python's recursion limit (while decoding, validating or
            # mapping it): bad input like any other, named by its line.
            nested = InvalidInputLine("a value is nested too deeply to be read")
            self._report(self._named(nested))
            raise nested from None
        except INPUT_ERRORS as exc:
            self._report(self._named(exc))
            raise
        except Exception as exc:
            self._report(exc)
            raise

    @staticmethod
    @override
    def assert_line_requires(line_dict: t.Any, requires: set[str]) -> None:
        """Raise InvalidInputLine naming the missing keys (the SDK's message holds the whole line)."""
        if isinstance(line_dict, dict) and requires.issubset(line_dict):
            return
        missing = sorted(requires - set(line_dict)) if isinstance(line_dict, dict) else sorted(requires)
        raise InvalidInputLine(f"not a Singer message: no {', '.join(missing)} key")

    @override
    def _process_unknown_message(self, message_dict: dict[str, t.Any]) -> None:
        # The SDK raises a ValueError, shown with a traceback: this is bad input, named by its line.
        kind = str(message_dict.get("type"))[:40]
        raise InvalidInputLine(f"not a Singer message: unknown type {kind!r}")

    def _read(
        self, lines: Iterable[str] | Iterable[bytes], callbacks: dict[str, Callable[[dict[str, t.Any]], None]]
    ) -> t.Counter[str]:
        # The SDK's loop (encoding/base.py, process_lines), with the signal guard inline: a signal
        # may stop the run at once only while the next line is awaited, never mid-message.
        # Written as one loop because it runs once per input line.
        guard = self.guard or ShutdownGuard()
        source: t.Iterator[str | bytes] = iter(lines)
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
            message = self.deserialize_json(line)  # any JSON value, until it is found to be a message
            self._message = message if isinstance(message, dict) else None
            record_type: t.Any = message.get("type") if isinstance(message, dict) else None
            if record_type is None:
                self.assert_line_requires(message, requires={"type"})  # raises, naming the line
            if callback := callbacks.get(record_type):
                callback(message)
            else:
                self._process_unknown_message(message)
            stats[record_type] += 1

    def _named(self, exc: BaseException) -> BaseException:
        """The error, its message prefixed with the input line (and stream) it came from."""
        stream = (self._message or {}).get("stream")
        where = f"Input line {self.line_number}" + (f" (stream '{stream}')" if stream else "")
        exc.args = (f"{where}: {exc.args[0] if exc.args else exc}", *exc.args[1:])
        return exc

    def _report(self, exc: BaseException) -> None:
        if self.on_error is not None:
            self.on_error(exc)
