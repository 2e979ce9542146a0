"""Refusals at start say how to fix them: the schema's messages explained, unknown variables named, paths judged."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from singer_sdk.exceptions import ConfigValidationError

from target_sendgrid.files.private import check_writable
from target_sendgrid.settings.checks import CONSENT, explain, unknown_variables


@pytest.mark.parametrize(
    ("error", "explained"),
    [
        ("'data_privacy_consent' is a required property", CONSENT),
        ("'api_key' is a required property", "api_key is missing: set it in the --config file, or add --config ENV"),
        (
            "'vip' is not of type 'array', 'null' in config['segments']",
            'segments must be a list, e.g. segments: ["vip"',
        ),
        (
            "5 is not valid under any of the given schemas in config['custom_field_mapping']['ltv']",
            "custom_field_mapping entry 'ltv' must be a record property's name, or an object such as "
            '{"property": "ltv"',
        ),
        ("-1 is less than the minimum of 1", "-1 is less than the minimum of 1"),  # nothing to add: as the SDK says
    ],
)
def test_the_schemas_refusals_are_explained(error: str, explained: str) -> None:
    [said] = explain([error])
    assert said.startswith(explained)


def test_environment_variables_that_name_no_setting_are_refused_with_the_closest_one() -> None:
    environ = {
        "TARGET_SENDGRID_BATCH_SISE": "5",  # a typo
        "TARGET_SENDGRID_BATCH_SIZE": "5",  # a setting
        "TARGET_SENDGRID_LOGLEVEL": "DEBUG",  # the SDK's
        "TARGET_SENDGRID_EXTRA__THING": "x",  # Meltano's
        "OTHER": "x",
    }
    refusals = unknown_variables(environ, "TARGET_SENDGRID_", ["batch_size", "list_id"])
    assert refusals == ["TARGET_SENDGRID_BATCH_SISE names no setting; did you mean TARGET_SENDGRID_BATCH_SIZE?"]


def test_an_environment_variable_like_no_setting_suggests_none() -> None:
    """A name like no setting points to --about, as an unknown key in a config file does; it suggests nothing."""
    [refusal] = unknown_variables({"TARGET_SENDGRID_ZZZZZZZZZZZZ": "x"}, "TARGET_SENDGRID_", ["batch_size", "list_id"])
    assert refusal == "TARGET_SENDGRID_ZZZZZZZZZZZZ names no setting (target-sendgrid --about lists the settings)."


def test_a_file_setting_that_is_a_link_is_refused(tmp_path: Path) -> None:
    (tmp_path / "real.jsonl").write_text("")
    (tmp_path / "link.jsonl").symlink_to(tmp_path / "real.jsonl")
    with pytest.raises(ConfigValidationError) as refused:
        check_writable(tmp_path / "link.jsonl", "rejected_records_path")
    assert refused.value.errors == [
        f"rejected_records_path {tmp_path / 'link.jsonl'}: is a symbolic link; name the file itself."
    ]


def test_a_file_setting_that_is_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigValidationError, match="rejected_records_path"):
        check_writable(tmp_path, "rejected_records_path")


def test_a_file_settings_missing_folder_is_created_and_said(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "new" / "deeper" / "rejected.jsonl"
    with caplog.at_level(logging.WARNING):
        check_writable(path, "rejected_records_path")
    assert path.parent.is_dir() and not path.exists()
    assert any("its folder did not exist and was created" in r.getMessage() for r in caplog.records)


def test_a_file_settings_folder_that_cannot_be_made_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigValidationError) as refused:
        check_writable(tmp_path / "file" / "rejected.jsonl", "rejected_records_path")
    assert "its folder cannot be created" in refused.value.errors[0]
