"""Exports of one lesson: the raw observations for analysts, and the teacher's tables and workbook.

`observations` is exact (UTC ISO-8601 times, full precision, students by track_id) and streamed in
chunks, never the whole lesson in memory. The teacher's kinds (`timeline`, `students`, `markers`,
and the `workbook` that holds them with a README sheet) are written as the app shows them, column
by column from storage/export_formats.py; they are small (one row per period, student or marker).
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import math
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Font
from sqlalchemy import Engine, select

from storage import export_formats as fmt
from storage import queries
from storage.columns import OBSERVATION_EXPORT_COLUMNS
from storage.db import StorageError
from storage.exclusions import excluded_tracks
from storage.markers import marker_context
from storage.schema import ObservationRow
from storage.viewers import Viewer

log = logging.getLogger(__name__)

RAW_KIND = "observations"
TEACHER_KINDS: tuple[str, ...] = ("timeline", "students", "markers")
EXPORT_KINDS: tuple[str, ...] = (RAW_KIND, *TEACHER_KINDS)  # the CSV kinds
WORKBOOK = "workbook"  # the teacher's kinds in one .xlsx, with a README sheet
ALL_KINDS: tuple[str, ...] = (*EXPORT_KINDS, WORKBOOK)
KIND_ALIASES = {"minutes": "timeline"}  # the per-minute export's earlier name
SHEETS = {"timeline": "Timeline", "students": "Students", "markers": "Markers"}
DEFAULT_BUCKET_S = 60.0
CHUNK_ROWS = 5000


def _cell(value: Any) -> Any:
    """A CSV cell: ISO-8601 with offset for times, h:mm:ss for durations, empty for missing values."""
    if value is None:
        return ""
    if isinstance(value, timedelta):
        return clock(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "isoformat"):  # pandas Timestamp
        return value.isoformat()
    if isinstance(value, float) and value != value:  # NaN
        return ""
    return value


def clock(duration: timedelta) -> str:
    """A duration as h:mm:ss (0:12:30), whole seconds."""
    hours, rest = divmod(int(duration.total_seconds()), 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(value: Any) -> Any:
    """A cell for a spreadsheet: text a teacher typed that a spreadsheet would run as a formula
    ("=HYPERLINK(...)", "+1", "@SUM") is kept as text by a leading apostrophe; others unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def _chunks(
    header: Iterable[str], rows: Iterable[Iterable[Any]], *, for_spreadsheet: bool = False
) -> Iterator[str]:
    """CSV text in chunks of CHUNK_ROWS rows, header first.

    `for_spreadsheet`: a byte-order mark first (Excel reads a CSV as UTF-8 only when it starts
    with one, else "café" is "cafÃ©") and typed text kept from being run as a formula.
    """
    buffer = io.StringIO()
    if for_spreadsheet:
        buffer.write("\ufeff")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for count, row in enumerate(rows, start=1):
        cells = [_cell(v) for v in row]
        writer.writerow([spreadsheet_text(c) for c in cells] if for_spreadsheet else cells)
        if count % CHUNK_ROWS == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _observation_rows(engine: Engine, lesson_id: int) -> Iterator[tuple[Any, ...]]:
    """Observation rows in time order, fetched in partitions (server-side cursor on PostgreSQL)."""
    columns = [getattr(ObservationRow, name) for name in OBSERVATION_EXPORT_COLUMNS]
    stmt = (
        select(*columns)
        .where(ObservationRow.lesson_id == lesson_id)
        .order_by(ObservationRow.ts, ObservationRow.track_id)
    )
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=CHUNK_ROWS).execute(stmt)
        for partition in result.partitions():
            yield from partition


def _frame_rows(frame: Any) -> Iterator[tuple[Any, ...]]:
    return frame.itertuples(index=False, name=None)


def kind_of(kind: str) -> str:
    """An export kind by its name (or earlier name); StorageError naming the choices otherwise."""
    found = KIND_ALIASES.get(kind, kind)
    if found not in ALL_KINDS:
        raise StorageError(f"unknown export kind {kind!r}; choose one of {', '.join(ALL_KINDS)}")
    return found


def _lesson(engine: Engine, lesson_id: int, viewer: Viewer) -> dict[str, Any]:
    lesson = queries.find_lesson(engine, lesson_id, viewer=viewer)
    if lesson is None:
        raise StorageError(f"no lesson with id {lesson_id}")
    return lesson


