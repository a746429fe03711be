"""CSV export of one lesson, streamed in chunks (never the whole lesson in memory)."""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from storage import queries
from storage.columns import OBSERVATION_EXPORT_COLUMNS
from storage.db import StorageError
from storage.schema import ObservationRow
from storage.viewers import Viewer

log = logging.getLogger(__name__)

EXPORT_KINDS: tuple[str, ...] = ("observations", "minutes", "students")
CHUNK_ROWS = 5000


def _cell(value: Any) -> Any:
    """A CSV cell: ISO-8601 with offset for times, empty for missing values."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "isoformat"):  # pandas Timestamp
        return value.isoformat()
    if isinstance(value, float) and value != value:  # NaN
        return ""
    return value


def _chunks(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    """CSV text in chunks of CHUNK_ROWS rows, header first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for count, row in enumerate(rows, start=1):
        writer.writerow([_cell(v) for v in row])
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


def iter_csv(engine: Engine, lesson_id: int, kind: str, *, viewer: Viewer) -> Iterator[str]:
    """CSV text of one lesson the viewer may see, in chunks: observations, minutes, or students."""
    if kind not in EXPORT_KINDS:
        raise StorageError(f"unknown export kind {kind!r}; choose one of {', '.join(EXPORT_KINDS)}")
    if queries.find_lesson(engine, lesson_id, viewer=viewer) is None:
        raise StorageError(f"no lesson with id {lesson_id}")
    if kind == "observations":
        return _chunks(OBSERVATION_EXPORT_COLUMNS, _observation_rows(engine, lesson_id))
    if kind == "minutes":
        frame = queries.lesson_timeline(engine, lesson_id, 60.0, viewer=viewer)
    else:
        frame = queries.student_summary(engine, lesson_id, viewer=viewer)
    return _chunks(list(frame.columns), _frame_rows(frame))


def write_csv(
    engine: Engine, lesson_id: int, kind: str, out_path: str | Path, *, viewer: Viewer
) -> int:
    """Write one lesson the viewer may see to a CSV file and return the number of data rows.

    The lesson (for this viewer) and kind are checked before anything is written; the CSV goes to
    a temporary file in the same folder that replaces `out_path` only once complete, so on any
    error an existing file is left as it was. A new file is readable by its owner only (it holds
    student data); one that is replaced keeps its permissions.
    """
    path = Path(out_path)
    # StorageError here for an unknown kind, or a lesson that is not there or not the viewer's
    chunks = iter_csv(engine, lesson_id, kind, viewer=viewer)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc.strerror or exc}") from exc
    tmp = Path(tmp_name)
    rows = -1  # the header line is not a row
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            for chunk in chunks:
                handle.write(chunk)
                rows += chunk.count("\n")
        with contextlib.suppress(FileNotFoundError):
            os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise StorageError(f"cannot write {path}: {exc.strerror or exc}") from exc
        raise
    log.info("exported %d %s rows of lesson %d to %s", rows, kind, lesson_id, path)
    return rows
