"""How a run ends when an orchestrator stops it: SIGTERM or SIGINT, once or twice, over the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from sendgrid_emulator import SendGridEmulator
from tests.conftest import logged_summary, target_command
from tests.support import expected_emails, singer_lines, target_config


class Running:
    """The target's CLI fed through a pipe that stays open, like a tap still reading its source."""

    def __init__(self, config: dict, tmp_path: Path) -> None:
        (tmp_path / "config.json").write_text(json.dumps(config))
        self.process = subprocess.Popen(
            target_command(tmp_path / "config.json"),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.stderr: list[str] = []
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line)

    def feed(self, lines: list[str]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("".join(lines))
        self.process.stdin.flush()

    def wait_for(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.stderr):
            assert time.monotonic() < deadline, f"never logged {text!r}; it logged:\n{''.join(self.stderr)[-3000:]}"
            time.sleep(0.05)

    def finish(self, timeout: float = 60) -> tuple[int, list[dict], str]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()
        out = self.process.stdout.read()
        self.process.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return self.process.returncode, [json.loads(x) for x in out.splitlines() if x.strip()], "".join(self.stderr)


def wait_for_upserts(emulator: SendGridEmulator, count: int, timeout: float = 30) -> None:
    """Until the emulator has received ``count`` upserts: their jobs are then in flight."""
    deadline = time.monotonic() + timeout
    while len([r for r in emulator.requests_made() if r["method"] == "PUT"]) < count:
        assert time.monotonic() < deadline, "the upserts never came"
        time.sleep(0.02)


def bookmark(state: dict) -> int:
    return state["bookmarks"]["profiles"]["replication_key_value"]


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_first_signal_finishes_the_jobs_in_flight_and_exits_non_zero(
    emulator: SendGridEmulator, tmp_path: Path, signum: int, code: int
) -> None:
    emulator.job_delay = 1.5
    config = target_config(emulator, batch_size=500, max_contacts=0, max_jobs_in_flight=2)
    run = Running(config, tmp_path)
    run.feed(singer_lines(2_200, state_every=250))  # four full batches; the tap is still running
    wait_for_upserts(emulator, 2)  # two batches in flight, the third waiting for a slot
    started = time.monotonic()
    run.process.send_signal(signum)
    returncode, states, stderr = run.finish()
    assert returncode == code, stderr[-3000:]
    assert time.monotonic() - started < 20
    assert "Export interrupted" in stderr
    summary = logged_summary(stderr, ("interrupted",))
    in_list = emulator.list_emails(config["list_id"])
    # The jobs in flight were let finish, and their STATE written; nothing after them was sent.
    assert summary["exported"] == len(in_list) > 0
    assert states, "no STATE for the jobs that finished"
    assert expected_emails(bookmark(states[-1])) <= in_list
    assert bookmark(states[-1]) < 2_200
    # Every record read is accounted for: the ones still in an open batch are counted as not sent.
    assert summary["not_sent"] > 0
    assert summary["records_read"] == summary["exported"] + summary["rejected"] + summary["not_sent"]


def test_signal_while_the_tap_is_silent_stops_at_once(emulator: SendGridEmulator, tmp_path: Path) -> None:
    config = target_config(emulator)
    run = Running(config, tmp_path)
    run.feed(singer_lines(50, state_every=10))  # an open batch, nothing sent; the tap then says nothing
    run.wait_for("Stream 'profiles' maps", timeout=20)
    time.sleep(0.5)
    run.process.send_signal(signal.SIGTERM)
    returncode, states, stderr = run.finish(timeout=20)
    assert returncode == 143, stderr[-3000:]
    assert "Export interrupted" in stderr
    assert states == []  # nothing was settled, so no STATE claims anything
    assert emulator.list_emails(config["list_id"]) == set()


def test_a_second_signal_exits_at_once(emulator: SendGridEmulator, tmp_path: Path) -> None:
    emulator.job_delay = 30
    config = target_config(emulator, batch_size=500, max_contacts=0)
    run = Running(config, tmp_path)
    run.feed(singer_lines(1_200, state_every=100))
    wait_for_upserts(emulator, 2)  # two batches in flight, for 30 seconds
    run.process.send_signal(signal.SIGINT)
    run.wait_for("Received SIGINT")
    started = time.monotonic()
    run.process.send_signal(signal.SIGINT)
    returncode, states, stderr = run.finish(timeout=20)
    assert returncode == 130
    assert time.monotonic() - started < 5
    assert "Second signal" in stderr and "Export interrupted" not in stderr
    assert states == []  # the jobs never finished: no STATE past what is settled
