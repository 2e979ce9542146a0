"""The subset of SendGrid's Segmentation Query Language that contact searches use: a pure parser and matcher.

Grammar (keywords and function names case-insensitive)::

    query      := or
    or         := and ("OR" and)*
    and        := atom ("AND" atom)*
    atom       := "(" or ")" | "CONTAINS" "(" operand "," literal ")" | operand ("=" | "LIKE") literal
    operand    := FIELD | "lower" "(" FIELD ")"
    literal    := 'text' ('' inside is a quote) | NUMBER | "lower" "(" 'text' ")"

Semantics follow SearchContact in tsg_mc_contacts_v3.yaml: emails are stored in lower case, so
``email = 'Alice@Example.com'`` matches nothing and ``lower()`` is the way to search by a mixed-case
address. ``LIKE`` takes ``%`` for any run of characters (``_`` is an ordinary character: addresses hold
it); comparisons are case-sensitive, as the spec's advice to use ``lower()`` implies. Anything else
(``NOT``, ``!=``, ``<``, ``IN``, ``IS NULL``, date functions, ...) raises :class:`SgqlError` naming it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Union

MAX_DEPTH = 50  # parentheses nested deeper are refused (a bound, not SendGrid's)
MAX_QUERY_CHARS = 10_000

_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<number>-?\d+(?:\.\d+)?)(?![A-Za-z_])|(?P<op><=|>=|!=|<>|=|<|>)"
    r"|(?P<punct>[(),])|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))"
)
ARRAY_FIELDS = frozenset({"list_ids", "segment_ids", "alternate_emails"})


class SgqlError(ValueError):
    """A query outside the supported subset, or malformed; the message names the part."""


@dataclass(frozen=True)
class Operand:
    """A field, optionally lower-cased (``lower(field)``)."""

    field: str
    lowered: bool = False


@dataclass(frozen=True)
class Compare:
    """``operand = literal`` or ``operand LIKE 'pattern'``."""

    operand: Operand
    op: str  # "=" or "LIKE"
    value: str | int | float


@dataclass(frozen=True)
class Contains:
    """``CONTAINS(array_field, 'value')``."""

    operand: Operand
    value: str | int | float


@dataclass(frozen=True)
class BoolOp:
    """``AND``/``OR`` over two or more parts."""

    op: str
    parts: tuple[Node, ...]


Node = Union[Compare, Contains, BoolOp]  # noqa: UP007 (a runtime alias: X | Y needs 3.10 at import)
Token = tuple[str, str, int]  # kind, text, position


def tokenize(query: str) -> list[Token]:
    """The query's tokens, or an SgqlError at the first character that starts none."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(query):
        if query[pos:].strip() == "":
            break
        match = _TOKEN.match(query, pos)
        if match is None or match.lastgroup is None:
            start = len(query) - len(query[pos:].lstrip())
            if query[start] == "'":
                raise SgqlError(f"unterminated string at position {start}")
            raise SgqlError(f"unexpected character {query[start]!r} at position {start}")
        tokens.append((match.lastgroup, match.group(match.lastgroup), match.start(match.lastgroup)))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, query: str, fields: Collection[str]) -> None:
        self.tokens = tokenize(query)
        self.fields = {f.lower() for f in fields}
        self.i = 0

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def next(self, expected: str) -> Token:
        token = self.peek()
        if token is None:
            raise SgqlError(f"the query ended where {expected} was expected")
        self.i += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token is not None and token[0] == "word" and token[1].upper() == word:
            self.i += 1
            return True
        return False

    def punct(self, char: str) -> None:
        token = self.next(repr(char))
        if token[1] != char:
            raise self.unexpected(token, repr(char))

    @staticmethod
    def unexpected(token: Token, expected: str) -> SgqlError:
        kind, text, pos = token
        if kind == "op" or (kind == "word" and text.upper() in _UNSUPPORTED_WORDS):
            return SgqlError(f"unsupported in the emulator's SGQL: {text!r} at position {pos}")
        return SgqlError(f"{expected} expected at position {pos}, found {text!r}")

    def parse(self) -> Node:
        if not self.tokens:
            raise SgqlError("the query is empty")
        node = self.parse_or(0)
        if (token := self.peek()) is not None:
            raise self.unexpected(token, "AND, OR or the end of the query")
        return node

    def parse_or(self, depth: int) -> Node:
        parts = [self.parse_and(depth)]
        while self.keyword("OR"):
            parts.append(self.parse_and(depth))
        return parts[0] if len(parts) == 1 else BoolOp("OR", tuple(parts))

    def parse_and(self, depth: int) -> Node:
        parts = [self.parse_atom(depth)]
        while self.keyword("AND"):
            parts.append(self.parse_atom(depth))
        return parts[0] if len(parts) == 1 else BoolOp("AND", tuple(parts))

    def parse_atom(self, depth: int) -> Node:
        token = self.next("a condition")
        if token[1] == "(":
            if depth >= MAX_DEPTH:
                raise SgqlError(f"parentheses nested deeper than {MAX_DEPTH} at position {token[2]}")
            node = self.parse_or(depth + 1)
            self.punct(")")
            return node
        if token[0] == "word" and token[1].upper() == "CONTAINS":
            self.punct("(")
            operand = self.parse_operand()
            if operand.field not in ARRAY_FIELDS:
                raise SgqlError(f"CONTAINS takes one of {', '.join(sorted(ARRAY_FIELDS))}, not {operand.field!r}")
            self.punct(",")
            value = self.parse_literal()
            self.punct(")")
            return Contains(operand, value)
        self.i -= 1
        operand = self.parse_operand()
        op = self.next("= or LIKE")
        if op[1] == "=" or (op[0] == "word" and op[1].upper() == "LIKE"):
            value = self.parse_literal()
            if op[1] != "=" and not isinstance(value, str):
                raise SgqlError(f"LIKE takes a quoted pattern at position {op[2]}")
            return Compare(operand, "=" if op[1] == "=" else "LIKE", value)
        raise self.unexpected(op, "= or LIKE")

    def parse_operand(self) -> Operand:
        token = self.next("a field")
        if token[0] != "word":
            raise self.unexpected(token, "a field")
        if token[1].lower() == "lower" and (self.peek() or ("", "", 0))[1] == "(":
            self.punct("(")
            inner = self.parse_operand()
            self.punct(")")
            return Operand(inner.field, True)
        name = token[1].lower()
        if name not in self.fields:
            if token[1].upper() in _UNSUPPORTED_WORDS:
                raise self.unexpected(token, "a field")
            raise SgqlError(f"unknown field {token[1]!r} at position {token[2]}")
        return Operand(name)

    def parse_literal(self) -> str | int | float:
        token = self.next("a value")
        if token[0] == "string":
            return token[1][1:-1].replace("''", "'")
        if token[0] == "number":
            return float(token[1]) if "." in token[1] else int(token[1])
        if token[0] == "word" and token[1].lower() == "lower":
            self.punct("(")
            value = self.parse_literal()
            self.punct(")")
            if not isinstance(value, str):
                raise SgqlError(f"lower() takes text at position {token[2]}")
            return value.lower()
        raise self.unexpected(token, "a quoted value or a number")


