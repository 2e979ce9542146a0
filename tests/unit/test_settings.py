"""Settings: declared once (the schema generated from the fields), one typed object, the rules that need only them."""

from __future__ import annotations

import dataclasses
import inspect
from decimal import Decimal
from typing import Any

import pytest
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError

from target_sendgrid.delivery.exporter import Exporter
from target_sendgrid.sendgrid.client import SendGridClient
from target_sendgrid.sendgrid.transport import Transport
from target_sendgrid.settings import CONFIG_SCHEMA, Settings, check, schema_default, unused
from target_sendgrid.settings.declaration import default_of, schema_of, setting

BASE = {"api_key": "SG.secret", "data_privacy_consent": True, "list_id": "3f1c2a9e-5b7d-4c1e-9a2b-7d8e6f5a4b3c"}


def settings(**changes: Any) -> Settings:
    return Settings.from_config({**BASE, **changes})


def test_the_schema_is_the_fields_in_their_order_and_an_unset_setting_takes_its_declared_default() -> None:
    assert list(CONFIG_SCHEMA["properties"]) == [f.name for f in dataclasses.fields(Settings)]
    assert CONFIG_SCHEMA["required"] == ["api_key", "data_privacy_consent"]
    built = Settings.from_config({"api_key": "k", "data_privacy_consent": True})
    defaulted = {name: p["default"] for name, p in CONFIG_SCHEMA["properties"].items() if "default" in p}
    assert len(defaulted) > 20
    for name, default in defaulted.items():
        assert getattr(built, name) == default == schema_default(name), name


def test_a_declared_field_becomes_a_property_and_a_secret_stays_out_of_the_repr() -> None:
    @dataclasses.dataclass(frozen=True)
    class Two:
        token: str = setting(th.StringType, description="A secret.", required=True, secret=True)
        size: int = setting(th.IntegerType(minimum=1), description="How many.", default=3)

    assert (
        schema_of(Two)
        == th.PropertiesList(
            th.Property("token", th.StringType, required=True, secret=True, description="A secret."),
            th.Property("size", th.IntegerType(minimum=1), default=3, description="How many."),
        ).to_dict()
    )
    assert default_of(Two, "size") == 3 and default_of(Two, "token") is None
    assert "hunch" not in repr(Two(token="hunch", size=1))


def test_a_field_declared_without_its_schema_is_refused() -> None:
    @dataclasses.dataclass(frozen=True)
    class Loose:
        size: int = dataclasses.field()

    with pytest.raises(TypeError, match="size is not declared with setting"):
        schema_of(Loose)


def test_numbers_are_read_as_their_kind_whatever_the_config_holds() -> None:
    built = settings(request_timeout_seconds=Decimal("10.5"), job_timeout_seconds=30, batch_size=Decimal("100"))
    assert built.request_timeout_seconds == 10.5 and type(built.request_timeout_seconds) is float
    assert built.job_timeout_seconds == 30.0 and type(built.job_timeout_seconds) is float
    assert built.batch_size == 100 and type(built.batch_size) is int


def test_empty_collections_for_unset_ones() -> None:
    built = settings()
    assert built.segments == () and built.segment_lists == {} and built.custom_field_mapping == {}
    assert built.field_mapping is None


def test_the_key_never_shows_in_its_repr() -> None:
    assert "SG.secret" not in repr(settings())


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings().dry_run = True  # type: ignore[misc]  # the assignment mypy refuses is the one under test


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"data_privacy_consent": False}, "data_privacy_consent"),
        ({"list_name": "X"}, "Set list_id or list_name, not both"),
        ({"list_id": None}, "No list is configured"),
        ({"list_id": None, "allow_no_list": True, "sync_mode": "mirror"}, "sync_mode mirror needs list_id"),
        ({"api_url": "http://example.com"}, "api_url must be an https:// URL"),
        ({"field_mapping": {"fist_name": "f"}}, "unknown SendGrid fields"),
        ({"custom_field_mapping": {"1st": "x"}}, "custom field name '1st'"),
        ({"sync_mode": "mirror", "mirror_version_field": "email"}, "is a reserved field"),
    ],
)
def test_settings_that_cannot_work_are_refused_saying_how_to_fix_them(changes: dict, message: str) -> None:
    with pytest.raises(ConfigValidationError) as refused:
        check(settings(**changes))
    assert message in " ".join(refused.value.errors)


