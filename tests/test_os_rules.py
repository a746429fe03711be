"""OS details live in one module: no product module but engine/processes.py signals, probes, spawns
a session or reads /proc or /dev (docs/architecture.md), read from every module's syntax tree."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("models", "storage", "engine", "dashboard")
ENTRY_FILES = ("streamlit_app.py",)
PROCESS_MODULE = "engine/processes.py"
FORBIDDEN_MODULES = ("signal", "psutil")
FORBIDDEN_OS = ("kill", "killpg", "waitpid", "WNOHANG", "setsid", "getsid")
FORBIDDEN_KEYWORDS = ("start_new_session", "creationflags", "preexec_fn")
FORBIDDEN_ROOTS = ("proc", "dev")  # "/proc", "/proc/...", "/dev", "/dev/..."
# Ending or signalling a process by hand (a Popen's or psutil's): the graceful stop and its grace
# period are the process module's (`stop_process`, `end_child`).
FORBIDDEN_METHODS = ("kill", "terminate", "send_signal")


def os_details(source: str) -> list[str]:
    """Each OS detail `source` uses: 'import signal', 'os.kill', 'start_new_session=', '"/proc..."'."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name.split(".")[0] in FORBIDDEN_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in FORBIDDEN_MODULES:
            found.append(f"from {node.module} import")
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            found += [f"from os import {a.name}" for a in node.names if a.name in FORBIDDEN_OS]
        elif (isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_OS
              and isinstance(node.value, ast.Name) and node.value.id == "os"):  # fmt: skip
            found.append(f"os.{node.attr}")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr in FORBIDDEN_METHODS and not (
                  isinstance(node.func.value, ast.Name) and node.func.value.id == "os")):  # fmt: skip
            found.append(f".{node.func.attr}()")
        elif isinstance(node, ast.keyword) and node.arg in FORBIDDEN_KEYWORDS:
            found.append(f"{node.arg}=")
        elif isinstance(node, ast.Constant) and _system_path(node.value):
            found.append(repr(node.value[:20]))
    return found


def _system_path(value: object) -> bool:
    """Whether a string constant is (or begins) a path under /proc or /dev."""
    if not isinstance(value, str) or not value.startswith("/"):
        return False
    return value[1:].split("/", 1)[0] in FORBIDDEN_ROOTS


def violations(root: Path) -> list[str]:
    """'path: detail' for each OS detail outside the process module under root's product code."""
    paths = [p for package in PRODUCT for p in sorted((root / package).rglob("*.py"))]
    paths += [root / name for name in ENTRY_FILES if (root / name).exists()]
    found = []
    for path in paths:
        name = path.relative_to(root).as_posix()
        if name == PROCESS_MODULE:
            continue
        found += [f"{name}: {detail}" for detail in os_details(path.read_text(encoding="utf-8"))]
    return found


def test_os_details_live_only_in_the_process_module():
    assert violations(ROOT) == []


def test_the_process_module_is_where_they_are():
    assert os_details((ROOT / PROCESS_MODULE).read_text(encoding="utf-8"))  # the rule guards something


@pytest.mark.parametrize(
    ("code", "detail"),
    [
        ("import signal\n", "import signal"),
        ("from signal import SIGTERM\n", "from signal import"),
        ("import psutil\n", "import psutil"),
        ("import os\nos.kill(1, 0)\n", "os.kill"),
        ("import os\nflags = os.WNOHANG\n", "os.WNOHANG"),
        ("import os\nos.waitpid(1, 0)\n", "os.waitpid"),
        ("from os import kill\n", "from os import kill"),
        ("import subprocess\nsubprocess.Popen(['x'], start_new_session=True)\n", "start_new_session="),
        ("import subprocess\nsubprocess.Popen(['x'], creationflags=8)\n", "creationflags="),
        ("from pathlib import Path\nPath('/proc/1/stat').read_text()\n", "'/proc/1/stat'"),
        ("pid = 1\nopen(f'/proc/{pid}/stat')\n", "'/proc/'"),
        ("from pathlib import Path\nPath('/dev').glob('video*')\n", "'/dev'"),
        ("open('/dev/video0')\n", "'/dev/video0'"),
        ("import subprocess\np = subprocess.Popen(['x'])\np.kill()\n", ".kill()"),
        ("def stop(process):\n    process.terminate()\n", ".terminate()"),
        ("def stop(process):\n    process.send_signal(15)\n", ".send_signal()"),
    ],
)
def test_each_os_detail_outside_the_module_is_caught(tmp_path, code, detail):
    for package in PRODUCT:
        (tmp_path / package).mkdir()
    (tmp_path / "storage" / "lessons.py").write_text(code, encoding="utf-8")
    (tmp_path / "engine" / "processes.py").write_text(code, encoding="utf-8")  # allowed there
    assert violations(tmp_path) == [f"storage/lessons.py: {detail}"]


def test_prose_about_them_is_not_a_use(tmp_path):
    for package in PRODUCT:
        (tmp_path / package).mkdir()
    (tmp_path / "dashboard" / "x.py").write_text('"""No /proc, no os.kill, no signal handling."""\n')
    assert violations(tmp_path) == []
