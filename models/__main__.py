"""`python -m models ...`: fetch verified assets, train, evaluate and predict."""

from __future__ import annotations

import logging
import sys

import click

from models.assets import AssetError, cache_dir, fetch_assets
from models.convert import ConversionError, ensure_converted


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log progress details.")
def cli(verbose: bool) -> None:
    """ClassPulse expression models."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s")


@cli.command("fetch-assets")
def fetch_assets_cmd() -> None:
    """Download, verify (SHA-256) and extract the model files and sample media, then convert the Keras
    mini-Xception to a PyTorch checkpoint; no-op when present."""
    try:
        paths = fetch_assets()
        converted = ensure_converted()
    except (AssetError, ConversionError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{len(paths)} assets verified in {cache_dir()}; PyTorch weights at {converted.name}")


def main() -> None:
    try:
        cli(standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
