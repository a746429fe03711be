"""`python -m engine ...`: run a lesson capture, build the demo clip."""

from __future__ import annotations

import click


@click.group()
def cli() -> None:
    """ClassPulse capture engine."""


@cli.command("make-demo")
def make_demo() -> None:
    """Compose the demo gallery clip from the sample media (once; no-op when present)."""
    click.echo("demo clip: not built yet")


if __name__ == "__main__":
    cli()
