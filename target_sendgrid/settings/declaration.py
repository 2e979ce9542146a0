"""How a setting is declared: once, as a field of ``Settings`` that carries its schema.

A field made by :func:`setting` keeps, in its metadata, what the SDK's typing helpers need to
describe the setting (kind, default, description, bounds, allowed values). :func:`schema_of`
generates the config schema from the fields, in their declaration order, and :func:`default_of`
reads a setting's default from its field: a setting's name, Python type and schema are written
in one place and cannot disagree.

Why the dataclass is the source and the schema the generated form, and not the other way round:
``mypy --strict`` has to see every setting as a typed attribute (``settings.batch_size`` is an
``int``), which a class generated from the schema at run time cannot give; a schema is plain
data, and generating it needs nothing more than the arguments the SDK's helpers always took.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from singer_sdk import typing as th

_METADATA_KEY = "target_sendgrid.setting"  # where a field keeps its Declaration

Kind = th.JSONTypeHelper[Any] | type[th.JSONTypeHelper[Any]]


@dataclass(frozen=True)
class Declaration:
    """One setting's schema, as the SDK's ``th.Property`` takes it (less the name: the field's)."""

    kind: Kind
    description: str
    default: Any = None
    required: bool = False
    secret: bool = False
    allowed_values: list[Any] | None = None

    def property(self, name: str) -> th.Property[Any]:
        """The setting as a property of the config schema."""
        return th.Property(
            name,
            self.kind,
            required=self.required,
            default=self.default,
            description=self.description,
            secret=self.secret,
            allowed_values=self.allowed_values,
        )


def setting(
    kind: Kind,
    *,
    description: str,
    default: Any = None,
    required: bool = False,
    secret: bool = False,
    allowed_values: list[Any] | None = None,
) -> Any:
    """A dataclass field that is a setting, with its schema.

    The field has no dataclass default: ``Settings.from_config`` gives every field its value (the
    declared ``default`` when the config has none). A secret never shows in the object's repr, so
    never in a log line. Typed ``Any``, as ``dataclasses.field`` is, so the annotation stays the type.
    """
    declared = Declaration(kind, description, default, required, secret, allowed_values)
    return dataclasses.field(repr=not secret, metadata={_METADATA_KEY: declared})


def declaration(field: dataclasses.Field[Any]) -> Declaration:
    """The schema a field was declared with (TypeError for a field not made by :func:`setting`)."""
    declared = field.metadata.get(_METADATA_KEY)
    if not isinstance(declared, Declaration):
        raise TypeError(f"{field.name} is not declared with setting(): it has no schema")
    return declared


def schema_of(cls: type[Any]) -> dict[str, Any]:
    """The config schema of a settings dataclass: one property per field, in declaration order."""
    return th.PropertiesList(*(declaration(f).property(f.name) for f in dataclasses.fields(cls))).to_dict()


def default_of(cls: type[Any], name: str) -> Any:
    """The default a settings dataclass declares for ``name`` (None when it declares none)."""
    for field in dataclasses.fields(cls):
        if field.name == name:
            return declaration(field).default
    raise KeyError(name)
