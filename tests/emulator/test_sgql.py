"""The emulator's SGQL subset: parsed by a pure recursive-descent parser, matched as SearchContact documents."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sendgrid_emulator.sgql import (
    MAX_DEPTH,
    BoolOp,
    Compare,
    Contains,
    Node,
    Operand,
    SgqlError,
    matches,
    parse,
)

FIELDS = {"email", "first_name", "city", "list_ids", "alternate_emails", "ltv"}
ANN = {
    "email": "ann.lee@example.com",
    "first_name": "Ann",
    "city": "Oslo",
    "list_ids": ["L1", "L2"],
    "alternate_emails": ["ann@old.example"],
    "custom_fields": {"ltv": 12},
}


def found(query: str, contact: dict = ANN) -> bool:
    return matches(parse(query, FIELDS), contact)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("email = 'ann.lee@example.com'", True),
        # Spec (SearchContact): emails are stored in lower case, so a mixed-case search finds nothing...
        ("email = 'Ann.Lee@Example.com'", False),
        # ...unless lower() is used, on the value or on the field.
        ("email = lower('Ann.Lee@Example.com')", True),
        ("lower(first_name) = 'ann'", True),
        ("first_name = 'ann'", False),
        ("email LIKE 'ann%'", True),
        ("email LIKE '%@example.com'", True),
        ("email LIKE 'ann_lee%'", False),  # _ is an ordinary character
        ("email like '%'", True),
        ("CONTAINS(list_ids, 'L2')", True),
        ("contains(list_ids, 'L3')", False),
        ("CONTAINS(alternate_emails, 'ann@old.example')", True),
        ("ltv = 12", True),
        ("ltv = '12'", True),
        ("ltv = 13", False),
        ("city = 'Oslo' AND CONTAINS(list_ids, 'L1')", True),
        ("city = 'Bergen' OR first_name = 'Ann'", True),
        ("city = 'Bergen' AND (first_name = 'Ann' OR ltv = 12)", False),
        ("(city = 'Bergen' OR first_name = 'Ann') AND ltv = 12", True),
        ("first_name = 'O''Brien'", False),
        # The spec's own example query (SearchContact's requestBody example) parses.
        ("email LIKE 'ENTER_COMPLETE_OR_PARTIAL_EMAIL_ADDRESS_HERE%' AND CONTAINS(list_ids, 'YOUR_LIST_IDs')", False),
    ],
)
def test_the_supported_subset(query: str, expected: bool) -> None:
    assert found(query) is expected


def test_quotes_are_escaped_by_doubling() -> None:
    assert found("first_name = 'O''Brien'", {**ANN, "first_name": "O'Brien"})


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("NOT email = 'a@b.co'", "'NOT'"),
        ("email != 'a@b.co'", "'!='"),
        ("ltv > 3", "'>'"),
        ("email IS NULL", "'IS'"),
        ("email IN ('a@b.co')", "'IN'"),
        ("nickname = 'x'", "unknown field 'nickname'"),
        ("email = 'open", "unterminated string"),
        ("email ~ 'x'", "unexpected character '~'"),
        ("email = 'a@b.co' AND", "the query ended"),
        ("", "the query is empty"),
        ("(email = 'a@b.co'", "')' was expected"),
        ("CONTAINS(city, 'Oslo')", "CONTAINS takes one of"),
        ("email LIKE 5", "LIKE takes a quoted pattern"),
        ("(" * (MAX_DEPTH + 1) + "email = 'a'" + ")" * (MAX_DEPTH + 1), "nested deeper"),
    ],
)
def test_anything_else_is_refused_naming_the_part(query: str, named: str) -> None:
    with pytest.raises(SgqlError) as refused:
        parse(query, FIELDS)
    assert named in str(refused.value)


@settings(database=None)  # nothing written into the clone
@given(st.text(max_size=200))
def test_any_text_parses_or_is_refused_with_an_sgql_error(query: str) -> None:
    with contextlib.suppress(SgqlError):  # anything else (a RecursionError, an IndexError) fails the test
        parse(query, FIELDS)


literals = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12),
    st.integers(-1000, 1000),
)
operands = st.builds(Operand, st.sampled_from(sorted(FIELDS - {"list_ids", "alternate_emails"})), st.booleans())
comparisons = st.builds(Compare, operands, st.sampled_from(["=", "LIKE"]), literals).filter(
    lambda c: c.op == "=" or isinstance(c.value, str)
)
contains = st.builds(
    Contains, st.builds(Operand, st.sampled_from(["list_ids", "alternate_emails"])), st.text(max_size=8)
)
trees = st.recursive(
    st.one_of(comparisons, contains),
    lambda kids: st.builds(BoolOp, st.sampled_from(["AND", "OR"]), st.lists(kids, min_size=2, max_size=3).map(tuple)),
    max_leaves=8,
)


def render(node: Node, nested: bool = False) -> str:
    """SGQL text for a tree: every nested AND/OR in parentheses, so parsing gives the same tree back."""
    if isinstance(node, BoolOp):
        text = f" {node.op} ".join(render(part, True) for part in node.parts)
        return f"({text})" if nested else text
    field = f"lower({node.operand.field})" if node.operand.lowered else node.operand.field
    value = "'" + node.value.replace("'", "''") + "'" if isinstance(node.value, str) else str(node.value)
    if isinstance(node, Contains):
        return f"CONTAINS({field}, {value})"
    return f"{field} {node.op} {value}"


@settings(database=None)  # nothing written into the clone
@given(trees)
def test_a_rendered_tree_parses_back_to_itself(tree: Node) -> None:
    assert parse(render(tree), FIELDS) == tree


@settings(database=None)  # nothing written into the clone
@given(trees, st.fixed_dictionaries({"email": st.sampled_from(["a@x.io", "b@x.io"]), "city": st.text(max_size=3)}))
def test_and_or_mean_all_and_any(tree: Node, contact: dict) -> None:
    if isinstance(tree, BoolOp):
        parts = [matches(part, contact) for part in tree.parts]
        assert matches(tree, contact) is (all(parts) if tree.op == "AND" else any(parts))


@settings(database=None)  # nothing written into the clone
@given(st.text(max_size=30))
def test_like_percent_alone_matches_every_text_and_equality_is_exact(value: str) -> None:
    contact = {"first_name": value}
    assert matches(parse("first_name LIKE '%'", FIELDS), contact)
    quoted = "'" + value.replace("'", "''") + "'"
    assert matches(parse(f"first_name = {quoted}", FIELDS), contact)
    # A value is its own pattern: each % in it matches at least itself.
    assert matches(parse(f"first_name LIKE {quoted}", FIELDS), contact)
    assert not matches(parse(f"first_name = {quoted}", FIELDS), {"first_name": value + "x"})
