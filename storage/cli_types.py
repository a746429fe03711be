"""Command-line pieces shared by storage's, the engine's and the dashboard's CLIs (they may import storage)."""

from __future__ import annotations

import logging
import math
import sys

import click


class FiniteFloat(click.ParamType):
    """A real number of at least `minimum` (and at most `maximum`): nan and infinity are refused
    with one line."""

    name = "number"

    def __init__(self, minimum: float = 0.0, maximum: float | None = None) -> None:
        self.minimum = minimum
        self.maximum = maximum

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        upper = math.inf if self.maximum is None else self.maximum
        if not (math.isfinite(number) and self.minimum <= number <= upper):
            bounds = (f"of at least {self.minimum:g}" if self.maximum is None
                      else f"from {self.minimum:g} to {self.maximum:g}")  # fmt: skip
            self.fail(f"{value!r} is not a finite number {bounds}", param, ctx)
        return number


def one_line_errors(*errors: type[Exception]) -> type[click.Group]:
    """A click group class that turns the given exceptions into one `error: ...` line and exit 1."""

    class OneLineErrors(click.Group):
        def invoke(self, ctx: click.Context) -> object:
            try:
                return super().invoke(ctx)
            except errors as exc:
                click.echo(f"error: {exc}", err=True)
                sys.exit(1)

    return OneLineErrors


def database_group(doc: str, *errors: type[Exception]) -> click.Group:
    """A CLI group with the shared `--db URL` option (its value on `ctx.obj`), errors as one line."""

    @click.group(cls=one_line_errors(*errors), help=doc)
    @click.option("--db", "db_url", default=None, metavar="URL",
                  help="SQLAlchemy URL (default: $CLASSPULSE_DB_URL, else classpulse.db in $CLASSPULSE_DATA_DIR or data/).")  # fmt: skip
    @click.pass_context
    def cli(ctx: click.Context, db_url: str | None) -> None:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        ctx.obj = db_url

    return cli
