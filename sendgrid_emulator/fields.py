"""Custom field definitions: listing (with the reserved fields) and creation with SendGrid's id scheme.

Follows "Custom fields" in docs/sendgrid-api.md: ids like ``e1_N`` (a counter and the type's letter).
"""

from __future__ import annotations

from sendgrid_emulator.account import Account, ApiError, Request, Response, Route
from sendgrid_emulator.limits import CUSTOM_FIELD_NAME, MAX_CUSTOM_FIELDS, RESERVED_NAMES

FIELD_TYPE_CODES = {"Text": "T", "Number": "N", "Date": "D"}

ROUTES: tuple[Route, ...] = (
    ("GET", r"/v3/marketing/field_definitions", "_get_fields", "field_definitions"),
    ("POST", r"/v3/marketing/field_definitions", "_create_field", "field_definitions"),
)


class FieldsEndpoints(Account):
    """The field-definition endpoints."""

    def _get_fields(self, req: Request) -> Response:
        with self._lock:
            reserved = [{"id": n, "name": n, "field_type": "Text", "read_only": False} for n in sorted(RESERVED_NAMES)]
            return 200, {"custom_fields": list(self.custom_fields.values()), "reserved_fields": reserved}

    def _create_field(self, req: Request) -> Response:
        body = req.json()
        if not isinstance(body, dict):
            raise ApiError(400, "request body must be an object")
        name, field_type = body.get("name"), body.get("field_type")
        if field_type not in FIELD_TYPE_CODES:
            raise ApiError(400, "field_type must be Text, Number or Date", "field_type")
        if not isinstance(name, str) or not CUSTOM_FIELD_NAME.match(name) or name.lower() in RESERVED_NAMES:
            raise ApiError(
                400, "name must be 1-100 letters, digits or _, start with a letter or _, and not be reserved", "name"
            )
        with self._lock:
            if any(f["name"].lower() == name.lower() for f in self.custom_fields.values()):
                raise ApiError(400, "a custom field with this name already exists", "name")
            if len(self.custom_fields) >= MAX_CUSTOM_FIELDS:
                raise ApiError(400, f"an account can have at most {MAX_CUSTOM_FIELDS} custom fields", "name")
            definition = {
                "id": f"e{len(self.custom_fields) + 1}_{FIELD_TYPE_CODES[field_type]}",
                "name": name,
                "field_type": field_type,
            }
            self.custom_fields[definition["id"]] = definition
            self._save()
            return 200, definition
