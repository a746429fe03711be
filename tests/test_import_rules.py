"""The dependency rules of docs/architecture.md, read from every module's imports (lazy ones too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("models", "storage", "engine", "dashboard")
# Who may not import whom (a module and everything below it). `storage.records` is the leaf every
# package may import. The dashboard starts the capture engine as a process: it may use the engine's
# image analysis and pure helpers, never its capture loop.
CAPTURE_LOOP = ("engine.pipeline", "engine.sources", "engine.runtime", "engine.__main__")
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "models": ("engine", "storage", "dashboard"),
    "storage": ("engine", "dashboard"),
    "engine": ("dashboard",),
    "dashboard": CAPTURE_LOOP,
    "storage.records": PACKAGES,
}


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(f"{prefix}.")


def imported_modules(source: str, module: str) -> set[str]:
    """Every module named by an import anywhere in `source` (top level or inside functions)."""
    found: set[str] = set()
    package = module.rsplit(".", 1)[0] if "." in module else module
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def violations(root: Path) -> list[str]:
    """'importer -> imported' for each forbidden edge under `root`'s packages."""
    found = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            module = module_name(path, root)
            rules = [rule for rule in FORBIDDEN if module == rule or module.startswith(f"{rule}.")]
            rule = max(rules, key=len)  # the most specific rule wins (storage.records over storage)
            for name in sorted(imported_modules(path.read_text(encoding="utf-8"), module)):
                own_package = rule != "storage.records" and _under(name, package)
                if not own_package and any(_under(name, banned) for banned in FORBIDDEN[rule]):
                    found.append(f"{module} -> {name}")
    return found


def test_no_package_imports_what_the_rules_forbid() -> None:
    assert violations(ROOT) == []


@pytest.mark.parametrize(
    ("file", "line", "edge"),
    [
        ("models/x.py", "from engine.faces import FaceFinder", "models.x -> engine.faces"),
        ("models/x.py", "def f():\n    import storage.db\n", "models.x -> storage.db"),
        ("storage/x.py", "from engine import records", "storage.x -> engine"),
        ("storage/records.py", "from storage.db import open_database", "storage.records -> storage.db"),
        ("engine/x.py", "from dashboard.control import LiveSession", "engine.x -> dashboard.control"),
        ("dashboard/x.py", "from engine.pipeline import LessonPipeline", "dashboard.x -> engine.pipeline"),
        ("dashboard/x.py", "from engine import sources", "dashboard.x -> engine.sources"),
    ],
)
def test_a_forbidden_import_is_reported(tmp_path: Path, file: str, line: str, edge: str) -> None:
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / file).write_text(line + "\n")
    assert edge in violations(tmp_path)


@pytest.mark.parametrize(
    ("file", "line"),
    [
        ("engine/x.py", "from storage.records import Sample\nfrom models.classify import load_classifier"),
        ("dashboard/x.py", "from engine.analysis import analyse_image\nimport storage.db"),
        ("storage/x.py", "from storage.records import EXPRESSIONS\nfrom . import db"),
        ("models/x.py", "from models.config import ModelConfig\nimport torch"),
    ],
)
def test_an_allowed_import_is_not_reported(tmp_path: Path, file: str, line: str) -> None:
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / file).write_text(line + "\n")
    assert violations(tmp_path) == []
