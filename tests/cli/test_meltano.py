"""Target-sendgrid at home in Meltano and in shells: a real `meltano run`, env config, stream maps."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sendgrid_emulator import SendGridEmulator
from target_sendgrid.contacts.mapping import Rejected, normalise_email
from tests.conftest import target_command
from tests.meltano_project import MeltanoProject
from tests.profiles import profiles
from tests.support import API_KEY, ROOT, meltano, run_target, singer_lines, target_config


def sample_segment_emails(segments: set[str]) -> set[str]:
    emails = set()
    for line in (ROOT / "sample" / "profiles.jsonl").read_text().splitlines():
        record = json.loads(line)
        if segments & set(record["segments"]):
            with contextlib.suppress(Rejected):
                emails.add(normalise_email(record["email"]))
    return emails


@pytest.mark.slow
def test_meltano_run_exports_the_sample(emulator: SendGridEmulator, meltano_project: MeltanoProject) -> None:
    env = meltano_project.env(
        TARGET_SENDGRID_API_URL=emulator.url,
        TARGET_SENDGRID_API_KEY=API_KEY,  # the key from the environment only
        TARGET_SENDGRID_SEGMNETS='["vip"]',  # a typo: Meltano passes it on, the target names it
    )
    done = meltano_project.run(env, "run", "tap-jsonl", "target-sendgrid")
    [list_id] = [i for i, lst in emulator.lists.items() if lst["name"] == "Sample segments"]
    assert emulator.list_emails(list_id) == sample_segment_emails({"vip", "high_ltv"})
    assert "Export finished" in done.stderr
    assert API_KEY not in done.stdout + done.stderr
    # The one variable that names no setting is named; none of those Meltano sets itself is.
    assert re.findall(r"(TARGET_SENDGRID_\w+) names no setting", done.stderr) == ["TARGET_SENDGRID_SEGMNETS"]
    # Meltano stored the STATE the target emitted. tap-jsonl re-reads a file whose bookmark
    # it holds, so a second run sends the same profiles again: they update, nothing is doubled.
    again = meltano_project.run(env, "run", "tap-jsonl", "target-sendgrid")
    assert '"created": 0' in again.stderr
    assert emulator.list_emails(list_id) == sample_segment_emails({"vip", "high_ltv"})


@pytest.mark.slow
def test_three_meltano_jobs_at_once_each_fill_their_own_list(meltano_project: MeltanoProject) -> None:
    # "Running many pipelines" in the README: its shell block, literally, runs the project's three jobs
    # at once against one account, with a shared rate limit low enough to be reached.
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- parallel-runs:start -->\n```bash\n")[1].split("```\n<!-- parallel-runs:end")[0]
    jobs = {"churn-risk": ("Churn risk", "churn_risk"), "dormant": ("Dormant", "dormant")}
    jobs["newsletter"] = ("Newsletter", "newsletter")
    with SendGridEmulator(API_KEY, job_delay=0.1, rate_limit=2, rate_window=1.0) as emulator:
        env = meltano_project.env(TARGET_SENDGRID_API_URL=emulator.url, TARGET_SENDGRID_API_KEY=API_KEY)
        env["PATH"] = f"{Path(meltano_project.executable).parent}{os.pathsep}{env['PATH']}"
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block], cwd=meltano_project.root, env=env, timeout=900, check=False
        )
        logs = {job: (meltano_project.root / "output" / f"{job}.log").read_text() for job in jobs}
        assert done.returncode == 0, "\n".join(log[-2500:] for log in logs.values())
        for job, (list_name, segment) in jobs.items():
            [list_id] = [i for i, lst in emulator.lists.items() if lst["name"] == list_name]
            assert emulator.list_emails(list_id) == sample_segment_emails({segment})
            assert "Export finished" in logs[job]
            assert "names no setting" not in logs[job]  # an inherited plugin's variables are Meltano's
        assert any(r["status"] == 429 for r in emulator.requests_made()), "the shared limit was never reached"


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
        target_command(None, ROOT / "tests/data/profiles_mixed.singer", "--config", "ENV"),
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


@pytest.mark.slow
def test_the_readme_meltano_walkthrough_works_literally(tmp_path: Path) -> None:
    meltano()  # the walk-through runs the meltano beside this Python: skipped without it (failed in CI)
    # A fresh clone (the plugin's pip_url installs its committed code) sharing this .venv's Meltano.
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    (clone / ".venv").symlink_to(Path(sys.executable).parent.parent)
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- meltano-walkthrough:start -->\n```bash\n")[1].split("```\n<!-- meltano-walkthrough")[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TARGET_SENDGRID_", "MELTANO_"))}
    shell = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", block],
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # the emulator it starts is in this session, stopped below in any case
    )
    try:
        _, err = shell.communicate(timeout=900)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(shell.pid, 9)
    assert shell.returncode == 0, err[-4000:]
    project = clone / "output" / "sendgrid-demo"
    [loader] = yaml.safe_load((project / "meltano.yml").read_text())["plugins"]["loaders"]
    assert loader["config"]["data_privacy_consent"] is True  # a boolean, not the string 'true'
    assert loader["config"]["segments"] == ["vip"]
    [finished] = re.findall(r"Export finished: (\{.*\})", err)
    assert json.loads(finished)["exported"] == len(sample_segment_emails({"vip"}))
    # A new shell, where nothing is exported: the plugin still installs (its pip_url's variable is in
    # the project's .env), again and under another name, and git leaves that machine-local file out.
    assert ".env" in (project / ".gitignore").read_text().splitlines()
    for args in (
        ["install", "--clean", "--plugin-type", "loader", "target-sendgrid"],
        ["add", "--plugin-type", "loader", "target-sendgrid--dormant", "--inherit-from", "target-sendgrid"],
    ):
        again = subprocess.run(
            [str(clone / ".venv" / "bin" / "meltano"), *args], cwd=project, env=env, capture_output=True, text=True
        )
        assert again.returncode == 0, again.stderr[-3000:]
    assert (project / ".meltano/loaders/target-sendgrid/venv/bin/target-sendgrid").exists()


def test_three_pipelines_at_once_share_the_rate_limit_and_each_list_is_exact(tmp_path: Path) -> None:
    # "Running many pipelines" in the README: one account, one shared rate limit, a list per pipeline.
    segments = ["vip", "newsletter", "dormant"]
    input_path = tmp_path / "profiles.singer"
    input_path.write_text("".join(singer_lines(900, state_every=100)))
    with SendGridEmulator(API_KEY, job_delay=0.2, rate_limit=4, rate_window=1.0) as emulator:
        running = []
        for segment in segments:
            config_path = tmp_path / f"{segment}.json"
            config = target_config(emulator, list_id=None, list_name=f"Segment {segment}", segments=[segment])
            config_path.write_text(json.dumps({**config, "batch_size": 100}))
            running.append(
                subprocess.Popen(
                    target_command(config_path),
                    stdin=input_path.open(),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        errors = [p.communicate(timeout=600)[1] for p in running]
        assert [p.returncode for p in running] == [0, 0, 0], "\n".join(e[-2000:] for e in errors)
        for segment in segments:
            [list_id] = [i for i, lst in emulator.lists.items() if lst["name"] == f"Segment {segment}"]
            expected = set()
            for record in profiles(900):
                if segment in (record["segments"] or []):
                    with contextlib.suppress(Rejected):
                        expected.add(normalise_email(record["email"]))
            assert emulator.list_emails(list_id) == expected
        assert any(r["status"] == 429 for r in emulator.requests_made()), "the shared limit was never reached"


@pytest.mark.slow
@pytest.mark.parametrize(
    "setting",
    [{"TARGET_SENDGRID_BATCH_SIZE": "50000"}, {"TARGET_SENDGRID_API_URL": "http://127.0.0.1:9"}],
    ids=["refused-setting", "unreachable-api"],
)
def test_a_failed_start_under_meltano_ends_on_the_targets_line_not_a_broken_pipe(
    meltano_project: MeltanoProject, setting: dict[str, str]
) -> None:
    # The tap has written its whole output into Meltano's pipe when the target stops at start; the
    # target reads the rest (briefly) so that Meltano's writer does not fail with a traceback.
    env = meltano_project.env(**{"TARGET_SENDGRID_API_URL": "http://127.0.0.1:9", **setting})
    env["TARGET_SENDGRID_API_KEY"] = API_KEY
    done = subprocess.run(
        meltano_project.command("run", "tap-jsonl", "target-sendgrid"), env=env, capture_output=True, text=True
    )
    assert done.returncode != 0
    assert "BrokenPipeError" not in done.stderr and "Traceback" not in done.stderr, done.stderr[-3000:]
    failure = r"\[error *\] target-sendgrid .*(batch_size|Could not connect to http://127\.0\.0\.1:9)"
    assert re.search(failure, done.stderr), done.stderr[-3000:]
