"""A full-table tap with table versions, as pipelinewise-style SQL taps sync a table.

No registry tap does this without a database server, so this one reads a JSON table file.
It follows pipelinewise-tap-mysql / tap-postgres full-table syncs:

- The version is the time in milliseconds, kept in STATE while a sync is under way; a resumed
  sync keeps it and starts after ``last_pk_fetched``.
- ACTIVATE_VERSION goes first on a stream's very first sync, and always after the last row.
- STATE every ``state_every`` rows, and once more when the sync is complete (without the resume point).

Usage: ``python tests/taps/table_tap.py --config CONFIG [--state STATE]``; CONFIG holds
``{"table": "<path of a JSON list of rows>", "state_every": 50}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

STREAM = "customers"
SCHEMA = {
    "type": "object",
    "properties": {"id": {"type": "integer"}, "email": {"type": "string"}, "first_name": {"type": ["string", "null"]}},
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--state")
    args = parser.parse_args()
    with open(args.config) as f:
        config = json.load(f)
    state = {}
    if args.state:
        with open(args.state) as f:
            state = json.load(f)
    with open(config["table"]) as f:
        rows = sorted(json.load(f), key=lambda r: r["id"])
    bookmark = state.setdefault("bookmarks", {}).setdefault(STREAM, {})
    first_run = "version" not in bookmark
    resuming = "last_pk_fetched" in bookmark and not first_run
    version = bookmark["version"] if resuming else int(time.time() * 1000)
    bookmark["version"] = version
    after = bookmark.get("last_pk_fetched", 0) if resuming else 0

    emit({"type": "SCHEMA", "stream": STREAM, "schema": SCHEMA, "key_properties": ["id"]})
    if first_run:
        emit({"type": "ACTIVATE_VERSION", "stream": STREAM, "version": version})
    for n, row in enumerate((r for r in rows if r["id"] > after), start=1):
        emit({"type": "RECORD", "stream": STREAM, "record": row, "version": version})
        if n % config.get("state_every", 50) == 0:
            bookmark["last_pk_fetched"] = row["id"]
            emit({"type": "STATE", "value": state})
    emit({"type": "ACTIVATE_VERSION", "stream": STREAM, "version": version})
    bookmark.pop("last_pk_fetched", None)
    emit({"type": "STATE", "value": state})


def emit(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