def test_working_settings_pass() -> None:
    check(settings(segments=["vip"], sync_mode="mirror", custom_field_mapping={"ltv": "ltv"}))
    check(settings(list_id=None, allow_no_list=True))


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"dry_run": True, "skip_unchanged": True}, "skip_unchanged needs SendGrid's copy of the target lists"),
        ({"dry_run": True, "sync_mode": "mirror"}, "sync_mode mirror needs SendGrid's copy of the target lists"),
        ({"deleted_records": "delete_contacts", "hard_delete": False}, "and hard_delete: false exports them"),
    ],
)
def test_settings_that_would_ignore_each_other_are_refused_in_one_line(given: dict, named: str) -> None:
    with pytest.raises(ConfigValidationError) as refused:
        check(settings(**given))
    [message] = refused.value.errors
    assert named in message


def test_settings_a_configuration_makes_do_nothing_are_each_named() -> None:
    routed = settings(segments=["vip"], segment_lists={"vip": "VIP", "news": "News"}, list_name="Main")
    assert routed.routed_segments == {"vip": "VIP"}
    assert unused(routed) == [
        "segment_lists names segment 'news', which segments does not select: its list 'News' is left alone (not "
        "created, nothing added or removed). Add the segment to segments, or drop the entry.",
        "list_name 'Main' gets no contact: every selected segment has its own list in segment_lists (the list_name "
        "list takes the selected segments that have none). Drop list_name, or a segment_lists entry.",
    ]
    assert unused(settings(segments=["vip", "other"], segment_lists={"vip": "VIP"}, list_name="Main")) == []
    assert unused(settings(mirror_close_at_end_of_input=True)) == [
        "mirror_close_at_end_of_input does nothing without sync_mode: mirror."
    ]


@pytest.mark.parametrize(
    ("component", "parameter", "setting"),
    [
        (Transport, "api_url", "api_url"),
        (Transport, "timeout", "request_timeout_seconds"),
        (Transport, "max_retries", "max_retries"),
        (SendGridClient, "api_url", "api_url"),
        (SendGridClient, "max_download_bytes", "max_download_bytes"),
        (Exporter, "batch_size", "batch_size"),
        (Exporter, "max_request_bytes", "max_request_bytes"),
        (Exporter, "max_in_flight", "max_jobs_in_flight"),
        (Exporter, "job_timeout", "job_timeout_seconds"),
        (Exporter, "max_job_attempts", "max_job_attempts"),
    ],
)
def test_a_components_own_default_is_the_settings_default(component: type, parameter: str, setting: str) -> None:
    """Declared once: a component built without the setting behaves as a run given no value for it."""
    assert inspect.signature(component).parameters[parameter].default == schema_default(setting)


ENV_BASE = {
    "TARGET_SENDGRID_API_KEY": "SG.unused",
    "TARGET_SENDGRID_DATA_PRIVACY_CONSENT": "true",
    "TARGET_SENDGRID_LIST_NAME": "VIP",
    "TARGET_SENDGRID_DRY_RUN": "true",
}


def test_number_settings_from_the_environment_are_read_as_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    """With --config ENV the SDK leaves a number setting as text (it converts integers and booleans only)."""
    from target_sendgrid.target import TargetSendGrid  # the plugin: its construction does no I/O

    variables = {"TARGET_SENDGRID_JOB_TIMEOUT_SECONDS": "2.5", "TARGET_SENDGRID_MIRROR_MAX_REMOVAL_FRACTION": "0.25"}
    for name, value in {**ENV_BASE, **variables}.items():
        monkeypatch.setenv(name, value)
    target = TargetSendGrid(config=None, parse_env_config=True)
    assert (target.settings.job_timeout_seconds, target.settings.mirror_max_removal_fraction) == (2.5, 0.25)
    monkeypatch.setenv("TARGET_SENDGRID_JOB_TIMEOUT_SECONDS", "soon")  # not a number: refused, by name
    with pytest.raises(ConfigValidationError) as refused:
        TargetSendGrid(config=None, parse_env_config=True)
    assert any("job_timeout_seconds" in error for error in refused.value.errors)
