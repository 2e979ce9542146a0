"""A run killed with SIGKILL resumes from its last STATE and ends with exactly the right list."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from sendgrid_emulator import SendGridEmulator
from tests.conftest import target_command
from tests.support import API_KEY, expected_emails, singer_lines, target_config

TOTAL = 20_000


def start_target(config_path: Path, input_path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        target_command(config_path, input_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def bookmark(state: dict) -> int:
    return state["bookmarks"]["profiles"]["replication_key_value"]


@pytest.mark.parametrize("kill_after_states", [1, 4])
def test_sigkill_then_resume_from_last_state(
    emulator: SendGridEmulator, tmp_path: Path, kill_after_states: int
) -> None:
    emulator.job_delay = 0.25  # ten jobs: the run outlives the kill point by seconds
    config = target_config(emulator, batch_size=2000, max_contacts=0, max_jobs_in_flight=2)
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    lines = singer_lines(TOTAL)
    first_input = tmp_path / "run1.singer"
    first_input.write_text("".join(lines))

    target = start_target(config_path, first_input)
    states = []
    assert target.stdout is not None
    for line in target.stdout:
        states.append(json.loads(line))
        # Everything the STATE covers was already in SendGrid when it came out.
        assert expected_emails(bookmark(states[-1])) <= emulator.list_emails(config["list_id"])
        if len(states) == kill_after_states:
            assert target.poll() is None, "the run ended before the kill point"
            target.send_signal(signal.SIGKILL)
            break
    target.wait(timeout=30)
    assert target.returncode == -signal.SIGKILL
    last = bookmark(states[-1])
    assert last < TOTAL, "the run was killed before its end"

    # The tap resumes from the last STATE: it sends only the records after the bookmark.
    resumed = [
        line
        for line in lines
        if json.loads(line)["type"] != "RECORD" or json.loads(line)["record"]["customer_id"] > last
    ]
    second_input = tmp_path / "run2.singer"
    second_input.write_text("".join(resumed))
    target = start_target(config_path, second_input)
    out, err = target.communicate(timeout=300)
    assert target.returncode == 0, err[-2000:]
    assert bookmark(json.loads(out.splitlines()[-1])) == TOTAL
    assert emulator.list_emails(config["list_id"]) == expected_emails(TOTAL)
    assert emulator.duplicate_emails == []
    assert API_KEY not in out + err
    assert "Export finished" in err
