"""`python -m models ...`: fetch verified assets, train, evaluate and predict."""

from __future__ import annotations

import logging
import sys

import click

from models.assets import AssetError, cache_dir, fetch_assets


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log progress details.")
def cli(verbose: bool) -> None:
    """ClassPulse expression models."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s")


@cli.command("fetch-assets")
def fetch_assets_cmd() -> None:
    """Download, verify (SHA-256) and extract the model files and sample media; no-op when present."""
    try:
        paths = fetch_assets()
    except AssetError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{len(paths)} assets verified in {cache_dir()}")


def main() -> None:
    try:
        cli(standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
