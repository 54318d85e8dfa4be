"""``wqm service``: the shared workspace service (status, start, stop, logs)."""

from __future__ import annotations

import time

import typer

from ..backends.service import ServiceBackend, stop_service
from ..config import Settings
from ..core.errors import ServiceError
from ..core.runfiles import ServicePaths, read_pid_info
from .output import TEXT_FORMAT_OPTION, TextFormat, console, print_json

service_app = typer.Typer(
    help="The workspace service that lets the CLI and MCP servers share one embedded store.",
    no_args_is_help=True,
)


def _show(info: dict[str, object] | None, fmt: TextFormat, paths: ServicePaths) -> None:
    if fmt is TextFormat.json:
        print_json({"running": info is not None, **(info or {}), "log": str(paths.log_file)})
        return
    if info is None:
        console.print("Service: not running (the next wqm command starts it).")
        return
    console.print(f"Service: running, pid {info.get('pid')}, version {info.get('version')}")
    for key in (
        "engine",
        "data_dir",
        "socket",
        "uptime_seconds",
        "requests_served",
        "idle_timeout_seconds",
    ):
        if key in info:
            console.print(f"  {key.replace('_', ' ')}: {info[key]}")
    console.print(f"  log: {paths.log_file}")


@service_app.command("status")
def status(fmt: TextFormat = TEXT_FORMAT_OPTION) -> None:
    """Show whether the service runs, its pid, version, engine and uptime."""
    settings = Settings.from_env()
    paths = ServicePaths.for_settings(settings)
    info = None
    if read_pid_info(paths) is not None:
        backend = ServiceBackend(settings)
        info = backend.call("hello")
        backend.close()
    _show(info, fmt, paths)


@service_app.command("start")
def start(fmt: TextFormat = TEXT_FORMAT_OPTION) -> None:
    """Start the service now (normally it starts on demand)."""
    settings = Settings.from_env()
    if settings.service == "off":
        raise ServiceError("WQM_SERVICE=off: this environment opens the store in-process.")
    backend = ServiceBackend(settings)
    info = backend.call("hello")
    backend.close()
    _show(info, fmt, ServicePaths.for_settings(settings))


@service_app.command("stop")
def stop(
    force: bool = typer.Option(False, "--force", help="Kill it at once (for a service that "
                               "does not answer); nothing is lost."),
) -> None:
    """Stop the service; data is kept, and the next wqm command starts it again.

    Running requests get up to 30 s to finish, then stop early (an ingest cut
    short resumes where it left off on its next run). --force kills the service
    at once, which also works when it hangs.
    """
    started = time.monotonic()
    info = stop_service(Settings.from_env(), force=force)
    if info is None:
        console.print("Service: not running; nothing to stop.")
    else:
        console.print(
            f"Service (pid {info.get('pid')}) stopped in "
            f"{(time.monotonic() - started) * 1000:.0f} ms."
        )


@service_app.command("logs")
def logs(
    lines: int = typer.Option(50, "--limit", "-n", "--lines", min=1,
                               help="How many of the last lines."),
    fmt: TextFormat = TEXT_FORMAT_OPTION,
) -> None:
    """Print the end of the service log."""
    path = ServicePaths.for_settings(Settings.from_env()).log_file
    tail = path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else []
    if fmt is TextFormat.json:
        print_json({"log": str(path), "exists": path.exists(), "lines": tail})
    elif not path.exists():
        console.print(f"No service log yet ({path}).", markup=False)
    else:
        for line in tail:
            typer.echo(line)


def register(app: typer.Typer) -> None:
    """Add ``wqm service`` to ``app``."""
    app.add_typer(service_app, name="service")