_UNSUPPORTED_WORDS = frozenset(
    {"NOT", "IN", "IS", "NULL", "BETWEEN", "SELECT", "FROM", "WHERE", "ILIKE", "CURRENT_TIMESTAMP", "TIMESTAMP"}
)


def parse(query: str, fields: Collection[str]) -> Node:
    """The query's tree; ``fields`` are the names a query may use (reserved and custom)."""
    if len(query) > MAX_QUERY_CHARS:
        raise SgqlError(f"the query is longer than {MAX_QUERY_CHARS} characters")
    return _Parser(query, fields).parse()


def matches(node: Node, contact: Mapping[str, Any]) -> bool:
    """Whether a contact (as reads return it: custom fields by name under ``custom_fields``) matches."""
    if isinstance(node, BoolOp):
        results = (matches(part, contact) for part in node.parts)
        return all(results) if node.op == "AND" else any(results)
    values = _values(node.operand, contact)
    if isinstance(node, Contains):
        return node.value in values
    if node.op == "=":
        return any(_equal(v, node.value) for v in values)
    pattern = "".join(".*" if part == "%" else re.escape(part) for part in re.split(r"(%)", str(node.value)))
    return any(isinstance(v, str) and re.fullmatch(pattern, v, re.DOTALL) is not None for v in values)


def _values(operand: Operand, contact: Mapping[str, Any]) -> list[Any]:
    if operand.field in contact:
        value = contact[operand.field]
    else:
        value = (contact.get("custom_fields") or {}).get(operand.field)
    values = value if isinstance(value, list) else [] if value is None else [value]
    return [v.lower() if operand.lowered and isinstance(v, str) else v for v in values]


def _equal(stored: Any, wanted: str | int | float) -> bool:
    if isinstance(stored, bool):
        return False
    if isinstance(stored, (int, float)) and not isinstance(wanted, str):
        return stored == wanted
    if isinstance(stored, (int, float)):  # a Number field compared with a quoted number
        try:
            return stored == float(wanted)
        except ValueError:
            return False
    return isinstance(stored, str) and stored == str(wanted)
