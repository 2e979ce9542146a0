"""Custom field definitions: listing (with the reserved fields), creation, renaming and deletion.

Follows "Custom fields" in docs/sendgrid-api.md: ids like ``e1_N`` (a counter and the type's letter).
The reserved fields are the spec's own list (tsg_mc_custom_fields_v3.yaml, ListFieldDefinition's
example): ``_rfN_T``/``_rfN_D`` ids, Date types for the activity and timestamp fields, read-only flags.
"""

from __future__ import annotations

from sendgrid_emulator.account import Account, ApiError, Request, Response, Route
from sendgrid_emulator.checks import body_object
from sendgrid_emulator.limits import CUSTOM_FIELD_NAME, MAX_CUSTOM_FIELDS, RESERVED_NAMES

FIELD_TYPE_CODES = {"Text": "T", "Number": "N", "Date": "D"}

ROUTES: tuple[Route, ...] = (
    ("GET", r"/v3/marketing/field_definitions", "_get_fields", "field_definitions"),
    ("POST", r"/v3/marketing/field_definitions", "_create_field", "field_definitions"),
    ("PATCH", r"/v3/marketing/field_definitions/(?P<field_id>[^/]+)", "_rename_field", "field_definitions"),
    ("DELETE", r"/v3/marketing/field_definitions/(?P<field_id>[^/]+)", "_delete_field", "field_definitions"),
)

# (id, name, field_type, read_only), in the spec's order (ListFieldDefinition, example "response").
_SPEC_RESERVED = [
    *((f"_rf{i}_T", name, "Text", False) for i, name in enumerate((
        "first_name", "last_name", "email", "alternate_emails", "address_line_1", "address_line_2", "city",
        "state_province_region", "postal_code", "country", "phone_number", "whatsapp", "line", "facebook",
        "unique_name",
    ))),
    ("_rf15_T", "email_domains", "Text", True),
    ("_rf16_D", "last_clicked", "Date", True),
    ("_rf17_D", "last_opened", "Date", True),
    ("_rf18_D", "last_emailed", "Date", True),
    ("_rf19_T", "singlesend_id", "Text", True),
    ("_rf20_T", "automation_id", "Text", True),
    ("_rf21_D", "created_at", "Date", True),
    ("_rf22_D", "updated_at", "Date", True),
    ("_rf23_T", "contact_id", "Text", True),
]  # fmt: skip
# The identifiers added in 2024 (docs/sendgrid-api.md, "Identifiers") are not in the spec's example:
# their ids here continue its numbering (unconfirmed).
RESERVED_FIELDS: list[dict] = [
    {"id": i, "name": n, "field_type": t, "read_only": r}
    for i, n, t, r in [
        *_SPEC_RESERVED,
        ("_rf24_T", "external_id", "Text", False),
        ("_rf25_T", "anonymous_id", "Text", False),
        ("_rf26_T", "phone_number_id", "Text", False),
    ]
]
RESERVED_BY_ID = {f["id"]: f for f in RESERVED_FIELDS} | {f["id"].rsplit("_", 1)[0]: f for f in RESERVED_FIELDS}
_TAKEN_NAMES = RESERVED_NAMES | {f["name"] for f in RESERVED_FIELDS}


class FieldsEndpoints(Account):
    """The field-definition endpoints."""

    def _get_fields(self, req: Request) -> Response:
        with self._lock:
            return 200, {
                "custom_fields": list(self.custom_fields.values()),
                "reserved_fields": [dict(f) for f in RESERVED_FIELDS],
                "_metadata": {"self": f"{self.url}/v3/marketing/field_definitions"},
            }

    def _create_field(self, req: Request) -> Response:
        body = body_object(req)
        name, field_type = body.get("name"), body.get("field_type")
        if not isinstance(field_type, str) or field_type not in FIELD_TYPE_CODES:
            raise ApiError(400, "field_type must be Text, Number or Date", "field_type")
        self._check_name(name)
        assert isinstance(name, str)  # checked above
        with self._lock:
            self._check_field_unique(name, None)
            if len(self.custom_fields) >= MAX_CUSTOM_FIELDS:
                raise ApiError(400, f"an account can have at most {MAX_CUSTOM_FIELDS} custom fields", "name")
            definition = {
                "id": f"e{self._next_field_number()}_{FIELD_TYPE_CODES[field_type]}",
                "name": name,
                "field_type": field_type,
            }
            self.custom_fields[definition["id"]] = definition
            self._save()
            return 200, definition

    def _rename_field(self, req: Request) -> Response:
        """Spec (UpdateFieldDefinition): only the name changes; reserved fields cannot be updated."""
        field_id = req.params["field_id"]
        body = body_object(req)
        with self._lock:
            definition = self._field_or_404(field_id)
            name = body.get("name")
            self._check_name(name)
            assert isinstance(name, str)
            self._check_field_unique(name, field_id)
            definition["name"] = name
            self._save()
            return 200, {**definition, "_metadata": {"self": f"{self.url}{req.path}"}}

    def _delete_field(self, req: Request) -> Response:
        """Spec (DeleteFieldDefinition): 204; the field's values go with it."""
        with self._lock:
            self._field_or_404(req.params["field_id"])
            del self.custom_fields[req.params["field_id"]]
            for contact in self.contacts.values():
                contact["custom_fields"].pop(req.params["field_id"], None)
            self._save()
        return 204, None

    def _field_or_404(self, field_id: str) -> dict:
        if field_id in RESERVED_BY_ID:
            raise ApiError(400, "reserved fields cannot be updated or deleted", "custom_field_id")
        if field_id not in self.custom_fields:
            raise ApiError(404, "custom field not found", "custom_field_id")
        return self.custom_fields[field_id]

    def _next_field_number(self) -> int:
        # Ids are not reused after a deletion (unconfirmed at SendGrid; reuse would hide stale-id bugs).
        numbers = [int(i[1:].split("_")[0]) for i in self.custom_fields if i[1:].split("_")[0].isdigit()]
        self.field_numbers_issued = max([self.field_numbers_issued, *numbers]) + 1  # a data file's ids count too
        return self.field_numbers_issued

    @staticmethod
    def _check_name(name: object) -> None:
        if not isinstance(name, str) or not CUSTOM_FIELD_NAME.match(name) or name.lower() in _TAKEN_NAMES:
            raise ApiError(
                400, "name must be 1-100 letters, digits or _, start with a letter or _, and not be reserved", "name"
            )

    def _check_field_unique(self, name: str, own_id: str | None) -> None:
        if any(f["name"].lower() == name.lower() for i, f in self.custom_fields.items() if i != own_id):
            raise ApiError(400, "a custom field with this name already exists", "name")
