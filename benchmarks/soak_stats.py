"""The memory soak's arithmetic and report: resident-memory samples in, slopes and Markdown out (no I/O).

Each capture engine lives for one lesson (the dashboard starts a fresh one per lesson), so its slope
is pooled over lessons: one least-squares line per lesson, sharing its slope (a fixed-effects
regression), over the samples each engine took after its warm-up. The dashboard is one process for
the whole day, so its slope is the plain least-squares line after the day's warm-up.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from benchmarks.report import machine_line, table

SECONDS_PER_HOUR = 3600.0
GOAL_MB_PER_H = 5.0
ENGINE, DASHBOARD = "engine", "dashboard"


@dataclass(frozen=True, slots=True)
class RssSample:
    """One reading of a process's resident memory (its children included)."""

    process: str  # ENGINE or DASHBOARD
    run: int  # which process: the lesson number for an engine, 0 for the dashboard
    day_s: float  # seconds since the soak started
    age_s: float  # seconds since this process started
    rss_mb: float


def after_warmup(samples: Iterable[RssSample], warmup_s: float) -> list[RssSample]:
    """The samples a process took once it was `warmup_s` old."""
    return [s for s in samples if s.age_s >= warmup_s]


def pooled_slope_mb_per_h(samples: Sequence[RssSample]) -> float | None:
    """MB per hour: the least-squares slope shared by every run, each run with its own intercept.

    None when no run has two readings at different times (nothing to fit).
    """
    runs: dict[int, list[RssSample]] = {}
    for s in samples:
        runs.setdefault(s.run, []).append(s)
    cross = spread = 0.0
    for run in runs.values():
        mean_t = sum(s.day_s for s in run) / len(run)
        mean_mb = sum(s.rss_mb for s in run) / len(run)
        cross += sum((s.day_s - mean_t) * (s.rss_mb - mean_mb) for s in run)
        spread += sum((s.day_s - mean_t) ** 2 for s in run)
    if spread == 0.0:
        return None
    return cross / spread * SECONDS_PER_HOUR


@dataclass(frozen=True, slots=True)
class ProcessFigures:
    """One process's memory over the soak: readings, start/end/peak and slope after warm-up."""

    process: str
    samples: int  # every reading
    fitted: int  # readings after warm-up, the ones the slope is fitted on
    runs: int
    first_mb: float  # the first reading of all
    start_mb: float | None  # the first reading after warm-up
    end_mb: float
    peak_mb: float
    slope_mb_per_h: float | None
    covered_min: float  # minutes between the first and last fitted readings


def figures(samples: Sequence[RssSample], process: str, warmup_s: float) -> ProcessFigures | None:
    """One process's figures, or None when it was never read."""
    mine = sorted((s for s in samples if s.process == process), key=lambda s: s.day_s)
    if not mine:
        return None
    fitted = after_warmup(mine, warmup_s)
    covered = (fitted[-1].day_s - fitted[0].day_s) / 60 if fitted else 0.0
    return ProcessFigures(
        process=process, samples=len(mine), fitted=len(fitted), runs=len({s.run for s in mine}),
        first_mb=mine[0].rss_mb, start_mb=fitted[0].rss_mb if fitted else None,
        end_mb=mine[-1].rss_mb, peak_mb=max(s.rss_mb for s in mine),
        slope_mb_per_h=pooled_slope_mb_per_h(fitted), covered_min=round(covered, 1),
    )  # fmt: skip


def per_run(samples: Sequence[RssSample], process: str, warmup_s: float) -> list[ProcessFigures]:
    """The figures of each run of a process (each lesson's engine), in run order."""
    runs = sorted({s.run for s in samples if s.process == process})
    out = []
    for run in runs:
        found = figures([s for s in samples if s.run == run and s.process == process], process,
                        warmup_s)
        if found is not None:
            out.append(found)
    return out


def _mb(value: float | None) -> str | None:
    return None if value is None else f"{value:.1f}"


def _slope(value: float | None) -> str | None:
    return None if value is None else f"{value:+.1f}"


def _rate(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}/s"


def _row(name: str, f: ProcessFigures) -> list[Any]:
    return [name, f.samples, f.fitted, f.covered_min, _mb(f.first_mb), _mb(f.start_mb),
            _mb(f.end_mb), _mb(f.peak_mb), _slope(f.slope_mb_per_h)]


HEADER = ["process", "readings", "after warm-up", "minutes fitted", "first MB", "start MB",
          "end MB", "peak MB", "slope MB/h"]


def markdown(data: dict[str, Any], info: dict[str, Any]) -> str:
    """The soak's report: the day, each process's figures, each lesson's engine."""
    s = data["settings"]
    rows = [_row(name, ProcessFigures(**data["figures"][name]))
            for name in (ENGINE, DASHBOARD) if data["figures"].get(name)]
    lessons = [_row(f"engine, lesson {i + 1}", ProcessFigures(**f))
               for i, f in enumerate(data["engine_lessons"])]
    verdicts = [f"{name} {_slope(f['slope_mb_per_h'])} MB/h"
                + ("" if f["slope_mb_per_h"] is None
                   else " (within)" if f["slope_mb_per_h"] <= GOAL_MB_PER_H else " (over)")
                for name, f in data["figures"].items() if f]
    return "\n\n".join([
        "## Memory over a compressed school day",
        machine_line(info),
        f"`{data['command']}`: {data['day_min']:.1f} minutes, {data['lessons']} demo lesson(s) of "
        f"up to {s['lesson_minutes']:g} min at {s['rate_hz']:g} Hz asked "
        f"({_rate(data['samples_per_s'])} stored over {data['lesson_min']:.1f} lesson minutes) with "
        f"{s['break_minutes']:g}-min breaks, the Live page open in Chromium; resident memory "
        f"(children included) every "
        f"{s['sample_s']:g} s, slopes fitted after each process's first {s['warmup_minutes']:g} min "
        f"(engines: one line per lesson, sharing its slope). Samples stored: "
        f"{data['samples_stored']:,} ({data['observations_stored']:,} observations).",
        table(HEADER, rows),
        table(HEADER, lessons) if lessons else "",
        f"Slopes against the goal of ≤ {GOAL_MB_PER_H:g} MB/h: " + "; ".join(verdicts) + ".",
    ]).strip()


def result(samples: Sequence[RssSample], *, settings: dict[str, Any], command: str, day_s: float,
           lessons: int, lesson_s: float, samples_stored: int,
           observations_stored: int) -> dict[str, Any]:
    """Everything the report and its JSON hold."""
    warmup_s = settings["warmup_minutes"] * 60
    found = {name: figures(samples, name, warmup_s) for name in (ENGINE, DASHBOARD)}
    return {
        "command": command, "settings": settings, "day_min": round(day_s / 60, 2),
        "lessons": lessons, "lesson_min": round(lesson_s / 60, 2),
        "samples_per_s": round(samples_stored / lesson_s, 2) if lesson_s > 0 else None,
        "samples_stored": samples_stored,
        "observations_stored": observations_stored,
        "figures": {name: None if f is None else asdict(f) for name, f in found.items()},
        "engine_lessons": [asdict(f) for f in per_run(samples, ENGINE, warmup_s)],
        "readings": [asdict(s) for s in samples],
    }  # fmt: skip
