"""Where the reading is: the number of the RECORD being processed, and whether it reached a sink."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RecordCursor:
    """Written by the singer layer only: the target numbers each record, its sink marks it reached.

    Every RECORD message (and each record of a BATCH file) has a number, its position in the
    input; the rest of the run reads it to name records and to tie STATE to them.
    """

    number: int = 0  # RECORD messages read so far: the current one's number
    reached_sink: bool = False  # whether the current record got past the stream maps
