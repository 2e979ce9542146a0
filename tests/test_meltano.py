"""Target-sendgrid at home in Meltano and in shells: a real `meltano run`, env config, stream maps."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from target_sendgrid.emulator import SendGridEmulator
from target_sendgrid.mapping import Rejected, normalise_email

from .conftest import API_KEY, run_target, target_config

ROOT = Path(__file__).parent.parent


def meltano() -> str:
    found = shutil.which("meltano", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("meltano is not installed; scripts/test installs it")
        pytest.skip("meltano is not installed (scripts/test installs it)")
    return found


def run_meltano(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([meltano(), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def sample_segment_emails(segments: set[str]) -> set[str]:
    emails = set()
    for line in (ROOT / "sample" / "profiles.jsonl").read_text().splitlines():
        record = json.loads(line)
        if segments & set(record["segments"]):
            with contextlib.suppress(Rejected):
                emails.add(normalise_email(record["email"]))
    return emails


@pytest.mark.slow
def test_meltano_run_exports_the_sample(emulator: SendGridEmulator, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "TARGET_SENDGRID_API_URL": emulator.url,
        "TARGET_SENDGRID_API_KEY": API_KEY,  # the key from the environment only
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path}/meltano.db",  # fresh state for this test
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    run_meltano(env, "install")
    done = run_meltano(env, "run", "tap-jsonl", "target-sendgrid")
    [list_id] = [i for i, lst in emulator.lists.items() if lst["name"] == "Sample segments"]
    assert emulator.list_emails(list_id) == sample_segment_emails({"vip", "high_ltv"})
    assert "Export finished" in done.stderr
    assert API_KEY not in done.stdout + done.stderr
    # Meltano stored the STATE the target emitted. tap-jsonl re-reads a file whose bookmark
    # it holds, so a second run sends the same profiles again: they update, nothing is doubled.
    again = run_meltano(env, "run", "tap-jsonl", "target-sendgrid")
    assert '"created": 0' in again.stderr
    assert emulator.list_emails(list_id) == sample_segment_emails({"vip", "high_ltv"})


def test_settings_from_environment_variables(emulator: SendGridEmulator) -> None:
    list_id = emulator.create_list("from env")
    env = {
        **os.environ,
        "TARGET_SENDGRID_API_KEY": API_KEY,
        "TARGET_SENDGRID_API_URL": emulator.url,
        "TARGET_SENDGRID_LIST_ID": list_id,
        "TARGET_SENDGRID_DATA_PRIVACY_CONSENT": "true",
        "TARGET_SENDGRID_SEGMENTS": '["vip"]',
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "target_sendgrid.target",
            "--config",
            "ENV",
            "--input",
            str(ROOT / "tests/data/profiles_mixed.singer"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert emulator.list_emails(list_id) == {"ann@example.com", "carl@example.com"}


def test_stream_map_filter_is_an_extra_segment_rule(emulator: SendGridEmulator) -> None:
    config = target_config(
        emulator,
        segments=["vip", "newsletter"],
        stream_maps={"customers": {"__filter__": "record.get('Country') == 'US'"}},
    )
    run = run_target(config, "profiles_mixed.singer")
    assert emulator.list_emails(config["list_id"]) == {"ann@example.com"}
    assert run.summary["filtered_by_stream_map"] == 6
