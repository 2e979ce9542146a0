"""Generated customer profiles, as a warehouse or CDP would hold them (deterministic): the input of
the tests, of the benchmark and of the bundled sample, none of them part of the target.

``python -m tests.profiles --count 3000 > profiles.singer`` writes a Singer stream
(SCHEMA, RECORDs, a STATE every 1,000 records); ``--jsonl`` writes bare JSON Lines records:
``python -m tests.profiles --count 2500 --jsonl > sample/profiles.jsonl`` is the sample the README exports.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import unicodedata
from collections.abc import Iterator
from typing import IO, Any

FIRST = ["Ann", "Bo", "Chen", "Dara", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jo", "Kofi", "Lena", "Mateo", "Nia"]
LAST = ["Smith", "Garcia", "Okafor", "Nguyen", "Müller", "Rossi", "Kim", "Haddad", "Silva", "Novak", "Olsen"]
PLACES = [
    ("US", "California", "San Francisco", "94103"),
    ("US", "New York", "New York", "10001"),
    ("GB", "England", "London", "SW1A 1AA"),
    ("DE", "Berlin", "Berlin", "10115"),
    ("FR", "Île-de-France", "Paris", "75001"),
    ("BR", "São Paulo", "São Paulo", "01000-000"),
    ("JP", "Tokyo", "Tokyo", "100-0001"),
]
SEGMENTS = ["vip", "churn_risk", "newsletter", "high_ltv", "dormant"]

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "customer_id": {"type": "integer"},
        "email": {"type": ["string", "null"]},
        "first_name": {"type": ["string", "null"]},
        "last_name": {"type": ["string", "null"]},
        "country": {"type": ["string", "null"]},
        "state": {"type": ["string", "null"]},
        "city": {"type": ["string", "null"]},
        "postal_code": {"type": ["string", "null"]},
        "phone": {"type": ["string", "null"]},
        "lifetime_value": {"type": ["number", "null"]},
        "signup_date": {"type": ["string", "null"], "format": "date"},
        "segments": {"type": ["array", "null"], "items": {"type": "string"}},
    },
}


def profiles(count: int, seed: int = 42, start: int = 1) -> Iterator[dict[str, Any]]:
    """``count`` profile records of 12 fields; about 1% have an invalid or missing email."""
    rng = random.Random(seed)
    for customer_id in range(start, start + count):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        country, state, city, postal = rng.choice(PLACES)
        local = unicodedata.normalize("NFKD", f"{first}.{last}").encode("ascii", "ignore").decode()
        address = f"{local}.{customer_id}@example.com"
        email: str | None = address
        roll = rng.random()
        if roll < 0.005:
            email = f"{local}.at.example.com"  # invalid: no @
        elif roll < 0.01:
            email = None
        elif roll < 0.2:
            email = f"  {address.upper()} "  # untidy capitals and spaces, as warehouses have
        yield {
            "customer_id": customer_id,
            "email": email,
            "first_name": first,
            "last_name": last,
            "country": country,
            "state": state,
            "city": city,
            "postal_code": postal,
            "phone": f"+1555{customer_id:07d}",
            "lifetime_value": round(rng.uniform(0, 5000), 2),
            "signup_date": f"20{rng.randint(15, 25)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            "segments": rng.sample(SEGMENTS, rng.randint(0, 3)),
        }


def write_singer(out: IO[str], count: int, stream: str = "profiles", seed: int = 42, state_every: int = 1000) -> None:
    """Write a tap's output for ``count`` profiles: SCHEMA, RECORDs and periodic STATE."""
    out.write(json.dumps({"type": "SCHEMA", "stream": stream, "schema": SCHEMA, "key_properties": ["customer_id"]}))
    out.write("\n")
    for record in profiles(count, seed):
        out.write(json.dumps({"type": "RECORD", "stream": stream, "record": record}) + "\n")
        if record["customer_id"] % state_every == 0:
            state = {"bookmarks": {stream: {"replication_key_value": record["customer_id"]}}}
            out.write(json.dumps({"type": "STATE", "value": state}) + "\n")
    out.write(json.dumps({"type": "STATE", "value": {"bookmarks": {stream: {"replication_key_value": count}}}}) + "\n")


def main() -> None:
    """Command line: write generated profiles to stdout."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--jsonl", action="store_true", help="bare records, one JSON object a line")
    args = parser.parse_args()
    if args.jsonl:
        for record in profiles(args.count, args.seed):
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
    else:
        write_singer(sys.stdout, args.count, seed=args.seed)


if __name__ == "__main__":
    main()
