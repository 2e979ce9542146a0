"""The rules that need only the settings: each refusal says how to fix it, before anything is read or sent."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from singer_sdk.exceptions import ConfigValidationError

from target_sendgrid.contacts.custom_fields import name_errors
from target_sendgrid.contacts.mapping import resolve_mapping
from target_sendgrid.sendgrid.urls import check_api_url
from target_sendgrid.settings.model import Settings

CONSENT = (
    "Exporting sends personal data (emails, names, addresses) outside your warehouse's compliance "
    "boundary, to SendGrid. Confirm that this is allowed by setting data_privacy_consent: true."
)
# SendGrid's list ids are UUIDs (36 characters: the lists definitions); anything else would be
# put into a request path as it is.
LIST_ID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_SHOWN = 60  # characters of an unknown setting's name shown in its refusal


def unknown_settings(config: Mapping[str, Any], known: Iterable[str]) -> list[str]:
    """One refusal per setting the target does not have, naming the closest one it has."""
    names = sorted(known)
    refusals = []
    for name in sorted(set(config) - set(names), key=str):
        refusals.append(f"{str(name)[:_SHOWN]} is not a setting{_closest(str(name), names)}")
    return refusals


def _closest(name: str, names: list[str]) -> str:
    """The end of a refusal of an unknown name: the closest known one, or where the settings are listed."""
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else " (target-sendgrid --about lists the settings)."


# The SDK's refusal of one custom_field_mapping entry: "<value> is not valid under any of the given schemas in
# config['custom_field_mapping']['<name>']".
_CUSTOM_ENTRY = re.compile(r"in config\['custom_field_mapping'\]\['(?P<name>.{0,100})'\]$")


def unknown_variables(environ: Mapping[str, str], prefix: str, known: Iterable[str]) -> list[str]:
    """One line per ``<prefix>*`` variable that names no setting: a refusal with ``--config ENV``, as for a
    key in a file, else a warning (the variable is not read).

    Not settings, and never named: the SDK's log level (``<prefix>LOGLEVEL``), and the variables Meltano
    sets with a double underscore: its extras (``TARGET_SENDGRID__LOAD_SCHEMA``) and the settings of an
    inherited plugin (``target-sendgrid--vip`` reads ``TARGET_SENDGRID__VIP_<SETTING>``).
    """
    names = {prefix + name.upper().replace("-", "_"): name for name in known}
    refusals = []
    for variable in sorted(v for v in environ if v.startswith(prefix)):
        rest = variable[len(prefix) :]
        if variable in names or rest == "LOGLEVEL" or rest.startswith("_") or "__" in rest:
            continue
        # Compared without the prefix they all share, which would make any name look close to some setting.
        close = _closest(rest, sorted(n[len(prefix) :] for n in names)).replace("mean ", f"mean {prefix}", 1)
        refusals.append(f"{variable[:_SHOWN]} names no setting{close}")
    return refusals


# "'vip' is not of type 'array', 'null' in config['segments']"
_ARRAY = re.compile(r"is not of type 'array'.* in config\['(?P<name>[a-z_]{1,60})'\]$")
# jsonschema's words for a number out of its range, e.g. "50000 is greater than the maximum of 30000".
_BOUND = re.compile(
    r"^(?P<value>\S{1,40}) is (?P<way>greater|less) than the (?:maximum|minimum) of (?P<bound>\S{1,40}) "
    r"in config\['(?P<name>[a-z_]{1,60})'\]$"
)


def explain(errors: Iterable[str]) -> list[str]:
    """The SDK's schema refusals, with the consent and custom field entries explained."""
    return [_explain(e) for e in errors]


def _explain(error: str) -> str:
    if error.startswith("'data_privacy_consent' is a required property"):
        return CONSENT
    if error.startswith("'api_key' is a required property"):
        return (
            "api_key is missing: set it in the --config file, or add --config ENV to read it from "
            "TARGET_SENDGRID_API_KEY (Meltano passes its settings for you)."
        )
    if found := _ARRAY.search(error):
        return f'{found["name"]} must be a list, e.g. {found["name"]}: ["vip", "newsletter"].'
    if found := _BOUND.search(error):
        most = "at most" if found["way"] == "greater" else "at least"
        return f"{found['name']} is {found['value']}: set it to {most} {found['bound']}."
    if found := _CUSTOM_ENTRY.search(error):
        name = found["name"]
        return (
            f"custom_field_mapping entry {name!r} must be a record property's name, or an object such as "
            f'{{"property": "{name}", "type": "Number"}} with a type of Text, Number or Date.'
        )
    return error


