"""Settings the target does not understand are refused at start, in one line each, before anything is sent."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from sendgrid_emulator import SendGridEmulator
from tests.conftest import run_cli, target_command
from tests.support import API_KEY, DATA, target_config


def refusals(stderr: str) -> list[str]:
    """The ERROR lines of a run, their logger prefix left out."""
    return [line.split(" | ")[-1] for line in stderr.splitlines() if "ERROR" in line]


def assert_nothing_sent(emulator: SendGridEmulator) -> None:
    writes = [r for r in emulator.requests_made() if r["method"] != "GET"]
    assert writes == [] and emulator.list_contacts() == []


@pytest.mark.parametrize(
    ("typo", "meant"),
    [("segmnets", "segments"), ("list_nme", "list_name"), ("data_privacy_consnet", "data_privacy_consent")],
)
def test_a_misspelt_setting_is_refused_naming_the_closest_one(
    emulator: SendGridEmulator, tmp_path: Path, typo: str, meant: str
) -> None:
    run = run_cli({**target_config(emulator), typo: ["vip"]}, "profiles_mixed.singer", tmp_path)
    assert run.returncode == 1
    assert f"{typo} is not a setting; did you mean {meant}?" in refusals(run.stderr)
    assert "Config validation failed" not in run.stderr and "Traceback" not in run.stderr
    assert_nothing_sent(emulator)
    assert run.states == []


def test_the_sdks_own_settings_stay_accepted(emulator: SendGridEmulator, tmp_path: Path) -> None:
    config = {**target_config(emulator), "validate_records": True, "flattening_enabled": False, "stream_maps": {}}
    run = run_cli(config, "profiles_mixed.singer", tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]


def test_a_missing_consent_gets_the_explanation_a_false_one_does(emulator: SendGridEmulator, tmp_path: Path) -> None:
    config = target_config(emulator)
    missing = run_cli(
        {k: v for k, v in config.items() if k != "data_privacy_consent"}, "profiles_mixed.singer", tmp_path
    )
    false = run_cli({**config, "data_privacy_consent": False}, "profiles_mixed.singer", tmp_path)
    assert missing.returncode == false.returncode == 1
    assert refusals(missing.stderr) == refusals(false.stderr)
    [line] = refusals(missing.stderr)
    assert "personal data" in line and "data_privacy_consent: true" in line
    assert_nothing_sent(emulator)


def test_a_list_that_does_not_exist_is_one_line(emulator: SendGridEmulator, tmp_path: Path) -> None:
    run = run_cli(
        target_config(emulator, list_id="3f1c2a9e-5b7d-4c1e-9a2b-7d8e6f5a4b3c"), "profiles_mixed.singer", tmp_path
    )
    assert refusals(run.stderr) == ["No SendGrid list has the id '3f1c2a9e-5b7d-4c1e-9a2b-7d8e6f5a4b3c' (list_id)."]


def test_a_list_id_that_is_not_one_sends_nothing(emulator: SendGridEmulator, tmp_path: Path) -> None:
    run = run_cli(target_config(emulator, list_id="../../contacts/count?x="), "profiles_mixed.singer", tmp_path)
    assert run.returncode == 1
    [line] = refusals(run.stderr)
    assert line.startswith("list_id must be a SendGrid list id")
    assert emulator.requests_made() == []


@pytest.mark.parametrize("suffix", ["?x=1", "#top"])
def test_an_api_url_with_a_query_or_fragment_is_refused(
    emulator: SendGridEmulator, tmp_path: Path, suffix: str
) -> None:
    run = run_cli(target_config(emulator, api_url=emulator.url + suffix), "profiles_mixed.singer", tmp_path)
    assert run.returncode == 1 and "must not carry a query or fragment" in run.stderr
    assert_nothing_sent(emulator)


def test_an_api_url_with_a_password_is_refused_without_showing_it(emulator: SendGridEmulator, tmp_path: Path) -> None:
    url = emulator.url.replace("http://", "http://user:s3cr3t-pw@")
    run = run_cli(target_config(emulator, api_url=url), "profiles_mixed.singer", tmp_path)
    assert run.returncode == 1
    assert refusals(run.stderr) == ["api_url must not carry a user or password: the API key is the only credential"]
    assert "s3cr3t-pw" not in run.stderr + run.stdout
    assert emulator.requests_made() == []


def test_fractional_timeouts_from_a_config_file_work(emulator: SendGridEmulator, tmp_path: Path) -> None:
    # The SDK parses config files with Decimal: each setting is read as its kind.
    config = target_config(emulator, request_timeout_seconds=10.5, job_timeout_seconds=30.5)
    run = run_cli(config, "profiles_mixed.singer", tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.summary["exported"] == 4


def test_a_rejected_records_path_that_is_a_link_is_refused_and_its_target_untouched(
    emulator: SendGridEmulator, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    victim.chmod(0o644)
    link = tmp_path / "rejected.jsonl"
    link.symlink_to(victim)
    run = run_cli(target_config(emulator, rejected_records_path=str(link)), "profiles_mixed.singer", tmp_path)
    assert run.returncode == 1
    assert refusals(run.stderr) == [f"rejected_records_path {link}: is a symbolic link; name the file itself."]
    assert victim.read_text() == "keep me\n" and (victim.stat().st_mode & 0o777) == 0o644
    assert_nothing_sent(emulator)


def test_a_rejected_records_path_that_cannot_be_created_is_refused_at_start(
    emulator: SendGridEmulator, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    path = blocker / "rejected.jsonl"  # a folder that is a file
    run = run_cli(target_config(emulator, rejected_records_path=str(path)), "profiles_mixed.singer", tmp_path)
    assert run.returncode == 1
    [line] = refusals(run.stderr)
    assert line.startswith(f"rejected_records_path {path}: its folder cannot be created")
    assert "Traceback" not in run.stderr
    assert_nothing_sent(emulator)
    assert json.loads(json.dumps(run.states)) == []
    assert os.path.exists(blocker)


# --- the first hour (#31): settings from the environment, and what a paste brings ---------------------------


def env_run(config: dict, tmp_path: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess:
    """The CLI with a config file, more arguments (``--config ENV``) and these variables."""
    (tmp_path / "config.json").write_text(json.dumps(config))
    command = target_command(tmp_path / "config.json", DATA / "profiles_mixed.singer", *extra)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TARGET_SENDGRID_")}
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env={**clean, **env})


def test_a_misspelt_variable_is_refused_with_config_env(emulator: SendGridEmulator, tmp_path: Path) -> None:
    config = target_config(emulator)
    # Meltano's own variables (an extra, an inherited plugin's setting) and the SDK's log level are not settings.
    env = {"TARGET_SENDGRID_SEGMNETS": '["vip"]', "TARGET_SENDGRID_LOGLEVEL": "INFO"}
    env |= {"TARGET_SENDGRID__LOAD_SCHEMA": "x", "TARGET_SENDGRID__VIP_LIST_NAME": "VIP"}
    run = env_run(config, tmp_path, env, "--config", "ENV")
    assert run.returncode == 1
    assert refusals(run.stderr) == ["TARGET_SENDGRID_SEGMNETS names no setting; did you mean TARGET_SENDGRID_SEGMENTS?"]
    assert_nothing_sent(emulator)
    spelt = env_run(config, tmp_path, {**env, "TARGET_SENDGRID_SEGMENTS": '["vip"]'} | {"TARGET_SENDGRID_SEGMNETS": ""})
    assert spelt.returncode == 0  # without --config ENV the environment is not read, so nothing is refused
    assert refusals(spelt.stderr) == []
    assert (
        "TARGET_SENDGRID_SEGMNETS names no setting; did you mean TARGET_SENDGRID_SEGMENTS? It is not read: the "
        "settings come from the --config file." in spelt.stderr
    )


def test_a_key_only_in_the_environment_without_config_env_is_explained(
    emulator: SendGridEmulator, tmp_path: Path
) -> None:
    config = {k: v for k, v in target_config(emulator).items() if k != "api_key"}
    run = env_run(config, tmp_path, {"TARGET_SENDGRID_API_KEY": API_KEY})
    assert run.returncode == 1
    assert "add --config ENV to read it from TARGET_SENDGRID_API_KEY" in refusals(run.stderr)[-1]
    read = env_run(config, tmp_path, {"TARGET_SENDGRID_API_KEY": API_KEY}, "--config", "ENV")
    assert read.returncode == 0, read.stderr[-2000:]


def test_a_number_past_its_bound_is_refused_with_the_bound(emulator: SendGridEmulator, tmp_path: Path) -> None:
    run = run_cli({**target_config(emulator), "batch_size": 50000}, "profiles_mixed.singer", tmp_path)
    assert run.returncode == 1
    assert refusals(run.stderr)[-1] == "batch_size is 50000: set it to at most 30000."


def test_segments_as_one_name_is_refused_with_the_list_form(emulator: SendGridEmulator, tmp_path: Path) -> None:
    run = run_cli({**target_config(emulator), "segments": "vip"}, "profiles_mixed.singer", tmp_path)
    assert run.returncode == 1
    assert refusals(run.stderr)[-1] == 'segments must be a list, e.g. segments: ["vip", "newsletter"].'


def test_a_key_pasted_with_blanks_is_sent_without_them(emulator: SendGridEmulator, tmp_path: Path) -> None:
    run = run_cli({**target_config(emulator), "api_key": f" {API_KEY}\n"}, "profiles_mixed.singer", tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "api_key had blanks around it (a paste?); they are not sent" in run.stderr
    assert run.summary["exported"] == 4


def test_a_byte_order_mark_before_the_first_message_is_read_past(emulator: SendGridEmulator, tmp_path: Path) -> None:
    scenario = tmp_path / "bom.singer"
    scenario.write_bytes(b"\xef\xbb\xbf" + (DATA / "profiles_mixed.singer").read_bytes())
    run = run_cli(target_config(emulator), scenario, tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.summary["exported"] == 4


def test_a_segment_list_no_selected_segment_uses_is_named_in_a_warning(
    emulator: SendGridEmulator, tmp_path: Path
) -> None:
    config = {**target_config(emulator, list_id=None), "segments": ["vip"]}
    config["segment_lists"] = {"vip": "VIP", "newsletter": "News"}
    run = run_cli(config, "profiles_mixed.singer", tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "segment_lists names segment 'newsletter', which segments does not select" in run.stderr
    assert {lst["name"] for lst in emulator.lists.values()} == {"VIP"}  # "News" is no target: not created


def test_a_rejected_records_folder_that_did_not_exist_is_created_and_said(
    emulator: SendGridEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "new" / "folder" / "rejected.jsonl"
    run = run_cli(target_config(emulator, rejected_records_path=str(path)), "profiles_mixed.singer", tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert f"rejected_records_path {path}: its folder did not exist and was created" in run.stderr
