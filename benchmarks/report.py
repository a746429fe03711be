"""Where a study's results go: a Markdown table, a JSON file and Plotly charts, with the machine recorded."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

DEFAULT_OUT = Path("benchmarks/results")
PACKAGES = ("numpy", "torch", "mediapipe", "opencv-contrib-python", "plotly")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_commit() -> str:
    proc = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    return proc.stdout.strip() or "unknown"


def machine() -> dict[str, Any]:
    """The machine and package versions a result was measured with."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": _git_commit(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpus_usable": affinity,
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "versions": versions,
    }


def machine_line(info: dict[str, Any]) -> str:
    """One Markdown line naming the machine and versions."""
    v = ", ".join(f"{k} {val}" for k, val in info["versions"].items() if val)
    fer = info.get("fer", {})
    extra = ("; fer venv: " + ", ".join(f"{k} {val}" for k, val in fer.items())) if fer else ""
    return (
        f"_Measured {info['measured_at']} at commit {info['git_commit']} on {info['cpu']} "
        f"({info['cpus_usable']} usable CPUs, load {info['load_avg_1m']}), Python {info['python']}, {v}{extra}._"
    )


def table(header: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table; numbers right-aligned."""

    def cell(v: Any) -> str:
        return "–" if v is None else str(v)

    def numeric(v: Any) -> bool:
        text = str(v).strip("*")
        return isinstance(v, int | float) or text.replace(".", "", 1).isdigit()

    align = ["---:" if rows and numeric(rows[0][i]) else "---" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write_study(
    out_dir: Path, name: str, markdown: str, data: dict[str, Any], figures: dict[str, Any]
) -> list[Path]:
    """Write <name>.md, <name>.json and <name>_<chart>.html (plotly.js once, beside them, for offline viewing)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.md", out_dir / f"{name}.json"]
    paths[0].write_text(markdown.rstrip() + "\n")
    paths[1].write_text(json.dumps(data, indent=2, default=str) + "\n")
    for chart, fig in figures.items():
        path = out_dir / f"{name}_{chart}.html"
        fig.write_html(path, include_plotlyjs="directory", full_html=True)
        paths.append(path)
    return paths
