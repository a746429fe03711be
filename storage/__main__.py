"""`python -m storage ...`: export, purge, delete, upgrade and seed from the command line (the storage
benchmark is `python -m benchmarks storage`)."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from storage.cli_types import FiniteFloat, database_group
from storage.db import StorageError, current_revision, open_database, safe_url
from storage.export import ALL_KINDS, DEFAULT_BUCKET_S, kind_of, write_export
from storage.export_formats import zone
from storage.lessons import delete_lesson, purge_older_than
from storage.synthetic import seed_lesson
from storage.viewers import Viewer

cli = database_group(
    "ClassPulse storage: lessons, samples and observations in SQLite or PostgreSQL.", StorageError
)


@cli.command()
@click.option("--lesson", "lesson_id", type=int, required=True)
@click.option("--kind", required=True, metavar="|".join(ALL_KINDS),
              help="observations: raw rows for analysts (UTC, exact); timeline, students, markers: "
                   "the teacher's tables as CSV; workbook: those three in one .xlsx with a README sheet.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), required=True)
@click.option("--timezone", default="UTC", show_default=True, metavar="ZONE",
              help="IANA zone for the teacher's times (Europe/Paris); the raw export stays in UTC.")
@click.option("--bucket-s", type=FiniteFloat(1), default=DEFAULT_BUCKET_S, show_default=True,
              metavar="SECONDS", help="The timeline's period.")
@click.pass_obj
def export(
    db_url: str | None, lesson_id: int, kind: str, out_path: str, timezone: str, bucket_s: float
) -> None:
    """Write one lesson as CSV, or as an Excel workbook (--kind workbook); any teacher's lesson."""
    kind = kind_of(kind)  # a bad kind or zone is one line before the database is opened
    zone(timezone)
    rows = write_export(open_database(db_url), lesson_id, kind, out_path, viewer=Viewer.everyone(),
                        timezone=timezone, bucket_s=bucket_s, generated_at=datetime.now(UTC))  # fmt: skip
    click.echo(f"wrote {rows} rows to {out_path}")


@cli.command()
@click.option("--older-than", "days", type=FiniteFloat(0), required=True, metavar="DAYS")
@click.pass_obj
def purge(db_url: str | None, days: float) -> None:
    """Delete ended lessons that started more than DAYS ago (lessons still recording are kept)."""
    deleted = purge_older_than(open_database(db_url), days, datetime.now(UTC))
    click.echo(f"deleted {deleted} lessons")


@cli.command()
@click.option("--lesson", "lesson_id", type=int, required=True)
@click.pass_obj
def delete(db_url: str | None, lesson_id: int) -> None:
    """Delete one lesson with its samples and observations (refused while it is recording)."""
    if not delete_lesson(open_database(db_url), lesson_id):
        raise StorageError(f"no lesson with id {lesson_id}")
    click.echo(f"deleted lesson {lesson_id}")


@cli.command()
@click.pass_obj
def upgrade(db_url: str | None) -> None:
    """Bring the database schema to the latest revision."""
    engine = open_database(db_url)
    click.echo(f"{safe_url(engine.url)} is at schema revision {current_revision(engine)}")


@cli.command()
@click.option("--students", default=30, show_default=True)
@click.option("--hours", default=1.0, show_default=True)
@click.option("--seed", "seed", default=0, show_default=True)
@click.option("--title", default="Demo lesson", show_default=True)
@click.option("--group", "group_name", default="Demo class", show_default=True)
@click.pass_obj
def seed(
    db_url: str | None, students: int, hours: float, seed: int, title: str, group_name: str
) -> None:
    """Write a generated demo lesson."""
    lesson_id = seed_lesson(open_database(db_url), students=students, hours=hours, seed=seed,
                            title=title, group_name=group_name)  # fmt: skip
    click.echo(f"seeded lesson {lesson_id}")


if __name__ == "__main__":
    cli()
