"""The packages read one way: no import cycle, each boundary imports only what lies downstream, files fit a sitting."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.support import ROOT

PACKAGES = ("target_sendgrid", "sendgrid_emulator")
MAX_LINES = 400
MAX_FUNCTION_LINES = 60  # from the def line to the last, docstring included: a function reads at a glance

# What each part of target_sendgrid may import from the rest of it (data flows reader -> sink ->
# exporter -> client -> jobs -> STATE): a module never reaches back into one that calls it.
ALLOWED = {
    "sendgrid": {"sendgrid", "files", "lifecycle", ""},  # "": the package itself (its __version__)
    "singer": {"singer", "files", "lifecycle"},
    "contacts": {"contacts", "sendgrid"},
    "delivery": {"delivery", "sendgrid", "report", "lifecycle"},
    "sync": {"sync", "contacts", "sendgrid", "report", "lifecycle", "settings"},
    # A plan is a layer over the real run's parts: it may use them, and none of them imports it.
    "planning": {"planning", "contacts", "delivery", "sync", "sendgrid", "report", "files", "lifecycle"},
    "settings": {"settings", "contacts", "sendgrid"},
    "files": {"files"},  # leaves: everything may use them, they use nothing of the package
    "lifecycle": {"lifecycle"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}


def imports(path: Path, known: set[str]) -> set[str]:
    """The project's modules this file imports, type-only imports included (they tie a reader just the same)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            found |= {n for n in names if n in known} or ({node.module} & known)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names} & known
    return found


def graph() -> dict[str, set[str]]:
    paths = modules()
    return {name: imports(path, set(paths)) - {name} for name, path in paths.items()}


def test_no_import_cycle() -> None:
    edges = graph()
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        assert name not in trail, "import cycle: " + " -> ".join([*trail[trail.index(name) :], name])
        if name in done:
            return
        for other in sorted(edges[name]):
            visit(other, [*trail, name])
        done.add(name)

    for name in sorted(edges):
        visit(name, [])


def test_the_emulator_imports_nothing_from_the_target() -> None:
    reached = {other for name, found in graph().items() if name.startswith("sendgrid_emulator") for other in found}
    assert {m for m in reached if m.startswith("target_sendgrid")} == set()


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_each_boundary_imports_only_what_lies_downstream(part: str) -> None:
    prefix = f"target_sendgrid.{part}"
    wrong = set()
    for name, found in graph().items():
        if name == prefix or name.startswith(prefix + "."):
            for other in found:
                top = other.split(".")[1] if other.count(".") else ""
                if other.startswith("target_sendgrid") and top not in ALLOWED[part]:
                    wrong.add(f"{name} -> {other}")
    assert wrong == set()


def test_no_two_modules_share_a_name_a_reader_could_confuse() -> None:
    stems = [p.stem for p in (ROOT / "target_sendgrid").rglob("*.py") if p.stem != "__init__"]
    assert sorted(s for s in stems if stems.count(s) > 1) == []


def test_every_module_fits_one_sitting() -> None:
    long = {name: n for name, path in modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_every_function_of_the_package_fits_one_screen() -> None:
    long = {
        f"{name}:{node.lineno} {node.name}": length
        for name, path in modules().items()
        if name.startswith("target_sendgrid")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and (length := (node.end_lineno or node.lineno) - node.lineno + 1) > MAX_FUNCTION_LINES
    }
    assert long == {}


def test_every_module_logs_under_its_own_name() -> None:
    """A logger of the package is ``logging.getLogger(__name__)``: a log line names the module it came from."""
    named = {
        f"{name}:{node.lineno}"
        for name, path in modules().items()
        if name.startswith("target_sendgrid")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "getLogger"
        and [ast.dump(a) for a in node.args] != [ast.dump(ast.Name("__name__", ast.Load()))]
    }
    assert named == {"target_sendgrid.sendgrid.transport:53"}  # the filter it adds to urllib3's loggers


def test_the_readmes_map_names_every_module_and_only_modules_that_exist() -> None:
    """README's "How it works" table is the map of ``target_sendgrid/``: a newcomer finds each module
    where it says, and a module added, moved or removed shows here until the map follows."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## How it works\n", 1)[1].split("\n### ", 1)[0]
    table = "\n".join(line for line in section.splitlines() if line.startswith("|"))
    named = set(re.findall(r"`([a-z_]+(?:\.py|/))`", table))
    package = ROOT / "target_sendgrid"
    files = {p.name for p in package.rglob("*.py") if p.name != "__init__.py" and "__pycache__" not in p.parts}
    folders = {f"{p.name}/" for p in package.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert sorted(files - named) == [], "modules missing from the README's map"
    assert sorted(folders - named) == [], "subpackages missing from the README's map"
    assert sorted({n for n in named if n.endswith(".py")} - files) == [], "the map names modules that do not exist"


def test_only_the_wiring_knows_a_plan_exists() -> None:
    """A plan is a layer (planning/): the real run's modules are handed its collaborators by wiring.py and
    never import it, so a real run's code cannot take a plan's branch."""
    importers = {
        name
        for name, found in graph().items()
        if any(m.startswith("target_sendgrid.planning") for m in found)
        and not name.startswith("target_sendgrid.planning")
    }
    assert importers == {"target_sendgrid.wiring"}