def check(settings: Settings) -> None:
    """Refuse settings that cannot work together (the schema already checked each one's kind)."""
    if settings.data_privacy_consent is not True:
        raise ConfigValidationError("data_privacy_consent is not true", errors=[CONSENT])
    _check_lists(settings)
    _check_modes(settings)
    _check_values(settings)


def _check_lists(settings: Settings) -> None:
    """The list settings: a list id that is one, one way to name the list, and a list unless none is allowed."""
    if settings.list_id and not LIST_ID.match(settings.list_id):
        raise ConfigValidationError(
            "list_id is not a list id",
            errors=[
                "list_id must be a SendGrid list id (36 characters, like 3f1c2a9e-5b7d-4c1e-9a2b-7d8e6f5a4b3c); "
                "to name a list, use list_name."
            ],
        )
    if settings.list_id and settings.list_name:
        raise ConfigValidationError(
            "list_id and list_name are both set", errors=["Set list_id or list_name, not both."]
        )
    if not settings.has_list and not settings.allow_no_list:
        raise ConfigValidationError(
            "no list configured",
            errors=[
                "No list is configured: set list_id, list_name or segment_lists, or set allow_no_list: true "
                "to upsert contacts into no list (they appear only in All Contacts)."
            ],
        )


def _check_modes(settings: Settings) -> None:
    """The modes that exclude or need one another (plan, dry run, mirror, deletions)."""
    if settings.plan and settings.dry_run:
        raise ConfigValidationError(
            "plan and dry_run are both set",
            errors=[
                "Set plan or dry_run, not both: a plan reads SendGrid to count what would change; a dry run reads "
                "nothing."
            ],
        )
    if settings.dry_run and (settings.skip_unchanged or settings.mirror):
        needs = "skip_unchanged" if settings.skip_unchanged else "sync_mode mirror"
        raise ConfigValidationError(
            f"dry_run and {needs}",
            errors=[
                f"{needs} needs SendGrid's copy of the target lists, and a dry run reads nothing from SendGrid: set "
                "plan: true instead of dry_run to see what the run would change."
            ],
        )
    if settings.deleted_records == "delete_contacts" and not settings.hard_delete:
        raise ConfigValidationError(
            "deleted_records without hard_delete",
            errors=[
                "deleted_records: delete_contacts acts on records the tap flags deleted, and hard_delete: false "
                "exports them like any other: set hard_delete: true, or leave deleted_records unset."
            ],
        )
    if settings.plan_path and not settings.plan:
        raise ConfigValidationError(
            "plan_path without plan", errors=["plan_path is set but plan is not true: set plan: true to make a plan."]
        )
    if settings.mirror and not settings.has_list:
        raise ConfigValidationError(
            "mirror needs a list", errors=["sync_mode mirror needs list_id, list_name or segment_lists."]
        )


def _check_values(settings: Settings) -> None:
    """The values the schema cannot judge: api_url, the field mapping, custom field names."""
    try:
        check_api_url(settings.api_url)
        resolve_mapping(settings.field_mapping, ())
    except ValueError as exc:
        raise ConfigValidationError(str(exc), errors=[str(exc)]) from None
    names = list(settings.custom_field_mapping)
    if settings.mirror:  # the stamp is a custom field of its own
        names.append(settings.mirror_version_field)
    if errors := name_errors(names):
        raise ConfigValidationError("custom_field_mapping has invalid names", errors=errors)


def unused(settings: Settings) -> list[str]:
    """Settings that this configuration makes do nothing: a warning each (the run goes on)."""
    found = []
    selected = {s.strip().casefold() for s in settings.segments}
    routed = {s.strip().casefold(): s for s in settings.segment_lists}
    if selected:
        for key in sorted(set(routed) - selected):
            found.append(
                f"segment_lists names segment {routed[key]!r}, which segments does not select: its list "
                f"{settings.segment_lists[routed[key]]!r} is left alone (not created, nothing added or removed). "
                "Add the segment to segments, or drop the entry."
            )
        default = settings.list_name or settings.list_id
        if routed and default and selected <= set(routed):
            setting = "list_name" if settings.list_name else "list_id"
            found.append(
                f"{setting} {default!r} gets no contact: every selected segment has its own list in segment_lists "
                f"(the {setting} list takes the selected segments that have none). Drop {setting}, or a "
                "segment_lists entry."
            )
    if not settings.mirror and settings.mirror_close_at_end_of_input:
        found.append("mirror_close_at_end_of_input does nothing without sync_mode: mirror.")
    return found
