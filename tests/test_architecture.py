"""The import rules of docs/architecture.md, read from the source: no database needed."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src" / "likeness"

# Package (or module) -> what it may import of likeness besides itself, and whether it may
# import Prefect. The most specific prefix applies. Keep in step with docs/architecture.md.
RULES: dict[str, tuple[set[str], bool]] = {
    "likeness.identity": (set(), False),
    "likeness.config": (set(), False),
    "likeness.transient": (set(), False),
    "likeness.garbage_collection": (set(), False),
    "likeness.interruption": (set(), False),
    "likeness.storage": ({"likeness.identity", "likeness.config"}, False),
    "likeness.face": ({"likeness.identity", "likeness.config", "likeness.storage"}, False),
    "likeness.db": ({"likeness.identity", "likeness.config"}, False),
    "likeness.services": ({"likeness.identity", "likeness.config", "likeness.db"}, False),
    "likeness.services.erasure": (
        {"likeness.identity", "likeness.db", "likeness.services", "likeness.storage"},
        False,
    ),
    "likeness.expectations": (
        {"likeness.identity", "likeness.config", "likeness.db.models", "likeness.face"}
        | {"likeness.db.unit_of_work", "likeness.garbage_collection"},
        False,
    ),
    "likeness.extraction_requests": (
        {"likeness.identity", "likeness.config", "likeness.db", "likeness.storage"}
        | {"likeness.orchestration.requests"},
        False,
    ),
    "likeness.pipeline": (
        {"likeness.identity", "likeness.config", "likeness.db", "likeness.services"}
        | {"likeness.expectations", "likeness.face", "likeness.transient"},
        False,
    ),
    "likeness.source_image_check": (
        {"likeness.identity", "likeness.config", "likeness.db", "likeness.services"}
        | {"likeness.face", "likeness.storage"},
        False,
    ),
    "likeness.likeness_checks": (
        {"likeness.identity", "likeness.config", "likeness.db", "likeness.services"}
        | {"likeness.expectations", "likeness.face", "likeness.pipeline"},
        False,
    ),
    "likeness.orchestration": (
        {"likeness.identity", "likeness.config", "likeness.db", "likeness.expectations"}
        | {"likeness.face", "likeness.services.erasure", "likeness.garbage_collection"}
        | {"likeness.interruption"},
        True,
    ),
    "likeness.tasks": (
        {"likeness.identity", "likeness.config", "likeness.db", "likeness.services"}
        | {"likeness.expectations", "likeness.face", "likeness.pipeline", "likeness.transient"}
        | {"likeness.orchestration", "likeness.likeness_checks", "likeness.source_image_check"},
        True,
    ),
    "likeness.flows": (
        {"likeness.identity", "likeness.config", "likeness.db", "likeness.expectations"}
        | {"likeness.orchestration", "likeness.tasks", "likeness.likeness_checks"}
        | {"likeness.pipeline", "likeness.interruption"},
        True,
    ),
    "likeness.api": (
        {"likeness.identity", "likeness.config", "likeness.db", "likeness.services"}
        | {"likeness.storage", "likeness.orchestration.requests", "likeness.extraction_requests"},
        False,
    ),
}
ANYTHING = ("likeness.cli", "likeness.__main__", "likeness.devtools", "likeness.doctor")


def module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from likeness import pipeline` imports likeness.pipeline
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def rule_for(module: str) -> tuple[str, set[str], bool]:
    owners = [prefix for prefix in RULES if module == prefix or module.startswith(prefix + ".")]
    if not owners:
        raise AssertionError(f"{module} is in no package of docs/architecture.md")
    prefix = max(owners, key=len)
    allowed, prefect = RULES[prefix]
    return prefix, allowed, prefect


def within(name: str, prefixes: set[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


MODULES = sorted(
    (module_name(path), path)
    for path in SOURCE.rglob("*.py")
    if module_name(path) != "likeness"
    and not module_name(path).startswith(ANYTHING)
    and "migrations" not in path.parts
)


@pytest.mark.parametrize(("module", "path"), MODULES, ids=[name for name, _ in MODULES])
def test_each_module_imports_only_what_its_package_may(module: str, path: Path) -> None:
    prefix, allowed, prefect = rule_for(module)
    home = prefix.split(".")[:2]
    wrong = [
        name
        for name in imports_of(path)
        if (name.startswith("likeness.") and name.split(".")[:2] != home)
        and not within(name, allowed)
    ]
    assert not wrong, f"{module} may not import {wrong} (see docs/architecture.md)"
    if not prefect:
        assert not any(name.split(".")[0] == "prefect" for name in imports_of(path)), (
            f"{module} may not import Prefect"
        )


def test_nothing_but_the_command_line_imports_the_developer_tools() -> None:
    users = [
        module
        for module, path in MODULES
        if any(name.startswith("likeness.devtools") for name in imports_of(path))
    ]
    assert users == []


def test_the_floors_have_no_circle() -> None:
    """Every package stands on the ones it may import and never on one above it: the
    allowed imports, read as edges between packages, have an order (identity at the
    bottom)."""
    floors = {prefix.split(".")[1] for prefix in RULES}
    below = {
        floor: {
            name.split(".")[1]
            for prefix, (allowed, _) in RULES.items()
            if prefix.split(".")[1] == floor
            for name in allowed
        }
        - {floor}
        for floor in floors
    }
    placed: list[str] = []
    while len(placed) < len(floors):
        ready = sorted(f for f in floors - set(placed) if below[f] <= set(placed))
        assert ready, f"a circle among {sorted(floors - set(placed))}"
        placed.extend(ready)
    assert below["identity"] == set(), "identity is the ground floor: it imports nothing"
