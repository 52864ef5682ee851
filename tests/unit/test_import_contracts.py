"""The layers' rules, read off the source (ast), so that they hold by themselves:

- no front door (API, dashboard, CLI, MCP) imports another: what they share (request and
  response schemas, validation, error shapes) lives in `backbeat.edge`, and the one ASGI app
  that mounts the API, the dashboard and MCP is assembled in `backbeat.asgi`;
- the shared edge imports no front door;
- the domain imports no framework and nothing of Backbeat outside the domain (but the
  release's version number);
- the doors and the edge call services: they import neither the store nor SQLAlchemy, and
  open no unit of work;
- services count metrics through the port the wiring hands them, never a process-global;
- no module outside the migrations is over 400 lines.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import backbeat

PACKAGE = Path(backbeat.__file__).parent
DOORS = ("backbeat.api", "backbeat.dashboard", "backbeat.cli", "backbeat.mcp")
FRAMEWORKS = {
    "alembic",
    "anthropic",
    "fastapi",
    "httpx",
    "jinja2",
    "mcp",
    "openai",
    "prometheus_client",
    "psycopg",
    "pydantic",
    "pydantic_settings",
    "sqlalchemy",
    "starlette",
    "typer",
    "uvicorn",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(prefix: str = "backbeat") -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        name = module_name(path)
        if name == prefix or name.startswith(prefix + "."):
            yield name, path


def imported(path: Path) -> set[str]:
    """Every module the file imports, anywhere in it (inside functions too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def door_of(name: str) -> str | None:
    return next((door for door in DOORS if within(name, door)), None)


def test_the_rules_see_every_front_door() -> None:
    for door in ("backbeat.api", "backbeat.dashboard", "backbeat.cli"):
        assert list(modules(door)), door


@pytest.mark.parametrize("door", DOORS)
def test_no_front_door_imports_another(door: str) -> None:
    crossings = sorted(
        f"{name} imports {target}"
        for name, path in modules(door)
        for target in imported(path)
        if (other := door_of(target)) is not None and other != door
    )
    assert crossings == []


def test_the_shared_edge_imports_no_front_door() -> None:
    crossings = sorted(
        f"{name} imports {target}"
        for name, path in modules("backbeat.edge")
        for target in imported(path)
        if door_of(target) is not None
    )
    assert crossings == []


def test_the_domain_imports_no_framework_and_nothing_outside_it() -> None:
    found = sorted(
        f"{name} imports {target}"
        for name, path in modules("backbeat.domain")
        for target in imported(path)
        if target.split(".")[0] in FRAMEWORKS
        or (
            within(target, "backbeat")
            and not within(target, "backbeat.domain")
            and target not in ("backbeat", "backbeat.__version__")  # the release's version
        )
    )
    assert found == []


EDGE_CONTRACT = "Front doors and the shared edge call services, never the store or SQLAlchemy"


def contract(name: str) -> dict[str, Any]:
    config = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())
    found = [c for c in config["tool"]["importlinter"]["contracts"] if c["name"] == name]
    assert len(found) == 1, name
    return dict(found[0])


def test_no_door_imports_the_store_or_sqlalchemy() -> None:
    """The same contract import-linter checks, with the same exceptions (its ignore_imports)."""
    rules = contract(EDGE_CONTRACT)
    allowed = [tuple(rule.split(" -> ")) for rule in rules["ignore_imports"]]
    found = sorted(
        f"{name} imports {target}"
        for source in rules["source_modules"]
        for name, path in modules(source)
        for target in imported(path)
        if any(within(target, forbidden) for forbidden in rules["forbidden_modules"])
        # `from backbeat.store import migrate` names the package and the module
        and not any(
            name == importer and (within(target, ok) or within(ok, target))
            for importer, ok in allowed
        )
    )
    assert found == []


@pytest.mark.parametrize("door", [*DOORS, "backbeat.edge"])
def test_no_door_opens_a_unit_of_work(door: str) -> None:
    """What import-linter cannot see: a door reaching the store through the container
    (`backbeat.uow()`) or a unit of work's connection."""
    found = sorted(
        f"{name}:{node.lineno} uses .{node.attr}"
        for name, path in modules(door)
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Attribute) and node.attr in ("uow", "connection")
    )
    assert found == []


def test_services_record_metrics_through_the_port_they_are_handed() -> None:
    """Services count through the domain's `Recorder` given at wiring: they import neither
    the Prometheus implementation (`backbeat.ops`) nor prometheus_client."""
    found = sorted(
        f"{name} imports {target}"
        for name, path in modules("backbeat.services")
        for target in imported(path)
        if within(target, "backbeat.ops") or within(target, "prometheus_client")
    )
    assert found == []


def test_nothing_records_into_a_process_global() -> None:
    found = sorted(
        f"{name}:{node.lineno}"
        for name, path in modules()
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Attribute)
        and node.attr == "current"
        and isinstance(node.value, ast.Name)
        and node.value.id == "metrics"
    )
    assert found == []


LONGEST_MODULE = 400  # lines; migrations are history, not read as code


def test_no_module_is_over_400_lines() -> None:
    found = sorted(
        f"{name}: {lines} lines"
        for name, path in modules()
        if (lines := len(path.read_text().splitlines())) > LONGEST_MODULE
    )
    assert found == []
