"""Which records belong to the configured segments."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

_DELIMITERS = re.compile(r"[,;|]")


def normalise(name: Any) -> str:
    """A segment name as compared: without surrounding spaces or case."""
    return str(name).strip().casefold()


class SegmentFilter:
    """Keeps the records that belong to at least one selected segment.

    A record's segments come from ``segment_property``: an array of names, a string of
    names separated by ``,``, ``;`` or ``|``, or a single name. A record whose stream is
    named like a selected segment is a member of that segment too. Names compare without
    surrounding spaces and case. With no segments selected, every record is kept.
    """

    MAX_SEEN = 200  # segment names remembered for the warning about names that matched nothing
    MAX_JUDGED = 10_000  # distinct segment values remembered with their verdict

    def __init__(self, segments: Iterable[str] | None, segment_property: str = "segments") -> None:
        self.selected = {normalise(s): s for s in segments or ()}
        self.segment_property = segment_property
        self.matched: set[str] = set()  # selected segments (as configured) that some record belongs to
        self.seen: set[str] = set()  # segment names records declared (normalised), up to MAX_SEEN
        self._judged: dict[tuple[str, Any], list[str] | None] = {}

    def unmatched(self) -> list[str]:
        """The selected segments no record belonged to."""
        return sorted(set(self.selected.values()) - self.matched)

    def record_segments(self, record: Mapping[str, Any]) -> set[str]:
        """The normalised names of every segment a record declares."""
        value = record.get(self.segment_property)
        if value is None:
            return set()
        items = value if isinstance(value, list) else _DELIMITERS.split(str(value))
        return {n for n in map(normalise, items) if n}

    def matches(self, record: Mapping[str, Any], stream_name: str) -> list[str] | None:
        """The selected segments (as configured) the record belongs to; None: filter it out.

        With no segments selected every record is kept, with an empty list.
        """
        if not self.selected:
            return []
        value = record.get(self.segment_property)
        # Records repeat a few segment values ("vip, newsletter"): each is judged once.
        key = (stream_name, tuple(value) if isinstance(value, list) else value)
        try:
            return self._judged[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable value (a list of objects): judged every time
            return self._judge(record, stream_name)
        found = self._judge(record, stream_name)
        if len(self._judged) < self.MAX_JUDGED:
            self._judged[key] = found
        return found

    def _judge(self, record: Mapping[str, Any], stream_name: str) -> list[str] | None:
        names = self.record_segments(record)
        if len(self.seen) < self.MAX_SEEN:
            self.seen.update(names)
        names.add(normalise(stream_name))
        found = [original for norm, original in self.selected.items() if norm in names]
        self.matched.update(found)
        return found or None
