"""Every message a real tap sends, over the CLI: numeric STATE, values as text, BATCH files, order, versions."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from sendgrid_emulator import SendGridEmulator
from tests.conftest import logged_summary, run_cli, target_command
from tests.meltano_project import MeltanoProject
from tests.support import API_KEY, DATA, ROOT, Api, target_config


def test_numeric_bookmarks_pass_through_value_equal(emulator: SendGridEmulator, tmp_path: Path) -> None:
    run = run_cli(target_config(emulator), "float_bookmarks.singer", tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.splitlines()[-1] == (
        '{"bookmarks":{"events":{"replication_key":"seen_at","replication_key_value":1700000001.125,'
        '"cursor":12345678901234567890,"ratio":0.10000000000000000555}}}'
    )
    assert isinstance(run.states[-1]["bookmarks"]["events"]["cursor"], int)


def test_values_become_the_text_a_person_would_write(emulator: SendGridEmulator, api: Api, tmp_path: Path) -> None:
    emulator.create_custom_field("score", "Text")
    config = target_config(
        emulator,
        field_mapping={
            "email": "email",
            "first_name": "name",
            "postal_code": "zip",
            "city": "city",
            "state_province_region": "state",
        },
        custom_field_mapping={"score": "score"},
    )
    run = run_cli(config, "values_as_text.singer", tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    found = api("POST", "/v3/marketing/contacts/search/emails", json={"emails": ["ann@example.com", "bo@example.com"]})
    ann, bo = (found.json()["result"][e]["contact"] for e in ("ann@example.com", "bo@example.com"))
    assert ann["postal_code"] == "12345"
    assert ann["first_name"] == '{"given":"Ann","middle":"B"}'
    assert ann["city"] == "true"
    assert ann["state_province_region"] == '["CA","NV"]'
    assert ann["custom_fields"] == {"score": "99.5"}
    assert (bo["postal_code"], bo["city"], bo["custom_fields"]["score"]) == ("100000", "false", "100")


def test_the_later_record_of_an_email_lands_last_whatever_its_lists(emulator: SendGridEmulator, tmp_path: Path) -> None:
    emulator.job_delay = 0.3  # both batches are in flight together
    config = target_config(
        emulator, list_id=None, segments=["vip", "newsletter"], segment_lists={"vip": "VIP", "newsletter": "News"}
    )
    run = run_cli(config, "later_record_other_list.singer", tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    [x] = [c for c in emulator.list_contacts() if c["email"] == "x@example.com"]
    assert x["first_name"] == "Second"
    assert emulator.duplicate_emails == []


def test_activate_version_is_acknowledged_in_one_line(emulator: SendGridEmulator, tmp_path: Path) -> None:
    config = target_config(emulator)
    run = run_cli(config, "activate_version.singer", tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stderr.count("ACTIVATE_VERSION for stream 'customers' acknowledged") == 1
    assert "not enabled" not in run.stderr and "_sdc_deleted_at" not in run.stderr
    assert emulator.list_emails(config["list_id"]) == {"ann@example.com", "bo@example.com"}


def test_a_batch_encoding_it_cannot_read_fails_clearly_before_any_state_past_it(
    emulator: SendGridEmulator, tmp_path: Path
) -> None:
    config = target_config(emulator)
    run = run_cli(config, "batch_parquet.singer", tmp_path)
    assert run.returncode != 0
    assert "uses the parquet format" in run.stderr and "Input line 4 (stream 'customers')" in run.stderr
    assert run.states == [{"bookmarks": {"customers": {"replication_key_value": 1}}}]
    assert emulator.list_emails(config["list_id"]) == {"ann@example.com"}


def test_a_schema_error_says_its_prefix_once(emulator: SendGridEmulator, tmp_path: Path) -> None:
    run = run_cli(target_config(emulator), "record_not_matching_schema.singer", tmp_path)
    assert run.returncode != 0
    assert run.stderr.count("Record Message Validation Error: Record Message Validation Error") == 0
    assert "Record Message Validation Error" in run.stderr


# --- BATCH messages from a real singer-sdk tap ------------------------------------------


@pytest.fixture(scope="session")
def tap_jsonl(meltano_project: MeltanoProject) -> Path:
    """tap-jsonl from the package registry, installed by Meltano into its own virtualenv."""
    return meltano_project.plugin_executable("extractors", "tap-jsonl")


def pipe(tap: Path, tap_config: dict, config: dict, tmp_path: Path, name: str) -> subprocess.CompletedProcess:
    """``tap | target-sendgrid``, as a shell runs it."""
    (tmp_path / f"{name}-tap.json").write_text(json.dumps(tap_config))
    (tmp_path / f"{name}.json").write_text(json.dumps(config))
    tap_run = subprocess.Popen([str(tap), "--config", str(tmp_path / f"{name}-tap.json")], stdout=subprocess.PIPE)
    done = subprocess.run(
        target_command(tmp_path / f"{name}.json"), stdin=tap_run.stdout, capture_output=True, text=True, timeout=300
    )
    assert tap_run.wait(timeout=60) == 0
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def summary_of(stderr: str) -> dict:
    figures = logged_summary(stderr, ("finished",))
    # Both runs share one account: what the first created, the second updates.
    figures["created_or_updated"] = figures.pop("created") + figures.pop("updated")
    return {k: v for k, v in figures.items() if k not in ("elapsed_seconds", "requests", "upserts", "jobs")}


@pytest.mark.slow
@pytest.mark.parametrize("compression", ["gzip", "none"])
def test_batch_files_take_the_path_of_record_messages(
    emulator: SendGridEmulator, tmp_path: Path, tap_jsonl: Path, compression: str
) -> None:
    profiles = tmp_path / "profiles.jsonl"
    profiles.write_text("".join((ROOT / "sample/profiles.jsonl").read_text().splitlines(keepends=True)[:1000]))
    tap_config = {"path": str(profiles), "stream_name": "profiles", "primary_keys": ["customer_id"]}
    outcome = {}
    for name, extra in {
        "records": {},
        "batches": {
            "batch_config": {
                "encoding": {"format": "jsonl", "compression": compression},
                "storage": {"root": f"file://{tmp_path}/batches", "prefix": "b-"},
                "batch_size": 300,
            }
        },
    }.items():
        (tmp_path / "batches").mkdir(exist_ok=True)
        rejected = tmp_path / f"{name}-rejected.jsonl"
        config = target_config(
            emulator, list_id=None, list_name=name, segments=["vip"], rejected_records_path=str(rejected)
        )
        done = pipe(tap_jsonl, {**tap_config, **extra}, config, tmp_path, name)
        [list_id] = [i for i, lst in emulator.lists.items() if lst["name"] == name]
        # The rejected lines without their run_id, which differs from run to run.
        lines = [{k: v for k, v in json.loads(x).items() if k != "run_id"} for x in rejected.read_text().splitlines()]
        outcome[name] = (summary_of(done.stderr), emulator.list_emails(list_id), lines, done.stdout)
    if compression == "gzip":
        assert list((tmp_path / "batches").glob("*.gz")), "the tap wrote no gzip batch files"
    records, batches = outcome["records"], outcome["batches"]
    assert batches[0]["records_read"] == 1000
    assert batches[0] == records[0]  # every count: exported, filtered, rejected by reason
    assert batches[1] == records[1] and len(batches[1]) > 100
    assert batches[2] == records[2]  # the same rejected lines, the same record numbers
    assert json.loads(batches[3].splitlines()[-1])  # the tap's last STATE came through
    assert API_KEY not in batches[3]


@pytest.mark.parametrize("how", ["pipe", "--input"])
def test_input_is_read_as_utf8_whatever_the_locale_and_line_ends(
    emulator: SendGridEmulator, tmp_path: Path, how: str
) -> None:
    # Singer messages are UTF-8 JSON. A process whose stdin encoding is Latin-1 (PYTHONIOENCODING,
    # or a legacy locale) must not turn "Zoë" into "ZoÃ«"; Windows line ends are whitespace.
    config = target_config(emulator)
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    scenario = DATA / "utf8_names_crlf.singer"
    command = target_command(config_path, scenario if how == "--input" else None)
    env = {**os.environ, "PYTHONIOENCODING": "latin-1", "PYTHONUTF8": "0", "LC_ALL": "C"}
    with scenario.open("rb") as data:
        feed = None if how == "--input" else data.read()
    done = subprocess.run(command, input=feed, capture_output=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    names = {c["email"]: (c["first_name"], c["last_name"]) for c in emulator.list_contacts(config["list_id"])}
    assert names == {
        "zoe@example.com": ("Zoë", "Ångström"),
        "jose@example.com": ("José", "Muñoz"),
        "lukasz@example.com": ("Łukasz", "Żółć"),
        "watanabe@example.com": ("渡辺", "健"),
    }
    assert json.loads(done.stdout.decode().splitlines()[-1]) == {"bookmarks": {"people": {"done": True}}}


def test_a_draft4_schema_with_decimal_bounds_exports_and_says_what_it_does_not_check(
    emulator: SendGridEmulator, tmp_path: Path
) -> None:
    # pipelinewise-tap-postgres's numeric(12,2): boolean exclusive bounds and multipleOf 0.01 (a $ref too).
    run = run_cli(target_config(emulator), "draft4_numeric.singer", tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.summary["exported"] == 2
    assert "Stream 'customers': multipleOf of ltv is not validated" in run.stderr
    assert "Traceback" not in run.stderr
    assert run.states == [{"bookmarks": {"customers": {"id": 2}}}]


def test_a_record_nested_too_deeply_is_named_by_its_line_after_the_records_before_it(
    emulator: SendGridEmulator, tmp_path: Path
) -> None:
    schema = {"properties": {"email": {"type": "string"}, "x": {}}}
    lines = [json.dumps({"type": "SCHEMA", "stream": "s", "schema": schema, "key_properties": []})]
    lines += [json.dumps({"type": "RECORD", "stream": "s", "record": {"email": f"u{i}@x.io"}}) for i in range(3)]
    lines += [json.dumps({"type": "STATE", "value": {"at": 3}})]
    deep = '{"a":' * 100_000 + "1" + "}" * 100_000
    lines += ['{"type": "RECORD", "stream": "s", "record": {"email": "deep@x.io", "x": ' + deep + "}}"]
    lines += [json.dumps({"type": "RECORD", "stream": "s", "record": {"email": "after@x.io"}})]
    scenario = tmp_path / "deep.singer"
    scenario.write_text("\n".join(lines) + "\n")
    config = target_config(emulator)
    run = run_cli(config, scenario, tmp_path)
    assert run.returncode == 1
    assert "Input line 6: a value is nested too deeply to be read" in run.stderr
    assert "Traceback" not in run.stderr and "RecursionError" not in run.stderr
    assert emulator.list_emails(config["list_id"]) == {"u0@x.io", "u1@x.io", "u2@x.io"}
    assert run.states == [{"at": 3}]


def test_each_dropped_custom_value_is_named_counted_and_listed_and_its_record_still_exported(
    emulator: SendGridEmulator, tmp_path: Path
) -> None:
    emulator.create_custom_field("ltv", "Number")
    emulator.create_custom_field("signup", "Date")
    rejected = tmp_path / "rejected.jsonl"
    config = target_config(
        emulator, custom_field_mapping={"ltv": "ltv", "signup": "signup"}, rejected_records_path=str(rejected)
    )
    run = run_cli(config, "values_dropped.singer", tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.summary["exported"] == 4 and run.summary["rejected"] == 0
    assert run.summary["custom_values_dropped"] == 4  # 1700000000 is epoch seconds as text: taken
    dropped = [line.split(" | ")[-1] for line in run.stderr.splitlines() if "dropped:" in line]
    assert dropped == [
        "Record 1 of stream 'customers': custom field signup dropped: a text of 10 characters is a date with "
        "slashes: day and month order is ambiguous",
        "Record 3 of stream 'customers': custom field ltv dropped: a text of 8 characters is not a number",
        "Record 3 of stream 'customers': custom field signup dropped: a text of 8 characters is ambiguous: a date "
        "key (YYYYMMDD) or epoch seconds in 1970",
        "Record 4 of stream 'customers': custom field ltv dropped: a text of 3 characters is not a number",
    ]
    for value in ("03/15/2024", "1,234.50", "20240315", "$99"):
        assert value not in run.stderr and value not in rejected.read_text()
    lines = [json.loads(line) for line in rejected.read_text().splitlines()]
    assert [(x["record_number"], x["reason"], x["detail"].split(":")[0]) for x in lines] == [
        (1, "custom value dropped", "signup"),
        (3, "custom value dropped", "ltv"),
        (3, "custom value dropped", "signup"),
        (4, "custom value dropped", "ltv"),
    ]
    contacts = {c["email"]: c["custom_fields"] for c in emulator.list_contacts(config["list_id"])}
    assert contacts["epoch-text@example.com"] == {"signup": "2023-11-14T22:13:20Z"}
    assert contacts["dollars@example.com"] == {}
