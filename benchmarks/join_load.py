"""The join path at school scale: simulated students in classes posting to real servers, a
teacher's Live page open on one class, and a check that every sample is stored exactly once.

python -m benchmarks join_load --students N --rate HZ --minutes M
        [--class-size 30] [--servers K | --url URL ...] [--db sqlite|URL] [--live/--no-live]

Without --url it starts K real dashboard servers (`streamlit run streamlit_app.py`, the join routes
mounted beside the pages) on one database: a fresh SQLite file, or the PostgreSQL URL given (its
tables are created by the first server; the lessons are new ones, nothing else is touched). The
students (benchmarks.join_students: HTTP clients that behave as the page's sender.js) are spread
over classes of --class-size, each a join lesson; with K servers each student's posts go to one
(round robin), or to each in turn with --alternate. A teacher's Live page for one class is open
in Chromium on the first server the whole time (benchmarks.live_watch) and its refreshes are
timed. At the end the rows are checked: lost, doubled, invented. Exit 1 when any was.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from contextlib import ExitStack, suppress
from pathlib import Path

import click
import psutil

from benchmarks.join_students import LoadSettings, close_lessons, open_lessons, run_class, run_load
from benchmarks.servers import ROOT, dashboard_server
from storage.cli_types import FiniteFloat
from storage.db import open_database, safe_url

log = logging.getLogger(__name__)

__all__ = ["LoadSettings", "run_load", "main"]


def _watcher(url: str, seconds: float, json_path: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "benchmarks.live_watch", "--url", url,
               "--seconds", str(seconds), "--json", str(json_path)]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _cpu_by_program() -> dict[str, float]:
    """CPU seconds used so far by this process (the simulated students), PostgreSQL's processes
    and Chromium's: where the machine's two cores go besides the servers."""
    me = psutil.Process()
    out = {"students (this process)": sum(me.cpu_times()[:2]), "postgres": 0.0, "chromium": 0.0}
    for proc in psutil.process_iter(["name"]):
        name = (proc.info["name"] or "").lower()
        key = "postgres" if name.startswith("postgres") else "chromium" if "chrom" in name else None
        if key is not None:
            with suppress(psutil.Error):
                times = proc.cpu_times()  # a backend that ended is in its parent's children_*
                out[key] += times.user + times.system + times.children_user + times.children_system
    return out


def _live_lines(live: dict) -> list[str]:
    if not live.get("refreshes"):
        return [f"Live page: no refresh timed ({live.get('error', 'see the watcher output')})"]
    return [
        f"Live page (one class, first server): {live['refreshes']} refreshes, "
        f"p50 {live['p50_ms']:.0f} ms, p95 {live['p95_ms']:.0f} ms, max {live['max_ms']:.0f} ms; "
        f"a refresh every {live['gap_p50_s']:.1f} s (longest gap {live['gap_max_s']:.1f} s)"
    ]


def run(settings: LoadSettings, db_url: str, urls: list[str], servers: int, live: bool,
        tmp: Path) -> dict:  # fmt: skip
    """Start the servers (unless `urls`), open the lessons, run the load (and the Live page's
    watcher), check the rows; everything measured, as JSON."""
    open_database(db_url)  # migrated before any server starts
    with ExitStack() as stack:
        started = [stack.enter_context(dashboard_server(db_url, tmp / f"server-{k}"))
                   for k in range(0 if urls else servers)]  # fmt: skip
        urls = urls or [served.url for served in started]
        lessons = open_lessons(db_url, settings)
        watcher = None
        if live:
            watcher = _watcher(urls[0], max(5.0, settings.seconds - 15.0), tmp / "live.json")
        cpu_before = [served.cpu_s() for served in started]
        others_before = _cpu_by_program()
        load_before = os.getloadavg()
        try:
            report = run_class(urls, db_url, settings, lessons)
        except BaseException:
            close_lessons(db_url, lessons)
            raise
        load_after = os.getloadavg()
        cpu = [served.cpu_s() - before for served, before in zip(started, cpu_before, strict=True)]
        others = {name: round(s - others_before.get(name, 0.0), 1)
                  for name, s in _cpu_by_program().items()}  # fmt: skip
        live_figures: dict = {}
        if watcher is not None:
            out, _ = watcher.communicate(timeout=180)
            try:
                live_figures = json.loads((tmp / "live.json").read_text())
            except (OSError, ValueError):
                live_figures = {"error": out.decode(errors="replace").strip().splitlines()[-1:]}
            if "chromium_cpu_s" in live_figures:  # its processes have ended: read by the watcher
                others["chromium"] = live_figures["chromium_cpu_s"]
    return {"settings": {"students": settings.students, "rate_hz": settings.rate_hz,
                         "seconds": settings.seconds, "class_size": settings.class_size,
                         "servers": len(urls), "alternate": settings.alternate,
                         "attention_only": settings.attention_only, "db": safe_url(db_url)},
            "report": report.figures(), "ok": report.ok, "lines": report.lines(),
            "live": live_figures, "server_cpu_s": cpu, "cpu_s_by_program": others,
            "load_before": load_before,
            "load_after": load_after, "cpus": os.cpu_count()}  # fmt: skip


@click.command()
@click.option(
    "--students", type=click.IntRange(1, 100_000), required=True, help="Simulated students."
)
@click.option("--rate", "rate_hz", type=FiniteFloat(0.1, 10), default=1.0, show_default=True,
              help="Samples per second per student.")  # fmt: skip
@click.option("--minutes", type=FiniteFloat(0.1), default=1.0, show_default=True,
              help="How long they send.")  # fmt: skip
@click.option("--class-size", type=click.IntRange(1, 1000), default=30, show_default=True,
              help="Students per lesson.")  # fmt: skip
@click.option("--servers", type=click.IntRange(1, 8), default=1, show_default=True,
              help="Dashboard servers to start on the one database.")  # fmt: skip
@click.option(
    "--url",
    "urls",
    multiple=True,
    help="Use these running servers instead (repeat for several; then --db is theirs).",
)
@click.option("--alternate", is_flag=True, help="With several servers: each batch to the next one.")
@click.option(
    "--db",
    "db",
    default="sqlite",
    show_default=True,
    help="'sqlite' (a fresh file) or a database URL (e.g. postgresql+psycopg://...).",
)
@click.option("--expressions", is_flag=True, help="Send expression probabilities too.")
@click.option("--drop-share", type=FiniteFloat(0, 1), default=0.2, show_default=True,
              help="About this share of students drops off once and comes back.")  # fmt: skip
@click.option(
    "--live/--no-live",
    default=True,
    show_default=True,
    help="Keep a teacher's Live page open in Chromium and time its refreshes.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None)
def main(students: int, rate_hz: float, minutes: float, class_size: int, servers: int,
         urls: tuple[str, ...], alternate: bool, db: str, expressions: bool, drop_share: float,
         live: bool, seed: int, json_path: Path | None) -> None:  # fmt: skip
    """Simulate classes of students posting to join lessons; check every sample is stored once."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if urls and db == "sqlite":
        raise click.UsageError("with --url, give the servers' database as --db URL")
    settings = LoadSettings(students=students, rate_hz=rate_hz, seconds=minutes * 60,
                            drop_share=drop_share, attention_only=not expressions, seed=seed,
                            alternate=alternate, class_size=class_size)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="classpulse-join-load-") as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'load.db'}" if db == "sqlite" else db
        result = run(settings, db_url, list(urls), servers, live, Path(tmp))
    for line in [*result["lines"], *(_live_lines(result["live"]) if live else [])]:
        click.echo(line)
    cpu = ", ".join(f"{s:.0f}" for s in result["server_cpu_s"]) or "not measured (--url)"
    others = ", ".join(f"{name} {s:.0f}" for name, s in result["cpu_s_by_program"].items())
    click.echo(f"CPU s over the {settings.seconds:.0f} s: servers {cpu}; {others}")
    click.echo(
        f"load average "
        f"{result['load_before'][0]:.2f} before, {result['load_after'][0]:.2f} after; "
        f"{result['cpus']} CPUs; database {result['settings']['db']}"
    )
    if json_path is not None:
        json_path.write_text(json.dumps(result, indent=2))
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
