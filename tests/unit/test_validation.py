"""Schemas as real taps write them: draft-4 bounds still checked, what cannot be checked on decimals left out."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
from singer_sdk.exceptions import InvalidRecord

from target_sendgrid.singer.validation import FastJSONSchemaValidator, prepared

NUMERIC_12_2 = {  # pipelinewise-tap-postgres 2.1.0, a numeric(12,2) column
    "type": ["null", "number"],
    "multipleOf": Decimal("0.01"),
    "maximum": 10000000000,
    "exclusiveMaximum": True,
    "minimum": -10000000000,
    "exclusiveMinimum": True,
}


def validator(properties: dict, **schema: object) -> FastJSONSchemaValidator:
    return FastJSONSchemaValidator(prepared({"type": "object", "properties": properties, **schema}, "s"))


def test_draft4_exclusive_bounds_are_still_checked() -> None:
    check = validator({"ltv": NUMERIC_12_2})
    check.validate({"ltv": Decimal("1234.56")})
    check.validate({"ltv": None})
    for outside in (10000000000, -10000000000, Decimal("1e11")):
        with pytest.raises(InvalidRecord, match="ltv"):
            check.validate({"ltv": outside})


def test_a_false_exclusive_bound_leaves_the_bound_inclusive() -> None:
    check = validator({"score": {"type": "number", "maximum": 100, "exclusiveMaximum": False}})
    check.validate({"score": 100})
    with pytest.raises(InvalidRecord):
        check.validate({"score": Decimal("100.5")})


def test_multiple_of_is_left_out_with_one_line_naming_stream_and_property(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="target_sendgrid.singer.validation"):
        schema = prepared({"properties": {"ltv": NUMERIC_12_2, "n": {"type": "integer"}}}, "customers")
    assert "multipleOf" not in schema["properties"]["ltv"]
    assert (
        schema["properties"]["ltv"]["exclusiveMaximum"] == 10000000000 and "maximum" not in schema["properties"]["ltv"]
    )
    assert [r.getMessage() for r in caplog.records] == [
        "Stream 'customers': multipleOf of ltv is not validated (records carry exact decimals)"
    ]


def test_refs_to_definitions_are_followed_and_prepared_too() -> None:
    check = validator({"balance": {"$ref": "#/definitions/money"}}, definitions={"money": NUMERIC_12_2})
    check.validate({"balance": Decimal("10.25")})
    with pytest.raises(InvalidRecord, match="balance"):
        check.validate({"balance": 10000000000})


def test_the_taps_schema_is_not_changed() -> None:
    schema = {"properties": {"ltv": dict(NUMERIC_12_2)}}
    prepared(schema, "s")
    assert schema == {"properties": {"ltv": NUMERIC_12_2}}