def _check_bucket(bucket_s: float) -> float:
    if not (math.isfinite(bucket_s) and bucket_s >= 1):
        raise StorageError(f"the timeline period must be at least 1 second, got {bucket_s:g}")
    return float(bucket_s)


def _teacher_table(
    engine: Engine, lesson: dict[str, Any], kind: str, viewer: Viewer, tz: str, bucket_s: float
) -> tuple[tuple[fmt.ExportColumn, ...], pd.DataFrame]:
    """One teacher kind of a lesson already found for the viewer: its columns and its table."""
    lesson_id, attention_only = int(lesson["id"]), bool(lesson.get("attention_only"))
    if kind == "timeline":
        columns = fmt.timeline_columns(tz, bucket_s, attention_only=attention_only)
        frame = queries.lesson_timeline(engine, lesson_id, bucket_s, viewer=viewer)
    elif kind == "students":
        columns = fmt.student_columns(attention_only=attention_only)
        frame = queries.student_summary(engine, lesson_id, viewer=viewer)
    else:
        columns = fmt.marker_columns(tz)
        frame = marker_context(engine, lesson_id, viewer=viewer)
    return columns, fmt.teacher_frame(frame, columns)


def iter_csv(
    engine: Engine, lesson_id: int, kind: str, *, viewer: Viewer, timezone: str = "UTC",
    bucket_s: float = DEFAULT_BUCKET_S,
) -> Iterator[str]:
    """CSV text of one lesson the viewer may see, in chunks: observations (raw), timeline,
    students or markers (as the app shows them, times in `timezone`, the timeline per `bucket_s`)."""
    kind = kind_of(kind)
    if kind == WORKBOOK:
        raise StorageError("the workbook is an .xlsx file, not a CSV: use workbook_bytes")
    fmt.zone(timezone)
    bucket_s = _check_bucket(bucket_s)
    lesson = _lesson(engine, lesson_id, viewer)
    if kind == RAW_KIND:
        return _chunks(OBSERVATION_EXPORT_COLUMNS, _observation_rows(engine, lesson_id))
    _, table = _teacher_table(engine, lesson, kind, viewer, timezone, bucket_s)
    return _chunks(list(table.columns), _frame_rows(table), for_spreadsheet=True)


def workbook_bytes(
    engine: Engine, lesson_id: int, *, viewer: Viewer, timezone: str = "UTC",
    bucket_s: float = DEFAULT_BUCKET_S, generated_at: datetime | None = None,
) -> bytes:
    """One lesson the viewer may see as an Excel workbook: a README sheet, then one sheet per
    teacher kind (numbers as numbers, times as date cells of the wall-clock time in `timezone`,
    named in the header and the README: Excel keeps no time zone; durations as h:mm:ss)."""
    return _workbook(engine, lesson_id, viewer, timezone, bucket_s, generated_at)[0]


DATE_FORMAT = "yyyy-mm-dd hh:mm:ss"
DURATION_FORMAT = "[h]:mm:ss"


