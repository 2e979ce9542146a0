"""Mirror mode with table versions: killed at any moment, a resumed sync converges to the exact table.

A pipelinewise-style tap (tests/taps/table_tap.py) pipes into the target's CLI, against the
emulator serving SendGrid's real export format; the target is killed with SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sendgrid_emulator import SendGridEmulator
from tests.conftest import run_cli, target_command
from tests.support import DATA, EXPORT_VARIANTS, ROOT, Api, target_config

TAP = ROOT / "tests" / "taps" / "table_tap.py"


def email(n: int) -> str:
    return f"member{n}@example.com"


@dataclass
class Pipeline:
    """tap | target, as an orchestrator runs them; the last STATE is kept as Meltano keeps it."""

    tmp_path: Path
    config: dict[str, Any]
    state: dict | None = None

    def run(self, ids: range, until: Callable[[list[dict]], bool] | None = None) -> tuple[int | None, str]:
        """One sync of a table with rows ``ids``; SIGKILL the target once ``until(states)`` holds."""
        table = self.tmp_path / "table.json"
        table.write_text(json.dumps([{"id": i, "email": email(i), "first_name": f"M{i}"} for i in ids]))
        (self.tmp_path / "tap.json").write_text(json.dumps({"table": str(table), "state_every": 50}))
        (self.tmp_path / "target.json").write_text(json.dumps(self.config))
        tap_command = [sys.executable, str(TAP), "--config", str(self.tmp_path / "tap.json")]
        if self.state is not None:
            (self.tmp_path / "state.json").write_text(json.dumps(self.state))
            tap_command += ["--state", str(self.tmp_path / "state.json")]
        tap = subprocess.Popen(tap_command, stdout=subprocess.PIPE)
        target = subprocess.Popen(
            target_command(self.tmp_path / "target.json"),
            stdin=tap.stdout,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert tap.stdout is not None and target.stdout is not None and target.stderr is not None
        tap.stdout.close()  # the target holds the pipe's read end
        states: list[dict] = []
        stderr: list[str] = []
        out, err = target.stdout, target.stderr  # narrowed by the assert above, for the threads
        readers = [
            threading.Thread(target=lambda: states.extend(json.loads(line) for line in out)),
            threading.Thread(target=lambda: stderr.extend(err)),
        ]
        for reader in readers:
            reader.start()
        deadline = time.monotonic() + 120
        while target.poll() is None and time.monotonic() < deadline:
            if until is not None and until(list(states)):
                target.send_signal(signal.SIGKILL)
                break
            time.sleep(0.005)
        code = target.wait(timeout=120)
        tap.kill()
        tap.wait()
        for reader in readers:
            reader.join()
        if states:
            self.state = states[-1]
        return code, "".join(stderr)


def bookmark(state: dict | None) -> dict:
    assert state is not None, "no STATE was emitted"
    return state["bookmarks"]["customers"]


@pytest.fixture
def pipeline(emulator: SendGridEmulator, tmp_path: Path) -> Pipeline:
    # No ceiling: under one nothing is sent, and no STATE moves, until the input ends (docs/contract.md), and
    # these runs are killed mid-table once STATE has moved.
    config = target_config(emulator, sync_mode="mirror", batch_size=50, max_jobs_in_flight=2, max_contacts=0)
    return Pipeline(tmp_path, config)


@pytest.mark.parametrize("variant", ["gzip-json-contact_id", "gzip-json-upper-keys", "gzip-csv"])
def test_a_resumed_sync_removes_the_stale_members_and_none_of_the_interrupted_runs(
    emulator: SendGridEmulator, api: Api, pipeline: Pipeline, variant: str
) -> None:
    for name, value in EXPORT_VARIANTS[variant].items():  # the stamp read from each export format
        setattr(emulator.export_variants, name, value)
    list_id = pipeline.config["list_id"]
    unstamped = [f"legacy{n}@example.com" for n in range(20)]  # put there by hand: no stamp
    api("PUT", "/v3/marketing/contacts", json={"list_ids": [list_id], "contacts": [{"email": e} for e in unstamped]})
    emulator.wait_for_jobs()

    code, _ = pipeline.run(range(1, 401))  # the first full sync: ACTIVATE, rows, ACTIVATE
    assert code == 0
    assert emulator.list_emails(list_id) == {email(i) for i in range(1, 401)}  # the legacy members left

    # The table changes (rows 1-50 leave it, 401-600 join), and the next sync is killed a third of the way.
    code, _ = pipeline.run(
        range(51, 601), until=lambda states: bookmark(states[-1]).get("last_pk_fetched", 0) >= 200 if states else False
    )
    assert code == -signal.SIGKILL
    resume_from = bookmark(pipeline.state)["last_pk_fetched"]
    assert 200 <= resume_from < 600
    members = emulator.list_emails(list_id)
    assert {email(i) for i in range(1, 401)} <= members  # nothing removed by the interrupted run

    code, stderr = pipeline.run(range(51, 601))  # resumed: same version, rows after the bookmark
    assert code == 0, stderr
    assert emulator.list_emails(list_id) == {email(i) for i in range(51, 601)}
    summary = json.loads(stderr.split("Export finished: ", 1)[1].splitlines()[0])
    assert summary["removed_from_lists"] == 50  # rows 1-50, none of the 51-200 the killed run stamped
    assert "whose singer_table_version is older than the completed table version" in stderr
    assert "last_pk_fetched" not in bookmark(pipeline.state)  # the closing STATE, written after the removals


def test_killed_during_the_removals_the_resumed_run_finishes_them(
    emulator: SendGridEmulator, pipeline: Pipeline
) -> None:
    list_id = pipeline.config["list_id"]
    assert pipeline.run(range(1, 401))[0] == 0
    emulator.job_delay = 0.3  # removal jobs slow enough to be killed between two of them

    def removing(_: list[dict]) -> bool:
        return any(r["method"] == "DELETE" for r in emulator.requests_made(f"/v3/marketing/lists/{list_id}"))

    code, _ = pipeline.run(range(251, 701), until=removing)  # 250 stale rows: three removal calls
    assert code == -signal.SIGKILL
    assert "last_pk_fetched" in bookmark(pipeline.state)  # the STATE after ACTIVATE_VERSION was held back
    assert emulator.list_emails(list_id) & {email(i) for i in range(1, 251)}  # removals unfinished

    code, stderr = pipeline.run(range(251, 701))
    assert code == 0, stderr
    assert emulator.list_emails(list_id) == {email(i) for i in range(251, 701)}
    assert "last_pk_fetched" not in bookmark(pipeline.state)


def test_an_unclosed_version_removes_nothing_unless_the_end_of_input_may_close_it(
    emulator: SendGridEmulator, api: Api, tmp_path: Path
) -> None:
    # A singer-sdk tap's habit: ACTIVATE_VERSION once, before the records, and never again.
    config = target_config(emulator, sync_mode="mirror")
    stale = ["stale@example.com"]
    api(
        "PUT",
        "/v3/marketing/contacts",
        json={"list_ids": [config["list_id"]], "contacts": [{"email": e} for e in stale]},
    )
    emulator.wait_for_jobs()

    run = run_cli(config, "version_announced_first.singer", tmp_path)
    assert run.returncode == 0, run.stderr
    assert "was not completed by an ACTIVATE_VERSION after its records" in run.stderr
    assert "stale@example.com" in emulator.list_emails(config["list_id"])
    assert run.summary["removed_from_lists"] == 0

    run = run_cli({**config, "mirror_close_at_end_of_input": True}, "version_announced_first.singer", tmp_path)
    assert run.returncode == 0, run.stderr
    assert emulator.list_emails(config["list_id"]) == {"ann@example.com", "bob@example.com", "cy@example.com"}
    assert run.summary["removed_from_lists"] == 1
    assert run.states == [{"bookmarks": {"customers": {"done": True}}}]


def test_an_unversioned_mirror_run_writes_no_state_until_its_removals_are_done(
    emulator: SendGridEmulator, tmp_path: Path
) -> None:
    config = target_config(emulator, sync_mode="mirror", mirror_max_removal_fraction=0.1)
    api_ = Api(emulator.url)
    api_(
        "PUT",
        "/v3/marketing/contacts",
        json={"list_ids": [config["list_id"]], "contacts": [{"email": "x@example.com"}]},
    )
    emulator.wait_for_jobs()
    # The mirror stops (1 of 5 members would go, over the 10% cap): the run's STATE must not be written.
    run = run_cli(config, "profiles_mixed.singer", tmp_path)
    assert run.returncode != 0
    assert "Nothing was removed" in run.stderr
    assert run.states == []
    assert (DATA / "profiles_mixed.singer").read_text().count('"STATE"') > 0  # the input had STATE to write


def test_skip_unchanged_resends_every_contact_of_a_new_version(emulator: SendGridEmulator, pipeline: Pipeline) -> None:
    # Unchanged rows of a new table version still need the new stamp, or its close would remove them.
    pipeline.config["skip_unchanged"] = True
    list_id = pipeline.config["list_id"]
    assert pipeline.run(range(1, 101))[0] == 0
    before = len(emulator.requests_made("/v3/marketing/contacts"))
    code, stderr = pipeline.run(range(1, 101))  # the next full sync: a new version, the same rows
    assert code == 0, stderr[-2000:]
    upserts = [r for r in emulator.requests_made("/v3/marketing/contacts")[before:] if r["method"] == "PUT"]
    assert sum(r["contacts"] for r in upserts) == 100
    assert emulator.list_emails(list_id) == {email(i) for i in range(1, 101)}
