"""Record validation with a compiled validator: the SDK's hook, a fraction of the cost, and schemas as taps write them.

Real taps write draft-4 schemas (pipelinewise's ``numeric(12,2)`` is ``"maximum": 1e10,
"exclusiveMaximum": true, "multipleOf": 0.01``). :func:`prepared` turns each draft-4 boolean
bound into its later form, so it is still checked, and leaves out what the compiled check
cannot honour on exact decimals (``multipleOf``), saying so once per stream and property.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Any

import fastjsonschema
from singer_sdk.exceptions import InvalidJSONSchema, InvalidRecord
from singer_sdk.sinks.core import BaseJSONSchemaValidator
from typing_extensions import override

logger = logging.getLogger(__name__)

Invalid = fastjsonschema.JsonSchemaValueException

# Keywords the compiled check cannot honour: the SDK's reader gives every fraction as a Decimal,
# and fastjsonschema divides it by a float (TypeError) or parses the float as a Decimal (fails).
UNCHECKED = ("multipleOf",)


def prepared(schema: dict[str, Any], stream: str) -> dict[str, Any]:
    """A copy of ``schema`` the compiled check can honour; an info line for each keyword left out."""
    out = copy.deepcopy(schema)
    skipped: list[str] = []
    _prepare(out, "", skipped)
    for where in skipped:
        logger.info("Stream '%s': %s is not validated (records carry exact decimals)", stream, where)
    return out


def _prepare(node: Any, where: str, skipped: list[str]) -> None:
    if isinstance(node, list):
        for item in node:
            _prepare(item, where, skipped)
        return
    if not isinstance(node, dict):
        return
    for bound in ("Maximum", "Minimum"):  # draft 4: a boolean beside maximum; draft 6 on: the bound itself
        exclusive = node.get(f"exclusive{bound}")
        if isinstance(exclusive, bool):
            del node[f"exclusive{bound}"]
            if exclusive and bound.lower() in node:
                node[f"exclusive{bound}"] = node.pop(bound.lower())
    for keyword in UNCHECKED:
        if keyword in node:
            del node[keyword]
            skipped.append(f"{keyword} of {where or 'the record'}")
    for key, value in node.items():
        if key in ("properties", "patternProperties", "definitions", "$defs") and isinstance(value, dict):
            for name, child in value.items():
                _prepare(child, f"{where}.{name}" if where else name, skipped)
        elif isinstance(value, (dict, list)) and key != "enum" and key != "const":
            _prepare(value, where, skipped)


class FastJSONSchemaValidator(BaseJSONSchemaValidator):
    """Validates records with a schema compiled to Python by ``fastjsonschema``.

    String formats are not checked, as with the SDK's default validator. ``compiled`` is the
    bare check, for the per-record path: it raises :data:`Invalid` (and :meth:`validate` then
    gives the SDK's error).
    """

    def __init__(self, schema: dict[str, Any]) -> None:
        super().__init__(schema)
        try:
            self.compiled: Callable[[dict[str, Any]], Any] = fastjsonschema.compile(schema, use_formats=False)
        except fastjsonschema.JsonSchemaDefinitionException as exc:
            raise InvalidJSONSchema(f"Schema Validation Error: {exc}") from exc

    @override
    def validate(self, record: dict[str, Any]) -> None:
        """Raise InvalidRecord, naming the property, if the record does not match."""
        try:
            self.compiled(record)
        except Invalid as exc:
            raise InvalidRecord(exc.message, record) from exc  # InvalidRecord adds its own prefix