def _sheet_value(value: Any) -> Any:
    """A value as a cell takes it: an aware time as its wall-clock time (Excel has no zones)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.replace(tzinfo=None)
    return value


def _append(sheet: Any, values: Iterable[Any]) -> None:
    """One row of values; times and durations as such; text stays text ("=1+1" typed as a label
    is not made a formula)."""
    sheet.append([_sheet_value(v) for v in values])
    for cell in sheet[sheet.max_row]:
        if isinstance(cell.value, str) and cell.value.startswith("="):
            cell.data_type = "s"
        elif isinstance(cell.value, datetime):
            cell.number_format = DATE_FORMAT
        elif isinstance(cell.value, timedelta):
            cell.number_format = DURATION_FORMAT


def _workbook(
    engine: Engine, lesson_id: int, viewer: Viewer, timezone: str, bucket_s: float,
    generated_at: datetime | None,
) -> tuple[bytes, int]:
    """The workbook's bytes and the number of data rows on its table sheets."""
    fmt.zone(timezone)
    bucket_s = _check_bucket(bucket_s)
    lesson = _lesson(engine, lesson_id, viewer)
    tables = {
        SHEETS[kind]: _teacher_table(engine, lesson, kind, viewer, timezone, bucket_s)
        for kind in TEACHER_KINDS
    }
    readme = fmt.readme_rows(
        lesson, timezone, {name: columns for name, (columns, _) in tables.items()},
        excluded=excluded_tracks(engine, lesson_id), generated_at=generated_at,
    )  # fmt: skip
    book = Workbook()
    sheet = book.active
    sheet.title = "README"
    for row in readme:
        _append(sheet, row)
    sheet.column_dimensions["A"].width = 32
    sheet.column_dimensions["B"].width = 100
    sheet["A1"].font = Font(bold=True, size=14)
    for name, (_, table) in tables.items():
        sheet = book.create_sheet(name)
        sheet.append(list(table.columns))
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for values in _frame_rows(table):
            _append(sheet, values)
        sheet.freeze_panes = "A2"
        for index, header in enumerate(table.columns, start=1):
            wide = 20 if header == fmt.time_header(timezone) else 12  # a date and time fits
            sheet.column_dimensions[sheet.cell(1, index).column_letter].width = max(wide, len(header) + 2)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue(), sum(len(table) for _, table in tables.values())


def export_chunks(
    engine: Engine, lesson_id: int, kind: str, *, viewer: Viewer, timezone: str = "UTC",
    bucket_s: float = DEFAULT_BUCKET_S, generated_at: datetime | None = None,
) -> Iterator[bytes]:
    """Any export kind of a lesson the viewer may see as bytes, in chunks (CSV as UTF-8)."""
    if kind_of(kind) == WORKBOOK:
        return iter([workbook_bytes(engine, lesson_id, viewer=viewer, timezone=timezone,
                                    bucket_s=bucket_s, generated_at=generated_at)])  # fmt: skip
    chunks = iter_csv(engine, lesson_id, kind, viewer=viewer, timezone=timezone, bucket_s=bucket_s)
    return (chunk.encode("utf-8") for chunk in chunks)


def write_export(
    engine: Engine, lesson_id: int, kind: str, out_path: str | Path, *, viewer: Viewer,
    timezone: str = "UTC", bucket_s: float = DEFAULT_BUCKET_S, generated_at: datetime | None = None,
) -> int:
    """Write one lesson the viewer may see to a file (CSV, or .xlsx for the workbook) and return
    the number of data rows (of every sheet, for the workbook).

    The kind, time zone and lesson (for this viewer) are checked before anything is written; the
    file goes to a temporary file in the same folder that replaces `out_path` only once complete,
    so on any error an existing file is left as it was. A new file is readable by its owner only
    (it holds student data); one that is replaced keeps its permissions.
    """
    path = Path(out_path)
    kind = kind_of(kind)
    # StorageError here for a bad time zone or period, or a lesson not there or not the viewer's
    if kind == WORKBOOK:
        data, rows = _workbook(engine, lesson_id, viewer, timezone, bucket_s, generated_at)
        chunks: Iterable[bytes] = [data]
    else:
        chunks = export_chunks(engine, lesson_id, kind, viewer=viewer, timezone=timezone,
                               bucket_s=bucket_s)  # fmt: skip
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc.strerror or exc}") from exc
    tmp = Path(tmp_name)
    lines = 0
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
                lines += chunk.count(b"\n")
        with contextlib.suppress(FileNotFoundError):
            os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise StorageError(f"cannot write {path}: {exc.strerror or exc}") from exc
        raise
    if kind != WORKBOOK:
        rows = lines - 1  # the header is not a row
    log.info("exported %d %s rows of lesson %d to %s", rows, kind, lesson_id, path)
    return rows


def write_csv(
    engine: Engine, lesson_id: int, kind: str, out_path: str | Path, *, viewer: Viewer,
    timezone: str = "UTC", bucket_s: float = DEFAULT_BUCKET_S,
) -> int:
    """write_export for the CSV kinds only (the workbook is refused before anything is written)."""
    if kind_of(kind) == WORKBOOK:
        raise StorageError("the workbook is an .xlsx file, not a CSV: use write_export")
    return write_export(engine, lesson_id, kind, out_path, viewer=viewer, timezone=timezone,
                        bucket_s=bucket_s)  # fmt: skip
