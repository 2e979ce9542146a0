"""Record validation with a compiled validator: the SDK's hook, a fraction of the cost."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import fastjsonschema
from singer_sdk.exceptions import InvalidJSONSchema, InvalidRecord
from singer_sdk.sinks.core import BaseJSONSchemaValidator
from typing_extensions import override

logger = logging.getLogger("target-sendgrid.validation")

Invalid = fastjsonschema.JsonSchemaValueException


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
