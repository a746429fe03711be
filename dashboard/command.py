"""`classpulse ...`: the one command `pip install .` gives, for machines without `make` (Windows).

`classpulse run` fetches the verified assets when missing and starts the dashboard exactly as
`make run` does (loopback only unless an address and a login say otherwise, docs/security.md);
`classpulse engine ...` is `python -m engine ...`; `classpulse accounts ...` is
`python -m dashboard ...` (set-password). Each runs as its own process with this interpreter, so
the dashboard never imports the capture loop and a teacher needs no path to any script.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from engine import processes

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
# What .streamlit/config.toml says in a checkout, given as flags: an installed command runs from any
# folder, where Streamlit would not find that file.
STREAMLIT_DEFAULTS = (
    "--server.headless", "true",
    "--browser.gatherUsageStats", "false",
    "--server.maxUploadSize", "500",
    "--client.toolbarMode", "minimal",
)  # fmt: skip


class CommandError(click.ClickException):
    """One line for a person: what is wrong and what to do."""


def app_path() -> Path:
    """The dashboard's entry file: installed beside the packages, or in this checkout."""
    spec = importlib.util.find_spec("streamlit_app")
    if spec is None or spec.origin is None:
        raise CommandError("streamlit_app.py is missing from this install; reinstall ClassPulse (pip install .)")
    return Path(spec.origin)


def streamlit_command(
    app: Path,
    *,
    address: str,
    port: int | None = None,
    hosts: Sequence[str] = (),
    ssl_cert: Path | None = None,
    ssl_key: Path | None = None,
    python: str = sys.executable,
) -> list[str]:
    """`python -m streamlit run APP ...` with the server settings `make run` passes."""
    command = [python, "-m", "streamlit", "run", str(app), *STREAMLIT_DEFAULTS,
               "--server.address", address]
    if port is not None:
        command += ["--server.port", str(port)]
    for host in dict.fromkeys([*LOOPBACK_HOSTS, *hosts]) if hosts else ():
        command += ["--server.allowedHosts", host]
    if (ssl_cert is None) != (ssl_key is None):
        raise CommandError("HTTPS needs both --ssl-cert and --ssl-key")
    if ssl_cert is not None and ssl_key is not None:
        for path in (ssl_cert, ssl_key):
            if not path.is_file():
                raise CommandError(f"{path} is not a file: give the certificate and its key as PEM files")
        command += ["--server.sslCertFile", str(ssl_cert), "--server.sslKeyFile", str(ssl_key)]
    return command


def _run(command: Sequence[str], what: str) -> int:
    """Run a child to its end (Ctrl+C reaches it as well); its exit status."""
    try:
        return subprocess.call(list(command))
    except OSError as exc:
        raise CommandError(f"cannot start {what}: {exc.strerror or exc}") from exc
    except KeyboardInterrupt:
        return 130


def _module(module: str, args: Sequence[str]) -> int:
    return _run([sys.executable, "-m", module, *args], f"python -m {module}")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """ClassPulse: engagement monitor for online classrooms."""


@cli.command("run")
@click.option("--address", default="127.0.0.1", show_default=True,
              help="Where the dashboard listens; anything but loopback asks every page for a login.")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port (default 8501).")
@click.option("--host", "hosts", multiple=True,
              help="A host name browsers use to reach the server (repeat for each), e.g. classpulse.school.lan.")
@click.option("--ssl-cert", type=click.Path(path_type=Path), default=None, help="TLS certificate (PEM).")
@click.option("--ssl-key", type=click.Path(path_type=Path), default=None, help="TLS private key (PEM).")
@click.option("--no-assets", is_flag=True, help="Skip checking the model files and the demo clip.")
def run_cmd(address: str, port: int | None, hosts: tuple[str, ...], ssl_cert: Path | None,
            ssl_key: Path | None, no_assets: bool) -> None:
    """Start the dashboard (as `make run`): http://localhost:8501, data in ./data (CLASSPULSE_DATA_DIR)."""
    command = streamlit_command(app_path(), address=address, port=port, hosts=hosts,
                                ssl_cert=ssl_cert, ssl_key=ssl_key)
    if not no_assets:
        for module, args in (("models", ["fetch-assets"]), ("engine", ["make-demo"])):
            if _module(module, args) != 0:
                raise CommandError(f"`python -m {module} {' '.join(args)}` failed (said above); "
                                   "the dashboard was not started")
    try:
        sys.exit(processes.become(command))
    except OSError as exc:
        raise CommandError(f"cannot start the dashboard (streamlit): {exc.strerror or exc}") from exc


_PASS_THROUGH = {"context_settings": {"ignore_unknown_options": True, "allow_extra_args": True,
                                      "help_option_names": []}, "add_help_option": False}


@cli.command("engine", **_PASS_THROUGH)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def engine_cmd(args: tuple[str, ...]) -> None:
    """The capture engine: `classpulse engine run --source demo --lesson Test` (see --help)."""
    sys.exit(_module("engine", args or ["--help"]))


@cli.command("accounts", **_PASS_THROUGH)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def accounts_cmd(args: tuple[str, ...]) -> None:
    """Dashboard logins: `classpulse accounts set-password --user ms.lee` (see --help)."""
    sys.exit(_module("dashboard", args or ["--help"]))


@cli.command("cert")
@click.option("--host", "hosts", multiple=True, required=True,
              help="A name or IP address students use for the server (repeat for each).")
@click.option("--folder", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the certificate and key go (default: tls/ in the data folder).")
@click.option("--port", type=click.IntRange(1, 65535), default=8501, show_default=True)
def cert_cmd(hosts: tuple[str, ...], folder: Path | None, port: int) -> None:
    """A self-signed HTTPS certificate for a trial on the school network, and how to trust it."""
    from dashboard.certificates import CertificateError, make_self_signed, trust_instructions
    from dashboard.config import DashboardSettings

    folder = folder or DashboardSettings.from_env().data_dir / "tls"
    try:
        made = make_self_signed(hosts, folder)
    except CertificateError as exc:
        raise CommandError(str(exc)) from exc
    click.echo(trust_instructions(made, port))


@cli.command("assets")
def assets_cmd() -> None:
    """Fetch and verify the model files and sample media, and build the demo clip (no-op when done)."""
    for module, args in (("models", ["fetch-assets"]), ("engine", ["make-demo"])):
        status = _module(module, args)
        if status != 0:
            sys.exit(status)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
