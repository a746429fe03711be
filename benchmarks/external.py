"""The benchmarks with their own command line, each run by `all` in a fresh process.

Each is a module of this package with a click `main` that prints Markdown and writes JSON with
`--json`: `python -m benchmarks NAME [its options]` runs one; `all` runs each with `args(quick)` and
keeps its Markdown and JSON in the results folder beside the machine it ran on.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.report import machine, machine_line


class ExternalBenchError(RuntimeError):
    """A benchmark's own command failed."""


@dataclass(frozen=True, slots=True)
class Command:
    """One benchmark with its own options: its module, what it measures and how `all` runs it."""

    module: str
    results: str  # file stem of its Markdown and JSON in the results folder
    summary: str  # one line for `--help`
    quick_args: tuple[str, ...] = ()
    full_args: tuple[str, ...] = ()

    def args(self, quick: bool) -> list[str]:
        """The options `all` passes (`quick`: the shortest run that still measures something)."""
        return list(self.quick_args if quick else self.full_args)


COMMANDS: dict[str, Command] = {
    "engine": Command("benchmarks.engine_speed", "engine_speed",
                      "Engine time per stage, one face to 49 faces.",
                      ("--frames", "20"), ("--frames", "40")),
    "identity": Command("benchmarks.identity", "identity",
                        "Track IDs kept through reorders; ID swaps.",
                        ("--quick",)),
    "stillness": Command("benchmarks.stillness", "stillness",
                         "The still-tile check on live and still faces.", ("--quick",)),
    "identity-cost": Command("benchmarks.identity_cost", "identity_cost",
                             "Per-face cost of looks, still check, tracker.",
                             ("--repeats", "2")),
    "start": Command("benchmarks.engine_start", "engine_start",
                     "Engine launch to its first stored sample.",
                     ("--runs", "1"), ("--runs", "3")),
    "storage": Command("benchmarks.storage_speed", "storage_speed",
                       "SQLite ingest and query times.",
                       ("--students", "30", "--hours", "1", "--ingest-minutes", "5", "--runs", "3"),
                       ("--students", "30", "--hours", "3", "--ingest-minutes", "30", "--runs", "5")),
    "pages": Command("benchmarks.pages", "page_speed",
                     "Dashboard page render times (AppTest).",
                     ("--hours", "0.5", "--runs", "2")),
    "first-data": Command("benchmarks.first_data", "first_data",
                          "Start click to first student, in Chromium.",
                          ("--runs", "1"), ("--runs", "3")),
    "join_load": Command("benchmarks.join_load", "join_load",
                         "Students joining from browsers at school scale: lost, doubled, p99.",
                         ("--students", "60", "--minutes", "0.5"),
                         ("--students", "300", "--minutes", "2")),
    "soak": Command("benchmarks.soak", "soak",
                    "Engine and dashboard memory over a compressed school day.",
                    ("--minutes", "3", "--lesson-minutes", "1.5", "--break-minutes", "0.2",
                     "--warmup-minutes", "0.5", "--sample-s", "5"),
                    ("--minutes", "120")),
}


def run_command(name: str, quick: bool, out_dir: Path) -> list[Path]:
    """`python -m <module> <args> --json <out>`; its Markdown (stdout) and JSON land in out_dir."""
    command = COMMANDS[name]
    args = command.args(quick)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{command.results}.json"
    json_path.unlink(missing_ok=True)  # a failed run must not leave an older result standing
    cmd = [sys.executable, "-m", command.module, *args, "--json", str(json_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or proc.stdout.strip().splitlines() or ["no output"])[-1]
        raise ExternalBenchError(f"`python -m benchmarks {' '.join([name, *args])}` failed: {last}")
    info = machine()
    data: dict[str, Any] = json.loads(json_path.read_text()) if json_path.is_file() else {}
    data["benchmark_machine"] = info
    data["command"] = "python -m benchmarks " + " ".join([name, *args])
    json_path.write_text(json.dumps(data, indent=2) + "\n")
    md = out_dir / f"{command.results}.md"
    md.write_text(f"## `{data['command']}`\n\n{machine_line(info)}\n\n{proc.stdout.strip()}\n")
    return [md, json_path]
