"""Click parameter types shared by the command lines (storage's, and the engine's, which may import storage)."""

from __future__ import annotations

import math

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
