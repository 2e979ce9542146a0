"""The floor: parse each line and serialise each record's contact with the standard library, nothing else."""

from __future__ import annotations

import json
import sys

FIELDS = {"first_name": "first_name", "last_name": "last_name", "country": "country", "city": "city"}


def main() -> None:
    out = []
    for line in sys.stdin:
        message = json.loads(line)
        if message.get("type") != "RECORD":
            continue
        record = message["record"]
        contact = {"email": str(record.get("email") or "").strip().lower()}
        for field, prop in FIELDS.items():
            if record.get(prop) is not None:
                contact[field] = str(record[prop])
        out.append(json.dumps(contact))
        if len(out) >= 30_000:  # a batch's worth, dropped
            out.clear()


if __name__ == "__main__":
    main()
