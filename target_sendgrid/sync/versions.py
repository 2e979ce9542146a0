"""Table versions in mirror mode: which version each stream is syncing, and when one is complete.

Taps that sync whole tables with versions mark each RECORD with ``version`` and send
ACTIVATE_VERSION, in one of two habits:

- pipelinewise-style SQL taps send it before the records of a table's first sync and always
  after its last record; an interrupted sync resumes with the same version, mid-table.
- singer-sdk taps (``emit_activate_version_messages``) send it once, before the records, with a
  new version every run, and never resume mid-table.

A version is complete, and members of older versions may leave the lists, when:

1. an ACTIVATE_VERSION names it after records of it were read in this run (the closing message);
2. it was announced and the input ended with no record of it read since (a resumed sync with
   nothing left to send, closed by the tap's last message);
3. the input ended while it was open, if ``close_at_end`` (``mirror_close_at_end_of_input``):
   for taps that never send a closing message. Off by default, because a tap that fails
   mid-table under an orchestrator still ends the target's input normally, and the members
   it had not sent yet would look stale.

This module only keeps the books; the removals are in ``mirror``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class StreamVersion:
    """The version a stream is syncing, as far as this run has seen it."""

    version: Any
    records: bool = False  # a record of this version was read in this run
    announced: bool = False  # an ACTIVATE_VERSION named it before any of its records in this run


class TableVersions:
    """The open version of each stream, and the streams that sent versioned records."""

    def __init__(self, close_at_end: bool = False) -> None:
        self.close_at_end = close_at_end
        self.open: dict[str, StreamVersion] = {}
        self.versioned_streams: set[str] = set()  # streams with versioned records in this run

    def record(self, stream: str, version: Any) -> bool:
        """A record of ``version``; True when this changed what the run knows (a new version, a first record)."""
        current = self.open.get(stream)
        if current is not None and current.records and current.version == version:
            return False
        self.versioned_streams.add(stream)
        if current is None or current.version != version:
            current = self.open[stream] = StreamVersion(version)
        current.records = True
        return True

    def activate(self, stream: str, version: Any) -> Any | None:
        """An ACTIVATE_VERSION: the version it completes (rule 1), or None when it announces one."""
        current = self.open.get(stream)
        if current is not None and current.records and current.version == version:
            del self.open[stream]
            return version
        self.open[stream] = StreamVersion(version, announced=True)
        return None

    def holds_state(self) -> bool:
        """Whether a version may still complete at the end of the input: its STATE must wait for that."""
        return any(self._closes_at_end(v) for v in self.open.values())

    def at_end(self) -> tuple[list[tuple[str, Any]], list[tuple[str, Any]]]:
        """At the end of the input: the (stream, version) pairs now complete, and those left open."""
        complete = [(s, v.version) for s, v in self.open.items() if self._closes_at_end(v)]
        left_open = [(s, v.version) for s, v in self.open.items() if not self._closes_at_end(v)]
        return complete, left_open

    def _closes_at_end(self, version: StreamVersion) -> bool:
        return (version.announced and not version.records) or self.close_at_end
