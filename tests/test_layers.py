"""The import directions of the house (README, "Layout"), read from the source of every module:
a move or an import that crosses a floor the wrong way fails here, before it tangles the graph."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "domain",
    "configuration",
    "identity",
    "http_api",
    "read_model",
    "observability",
    "command_service",
    "query_service",
    "projections",
    "legacy_import",
    "log_transfer",
    "eosc_perf",
)
SERVICES = {"command_service", "query_service"}
# package -> the project packages it must never import
FORBIDDEN = {
    "domain": set(PACKAGES) - {"domain"},
    "configuration": SERVICES | {"projections", "eosc_perf"},
    "identity": SERVICES | {"projections", "eosc_perf"},
    "http_api": SERVICES | {"projections", "eosc_perf"},
    "read_model": SERVICES | {"projections", "eosc_perf"},
    "command_service": {"query_service", "projections", "eosc_perf"},
    "query_service": {"command_service", "projections", "eosc_perf"},
    "projections": SERVICES | {"eosc_perf"},
    "legacy_import": {"eosc_perf"},
    "observability": set(PACKAGES) - {"observability"},  # metrics and logs: below everything that reports
    "log_transfer": SERVICES | {"projections", "legacy_import", "eosc_perf"},
}


def imported(source: str, module: str) -> set[str]:
    """The project packages a module's source imports, anywhere in it (function bodies too)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: within the module's own package
                names = [module.split(".")[0]]
            else:
                names = [node.module or ""]
        else:
            continue
        found |= {name.split(".")[0] for name in names} & set(PACKAGES)
    return found


def violations(package: str, sources: dict[str, str]) -> list[str]:
    """`module imports package` for every forbidden import among `sources` (module name -> source)."""
    return [
        f"{module} imports {target}"
        for module, source in sorted(sources.items())
        for target in sorted(imported(source, module) & FORBIDDEN[package])
    ]


def sources_of(package: str) -> dict[str, str]:
    modules = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        modules[name] = path.read_text(encoding="utf-8")
    return modules


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_imports_only_the_floors_below_it(package):
    modules = sources_of(package)
    assert modules, f"{package}/ has no modules: the layer list is out of date"
    assert violations(package, modules) == []


def test_every_package_of_the_project_has_its_rule():
    """A new top-level package is placed in the graph before it is used."""
    on_disk = {path.parent.name for path in ROOT.glob("*/__init__.py")} - {"tests", "bench"}
    assert on_disk == set(PACKAGES)
    assert set(FORBIDDEN) == set(PACKAGES) - {"eosc_perf"}


def test_no_test_module_imports_another():
    """Shared helpers live in tests/support/; a test module (conftest included) is imported by pytest alone."""
    found = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else ([node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            )
            found += [
                f"{path.relative_to(ROOT)} imports {name}"
                for name in names
                if name.startswith(("tests.test_", "tests.conftest"))
            ]
    assert found == []


def test_the_checker_finds_imports_wherever_they_are_written():
    late = "def f():\n    from eosc_perf import production\n"
    plain = "import projections.projector as p\n"
    relative = "from . import app\n"
    assert violations("read_model", {"read_model.x": late}) == ["read_model.x imports eosc_perf"]
    assert violations("command_service", {"command_service.x": plain}) == ["command_service.x imports projections"]
    assert violations("domain", {"domain.x": relative}) == []
    assert violations("domain", {"domain.x": "from configuration.settings import Settings\n"}) == [
        "domain.x imports configuration"
    ]
