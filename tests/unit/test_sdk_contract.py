"""The installed singer-sdk still has every private name the singer layer touches, and nothing else touches one.

When one of these fails after an SDK upgrade, the failure names the name: read its entry in
``target_sendgrid/singer/touch_points.py`` and the SDK's new source before changing anything.
"""

from __future__ import annotations

import ast
import importlib
import io
from collections.abc import Iterator
from typing import Any

import pytest
from singer_sdk.plugin_base import PluginBase, SingerCommand
from singer_sdk.sinks import Sink
from singer_sdk.target_base import Target

from target_sendgrid.singer.command import SendGridCommand
from target_sendgrid.singer.reader import SingerInputReader
from target_sendgrid.singer.sink_base import SingerSink
from target_sendgrid.singer.target_base import SingerTarget
from target_sendgrid.singer.touch_points import TOUCH_POINTS, TouchPoint
from target_sendgrid.singer.validation import FastJSONSchemaValidator
from target_sendgrid.target import TargetSendGrid
from tests.support import ROOT

SINGER_CLASSES = (SingerTarget, SingerSink, SingerInputReader, FastJSONSchemaValidator, SendGridCommand)
DRY_RUN = {
    "api_key": "SG.unused",
    "data_privacy_consent": True,
    "list_id": "3f1c2a9e-5b7d-4c1e-9a2b-7d8e6f5a4b3c",
    "dry_run": True,
}
SCHEMA = (
    '{"type": "SCHEMA", "stream": "users", "schema": {"properties": {"email": {"type": "string"}}}, '
    '"key_properties": []}\n'
)


@pytest.fixture(scope="module")
def built() -> Iterator[tuple[TargetSendGrid, Sink]]:
    """A dry-run target (it sends nothing) that has read one SCHEMA, and the sink it made."""
    target = TargetSendGrid(config=DRY_RUN)
    target.listen(io.StringIO(SCHEMA))
    yield target, target.get_sink("users")
    target.run.progress.stop()


def owner_of(point: TouchPoint) -> Any:
    module, _, name = point.owner.partition(":")
    found = importlib.import_module(module)
    return getattr(found, name) if name else found


@pytest.mark.parametrize("point", TOUCH_POINTS, ids=lambda p: f"{p.owner.rsplit('.', 1)[-1]}.{p.name}")
def test_every_touch_point_exists_in_the_installed_sdk(point: TouchPoint, built: tuple[TargetSendGrid, Sink]) -> None:
    owner = owner_of(point)
    if point.name == "__class__":  # the command the SDK builds takes our class: two overrides, two attributes
        assert type(TargetSendGrid.get_singer_command()) is SendGridCommand
        assert SendGridCommand.__bases__ == (SingerCommand,) and set(vars(SendGridCommand)) - {
            "__module__",
            "__doc__",
            "__annotations__",
            "__qualname__",
        } == {"excepthook", "expected_errors", "invoke", "reads_stdin"}
        return
    target, sink = built
    instance = {Target: target, Sink: sink}.get(owner)
    for name in point.name.split(", "):
        # Looked up in the classes' own dicts too: a class property of the SDK's runs when read from its class.
        declared = any(name in vars(k) for k in getattr(owner, "__mro__", ()))
        present = declared or hasattr(owner, name) or (instance is not None and name in vars(instance))
        assert present, f"singer-sdk no longer has {point.owner}.{name} ({point.use}: {point.why})"


def overrides(cls: type) -> Iterator[tuple[str, Any]]:
    """The names a class marks @override, with their functions."""
    for name, attr in vars(cls).items():
        func = attr.fget if isinstance(attr, property) else getattr(attr, "__func__", attr)
        if getattr(func, "__override__", False):
            yield name, func


@pytest.mark.parametrize("cls", SINGER_CLASSES, ids=lambda c: c.__name__)
def test_every_override_in_the_singer_layer_overrides_a_name_the_sdk_has(cls: type) -> None:
    sdk_bases = [b for b in cls.__mro__[1:] if not b.__module__.startswith("target_sendgrid")]
    marked = dict(overrides(cls))
    assert marked, f"{cls.__name__} marks no override"
    for name in marked:
        assert any(name in vars(base) for base in sdk_bases), f"{cls.__name__}.{name}: the installed SDK has no {name}"


def test_every_private_override_is_a_listed_touch_point() -> None:
    listed = {name for point in TOUCH_POINTS for name in point.name.split(", ")}
    for cls in SINGER_CLASSES:
        private = {name for name, _ in overrides(cls) if name.startswith("_") and not name.startswith("__")}
        assert private <= listed, f"{cls.__name__} overrides {sorted(private - listed)} without a touch point"


def sdk_private_names(built: tuple[TargetSendGrid, Sink]) -> set[str]:
    """Every private name of the SDK's classes this project builds on, class and instance attributes."""
    classes = (Target, Sink, PluginBase, SingerCommand, *SingerInputReader.__mro__[1:-1])
    names = {n for cls in classes for n in dir(cls)}
    names |= {n for obj in built for n in vars(obj)}
    ours = {n for cls in SINGER_CLASSES for n in vars(cls)}  # what the singer layer itself defines
    return {n for n in names - ours if n.startswith("_") and not n.startswith("__")}


def test_private_sdk_names_are_touched_in_the_singer_layer_only(built: tuple[TargetSendGrid, Sink]) -> None:
    private = sdk_private_names(built)
    found = []
    for path in sorted((ROOT / "target_sendgrid").rglob("*.py")):
        if path.parent.name == "singer":
            continue
        tree = ast.parse(path.read_text())
        own = {  # attributes a module sets itself (self._lock = ...) are its own, whatever their names
            node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in private - own:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.attr}")
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                if module.startswith("singer_sdk") and any(part.startswith("_") for part in module.split(".")):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {module}")
    assert found == []


def test_the_record_count_metric_counts_every_record_before_the_sdk_cleans_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """singer-sdk 0.55 closes the metric before it calls clean_up (meltano/sdk #3697): nothing may be left for it."""
    target = TargetSendGrid(config=DRY_RUN)
    seen: list[int] = []
    records = "".join(
        f'{{"type": "RECORD", "stream": "users", "record": {{"email": "u{i}@x.io"}}}}\n' for i in range(2_345)
    )
    original = SingerSink.clean_up

    def clean_up(sink: SingerSink) -> None:
        seen.append(sink.record_counter_metric.value)  # what a metric closed at this point would report
        original(sink)

    monkeypatch.setattr(SingerSink, "clean_up", clean_up)
    target.listen(io.StringIO(SCHEMA + records))
    assert seen == [2_345]
