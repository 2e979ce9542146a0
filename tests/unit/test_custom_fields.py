"""Custom fields by name: SendGrid's naming rules, and the type a stream's schema implies."""

from __future__ import annotations

import pytest

from target_sendgrid.contacts.custom_fields import CustomFieldRegistry, infer_type, name_errors


def test_names_follow_sendgrids_rules() -> None:
    assert name_errors(["ltv", "_plan", "Signup_2"]) == []
    errors = name_errors(["1st", "has space", "email", "x" * 101, "Plan", "plan"])
    assert len(errors) == 5
    assert any("reserved field" in e for e in errors) and any("appears twice" in e for e in errors)


@pytest.mark.parametrize(
    ("schema", "kind"),
    [
        ({"type": ["null", "number"]}, "Number"),
        ({"type": "integer"}, "Number"),
        ({"type": ["string", "null"], "format": "date-time"}, "Date"),
        ({"type": "string", "format": "date"}, "Date"),
        ({"type": ["string", "integer"]}, "Text"),
        ({"type": "boolean"}, "Text"),
    ],
)
def test_the_type_of_a_created_field_follows_the_schema(schema: dict, kind: str) -> None:
    assert infer_type(schema) == kind


def test_a_dry_run_registry_pretends_to_create_and_resolves_case_insensitively() -> None:
    registry = CustomFieldRegistry(
        {"LTV": "ltv", "plan": "plan"}, [{"id": "e1_N", "name": "ltv", "field_type": "Number"}], None, True
    )
    assert registry.missing() == ["plan"]
    fields = registry.for_stream({"ltv": {"type": "number"}, "plan": {"type": "string"}})
    assert [(f.id, f.field_type, f.prop) for f in fields] == [("e1_N", "Number", "ltv"), ("plan", "Text", "plan")]
