"""The engine's and storage's own speed benchmarks, run as subprocesses from the same entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.report import machine, machine_line


class ExternalBenchError(RuntimeError):
    """A package's own benchmark failed."""


def engine_args(quick: bool) -> list[str]:
    return ["--frames", "20" if quick else "40"]


def storage_args(quick: bool) -> list[str]:
    return [
        "--students",
        "30",
        "--hours",
        "1" if quick else "3",
        "--ingest-minutes",
        "5" if quick else "30",
        "--runs",
        "3" if quick else "5",
    ]


def run_module(module: str, args: list[str], out_dir: Path, name: str) -> list[Path]:
    """`python -m <module> <args> --json <out>`; its Markdown (stdout) and JSON land in out_dir as <name>.*."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{name}.json"
    cmd = [sys.executable, "-m", module, *args, "--json", str(json_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ExternalBenchError(f"`{' '.join(cmd[1:])}` failed: {last}")
    info = machine()
    data: dict[str, Any] = json.loads(json_path.read_text()) if json_path.is_file() else {}
    data["benchmark_machine"] = info
    data["command"] = "python -m " + " ".join([module, *args])
    json_path.write_text(json.dumps(data, indent=2) + "\n")
    md = out_dir / f"{name}.md"
    md.write_text(f"## `{data['command']}`\n\n{machine_line(info)}\n\n{proc.stdout.strip()}\n")
    return [md, json_path]
