"""A real PostgreSQL table through two real taps into the emulator: what warehouses actually send.

pipelinewise-tap-postgres 2.1.0 (Python 3.9) writes draft-4 schemas (numeric(12,2) with boolean
exclusive bounds and multipleOf) and versioned full-table syncs; meltanolabs-tap-postgres 0.10.0
is a singer-sdk tap. Both are installed by scripts/test (scripts/taps.sh) into .venv-taps/; the
PostgreSQL server is this module's own, started in a temporary folder and stopped after.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sendgrid_emulator import SendGridEmulator
from tests.conftest import Cli, logged_summary, target_command
from tests.support import DATA, ROOT, accounted, target_config

TAPS = {name: ROOT / ".venv-taps" / name / "bin" / "tap-postgres" for name in ("pipelinewise", "meltanolabs")}
CUSTOM = {"ltv": "ltv", "signup_date": "signup", "last_seen": "last_seen", "vip": "vip", "profile": "profile"}


def unavailable(what: str) -> None:
    """Skip without a part these tests need; in CI, fail (scripts/test installs them)."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing; scripts/test and .ci/run install it")
    pytest.skip(f"{what} is missing (scripts/test installs it)")


def postgres_bin() -> Path:
    found = shutil.which("initdb")
    candidates = [found] if found else sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not candidates:
        unavailable("PostgreSQL (initdb)")
    return Path(candidates[-1]).resolve().parent  # the server's own folder, psql beside it


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Postgres:
    """A running server; ``database`` makes a fresh database holding the customers table."""

    bin: Path
    port: int
    as_owner: list[str]

    def psql(self, database: str, *args: str) -> None:
        command = [str(self.bin / "psql"), "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(self.port)]
        subprocess.run([*command, "-U", "postgres", "-d", database, *args], check=True, capture_output=True)

    def database(self, name: str) -> str:
        self.psql("postgres", "-c", f"CREATE DATABASE {name} ENCODING 'UTF8' TEMPLATE template0")
        self.psql(name, "-f", str(DATA / "postgres_customers.sql"))
        return name


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    pg_bin = postgres_bin()
    base = Path(tempfile.mkdtemp(prefix="target-sendgrid-pg-"))
    as_owner: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: its own user runs it
        shutil.chown(base, "postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    data = base / "data"
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    try:
        subprocess.run(
            [*as_owner, str(pg_bin / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8"],
            check=True,
            capture_output=True,
        )
        start = [*as_owner, str(pg_bin / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "log")]
        subprocess.run([*start, "-w", "start"], check=True, capture_output=True, timeout=60)
        yield Postgres(pg_bin, port, as_owner)
    finally:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            stop = [*as_owner, str(pg_bin / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]
            subprocess.run(stop, capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def tap_config(tap: str, postgres: Postgres, database: str) -> dict[str, Any]:
    common = {"host": "127.0.0.1", "port": postgres.port, "user": "postgres", "password": "unused"}
    if tap == "pipelinewise":
        return {**common, "dbname": database, "filter_schemas": "public"}
    return {**common, "database": database, "filter_schemas": ["public"]}


def selected(catalog: dict[str, Any]) -> dict[str, Any]:
    """The customers stream, every column selected, synced whole (FULL_TABLE)."""
    streams = [s for s in catalog["streams"] if s["tap_stream_id"].endswith("customers")]
    for stream in streams:
        for entry in stream["metadata"]:
            entry["metadata"]["selected"] = True
            if entry["breadcrumb"] == []:
                entry["metadata"]["replication-method"] = "FULL_TABLE"
    return {"streams": streams}


def pipeline(
    tap: str, postgres: Postgres, database: str, config: dict[str, Any], tmp_path: Path, **tap_settings: Any
) -> Cli:
    """``tap-postgres --catalog ... | target-sendgrid --config ...``, as a shell runs it."""
    executable = TAPS[tap]
    if not executable.exists():
        unavailable(f"{tap}-tap-postgres")
    (tmp_path / "tap.json").write_text(json.dumps({**tap_config(tap, postgres, database), **tap_settings}))
    (tmp_path / "target.json").write_text(json.dumps(config))
    tap_args = ["-c" if tap == "pipelinewise" else "--config", str(tmp_path / "tap.json")]
    found = subprocess.run([str(executable), *tap_args, "--discover"], capture_output=True, text=True, check=True)
    (tmp_path / "catalog.json").write_text(json.dumps(selected(json.loads(found.stdout))))
    with subprocess.Popen(
        [str(executable), *tap_args, "--catalog", str(tmp_path / "catalog.json")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    ) as source:
        done = subprocess.run(
            target_command(tmp_path / "target.json"), stdin=source.stdout, capture_output=True, text=True, timeout=300
        )
    assert source.returncode == 0, f"{tap} failed"
    return Cli(done.returncode, done.stdout, done.stderr)


@pytest.mark.parametrize("tap", sorted(TAPS))
def test_a_warehouse_table_through_a_real_tap_exports_with_default_settings(
    tap: str, postgres: Postgres, emulator: SendGridEmulator, tmp_path: Path
) -> None:
    database = postgres.database(f"crm_{tap}")
    config = target_config(emulator, custom_field_mapping=CUSTOM, create_custom_fields=True)
    run = pipeline(tap, postgres, database, config, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    summary = run.summary
    assert (summary["exported"], summary["rejected_by_reason"]) == (3, {"invalid email": 1})
    assert summary["records_read"] == accounted(summary) == 4
    contacts = {c["email"]: c for c in emulator.list_contacts(config["list_id"])}
    assert set(contacts) == {"zoe.mueller@example.com", "kenji@example.jp", "nulls@example.com"}
    zoe, kenji, nulls = (contacts[e] for e in ("zoe.mueller@example.com", "kenji@example.jp", "nulls@example.com"))
    assert (zoe["first_name"], zoe["last_name"], kenji["first_name"], kenji["last_name"]) == (
        "Zoë",
        "Müller",
        "健二",
        "山田",
    )
    assert zoe["custom_fields"]["ltv"] == 1234.5 and kenji["custom_fields"]["ltv"] == 0.01  # numeric(12,2)
    assert zoe["custom_fields"]["signup_date"].startswith("2024-03-15")  # date (pipelinewise: a date-time)
    assert zoe["custom_fields"]["last_seen"] == "2024-03-15T08:00:00Z"  # timestamptz, in UTC
    assert (zoe["custom_fields"]["vip"], kenji["custom_fields"]["vip"]) == ("true", "false")  # boolean as Text
    assert zoe["custom_fields"]["profile"] == '{"tags":["a"],"tier":2}'  # jsonb as compact JSON
    assert "first_name" not in nulls and nulls["custom_fields"] == {}  # NULLs leave fields unset
    assert run.states and run.states[-1] == last_state(run)
    if tap == "pipelinewise":
        assert "Stream 'public-customers': multipleOf of ltv is not validated" in run.stderr


def last_state(run: Cli) -> Any:
    """The STATE the target wrote last (it passes the tap's through once its records are settled)."""
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_pipelinewise_versioned_full_table_syncs_mirror_the_table(
    postgres: Postgres, emulator: SendGridEmulator, tmp_path: Path
) -> None:
    database = postgres.database("crm_mirror")
    config = target_config(emulator, sync_mode="mirror")
    first = pipeline("pipelinewise", postgres, database, config, tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    members = {"zoe.mueller@example.com", "kenji@example.jp", "nulls@example.com"}
    assert emulator.list_emails(config["list_id"]) == members
    postgres.psql(database, "-c", "DELETE FROM public.customers WHERE email = 'kenji@example.jp'")
    second = pipeline("pipelinewise", postgres, database, config, tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert emulator.list_emails(config["list_id"]) == members - {"kenji@example.jp"}
    assert "kenji@example.jp" in emulator.list_emails()  # removed from the list, never deleted
    assert logged_summary(second.stderr)["removed_from_lists"] == 1


def test_a_singer_sdk_tap_in_batch_mode_with_table_versions_mirrors_the_table(
    postgres: Postgres, emulator: SendGridEmulator, tmp_path: Path
) -> None:
    """meltanolabs-tap-postgres with batch_config and emit_activate_version_messages: ACTIVATE_VERSION, then
    BATCH files whose records carry no version. Deleting a row removes exactly that member."""
    database = postgres.database("crm_batch_versions")
    config = target_config(emulator, sync_mode="mirror", mirror_close_at_end_of_input=True)
    batches = tmp_path / "batches"
    batches.mkdir()
    tap_settings = {
        "emit_activate_version_messages": True,
        "batch_config": {
            "encoding": {"format": "jsonl", "compression": "gzip"},
            "storage": {"root": batches.as_uri(), "prefix": "customers-"},
        },
    }
    first = pipeline("meltanolabs", postgres, database, config, tmp_path, **tap_settings)
    assert first.returncode == 0, first.stderr[-3000:]
    assert list(batches.iterdir()), "the tap wrote no batch file"
    members = {"zoe.mueller@example.com", "kenji@example.jp", "nulls@example.com"}
    assert emulator.list_emails(config["list_id"]) == members
    postgres.psql(database, "-c", "DELETE FROM public.customers WHERE email = 'kenji@example.jp'")
    second = pipeline("meltanolabs", postgres, database, config, tmp_path, **tap_settings)
    assert second.returncode == 0, second.stderr[-3000:]
    assert emulator.list_emails(config["list_id"]) == members - {"kenji@example.jp"}
    assert "kenji@example.jp" in emulator.list_emails()  # removed from the list, never deleted
    assert logged_summary(second.stderr)["removed_from_lists"] == 1
    stamps = {c["custom_fields"].get("singer_table_version") for c in emulator.list_contacts(config["list_id"])}
    assert len(stamps) == 1 and None not in stamps  # every member stamped with the second sync's version
