"""The dependency rules of docs/architecture.md, read from every module's imports (lazy ones too)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("models", "storage", "engine", "dashboard")
ENTRY_FILES = ("streamlit_app.py",)  # product files beside the packages
# Who may not import whom (a module and everything below it). `storage.records` is the leaf every
# package may import. The dashboard starts the capture engine as a process: it may use the engine's
# image analysis and pure helpers, never its capture loop. What ships never imports what only
# measures (`benchmarks`) or only tests (`tests`, the test kit included).
CAPTURE_LOOP = ("engine.pipeline", "engine.sources", "engine.runtime", "engine.__main__")
NOT_PRODUCT = ("benchmarks", "tests")
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "models": ("engine", "storage", "dashboard", *NOT_PRODUCT),
    "storage": ("engine", "dashboard", *NOT_PRODUCT),
    "engine": ("dashboard", *NOT_PRODUCT),
    "dashboard": (*CAPTURE_LOOP, *NOT_PRODUCT),
    "streamlit_app": (*CAPTURE_LOOP, *NOT_PRODUCT),
    "storage.records": (*PACKAGES, *NOT_PRODUCT),
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


def product_files(root: Path) -> list[tuple[Path, str]]:
    """(path, top-level package or entry module) of every product file under `root`."""
    files = [(path, package) for package in PACKAGES for path in sorted((root / package).rglob("*.py"))]
    files += [(root / name, name.removesuffix(".py")) for name in ENTRY_FILES if (root / name).is_file()]
    return files


def violations(root: Path) -> list[str]:
    """'importer -> imported' for each forbidden edge under `root`'s product files."""
    found = []
    for path, package in product_files(root):
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
        ("engine/x.py", "from benchmarks.engine_speed import main", "engine.x -> benchmarks.engine_speed"),
        ("dashboard/x.py", "import benchmarks.pages", "dashboard.x -> benchmarks.pages"),
        ("storage/x.py", "from benchmarks import storage_speed", "storage.x -> benchmarks.storage_speed"),
        ("models/x.py", "def f():\n    from tests.kit import galleries\n", "models.x -> tests.kit.galleries"),
        ("engine/x.py", "from tests.kit.galleries import large_gallery", "engine.x -> tests.kit.galleries"),
        ("storage/records.py", "from tests.conftest import video_frame", "storage.records -> tests.conftest"),
        ("streamlit_app.py", "from benchmarks.first_data import main", "streamlit_app -> benchmarks.first_data"),
        ("streamlit_app.py", "import tests.kit", "streamlit_app -> tests.kit"),
        ("streamlit_app.py", "from engine.runtime import limit_malloc_arenas",
         "streamlit_app -> engine.runtime"),
    ],
)
def test_a_forbidden_import_is_reported(tmp_path: Path, file: str, line: str, edge: str) -> None:
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / file).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / file).write_text(line + "\n")
    assert edge in violations(tmp_path)


@pytest.mark.parametrize(
    ("file", "line"),
    [
        ("engine/x.py", "from storage.records import Sample\nfrom models.classify import load_classifier"),
        ("dashboard/x.py", "from engine.analysis import analyse_image\nimport storage.db"),
        ("storage/x.py", "from storage.records import EXPRESSIONS\nfrom . import db"),
        ("models/x.py", "from models.config import ModelConfig\nimport torch"),
        ("streamlit_app.py", "from dashboard.app_pages import live\nfrom engine.analysis import analyse_image"),
        # Benchmarks and tests are not product code: they may import the test kit and the capture loop.
        ("benchmarks/x.py", "from tests.kit.galleries import large_gallery\nfrom engine.pipeline import LessonPipeline"),
        ("tests/kit/x.py", "from benchmarks.media import new_finder\nfrom engine.sources import Frame"),
    ],
)
def test_an_allowed_import_is_not_reported(tmp_path: Path, file: str, line: str) -> None:
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / file).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / file).write_text(line + "\n")
    assert violations(tmp_path) == []


# --- what the dashboard takes from the engine: exactly docs/architecture.md's list -----------------

ARCHITECTURE = ROOT / "docs" / "architecture.md"
_LISTED = re.compile(r"^- `(engine\.[a-z_]+)` — ", re.MULTILINE)


def documented_engine_imports(text: str) -> set[str]:
    """The engine modules docs/architecture.md lists under "What the dashboard imports from the engine"."""
    section = text.split("### What the dashboard imports from the engine", 1)[1].split("\n#", 1)[0]
    return set(_LISTED.findall(section))


def dashboard_engine_imports(root: Path) -> set[str]:
    """The engine modules (engine/NAME.py) the dashboard and the entry file import, lazily or not."""
    found = set()
    for path, package in product_files(root):
        if package not in ("dashboard", "streamlit_app"):
            continue
        for name in imported_modules(path.read_text(encoding="utf-8"), module_name(path, root)):
            parts = name.split(".")
            if parts[0] == "engine" and len(parts) > 1 and (root / "engine" / f"{parts[1]}.py").is_file():
                found.add(f"engine.{parts[1]}")
    return found


def test_the_dashboard_imports_exactly_the_engine_modules_the_architecture_lists() -> None:
    documented = documented_engine_imports(ARCHITECTURE.read_text(encoding="utf-8"))
    assert documented, "docs/architecture.md lists no engine module"
    assert dashboard_engine_imports(ROOT) == documented


@pytest.mark.parametrize(
    ("line", "extra", "missing"),
    [
        ("from engine.crops import aligned_crop", {"engine.crops"}, set()),
        ("def f():\n    from engine import boxes\n", {"engine.boxes"}, set()),
    ],
)
def test_an_engine_import_the_architecture_does_not_list_is_seen(
    tmp_path: Path, line: str, extra: set[str], missing: set[str]
) -> None:
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    for name in ("crops", "boxes", "protocol"):
        (tmp_path / "engine" / f"{name}.py").write_text("")
    (tmp_path / "dashboard" / "ok.py").write_text("from engine.protocol import StartRequest\n")
    (tmp_path / "dashboard" / "x.py").write_text(line + "\n")
    documented = documented_engine_imports("### What the dashboard imports from the engine\n\n"
                                           "- `engine.protocol` — the messages.\n")
    found = dashboard_engine_imports(tmp_path)
    assert found - documented == extra and documented - found == missing


def test_a_listed_module_the_dashboard_no_longer_imports_is_seen(tmp_path: Path) -> None:
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "engine" / "protocol.py").write_text("")
    (tmp_path / "dashboard" / "x.py").write_text("import json\n")
    documented = documented_engine_imports("### What the dashboard imports from the engine\n\n"
                                           "- `engine.protocol` — the messages.\n")
    assert documented - dashboard_engine_imports(tmp_path) == {"engine.protocol"}
