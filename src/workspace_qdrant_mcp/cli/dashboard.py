"""``wqm dashboard``: print (and with ``--open`` open) the link to the local dashboard."""

from __future__ import annotations

import webbrowser

import typer

from ..backends.dashboard import open_dashboard
from ..config import Settings
from .output import TEXT_FORMAT_OPTION, TextFormat, console, notice, print_json


def dashboard(
    open_browser: bool = typer.Option(False, "--open", help="Also open the page in the web "
                                      "browser."),
    read_only: bool = typer.Option(False, "--read-only", help="The page shows everything but "
                                   "offers no actions (also WQM_DASHBOARD_READONLY=1)."),
    fmt: TextFormat = TEXT_FORMAT_OPTION,
) -> None:
    """Link to a local page: projects, names -> collections, usage, history and doctor findings.

    The workspace service serves it on 127.0.0.1 at a random port; the link holds a
    new random token (without it the page answers 403) and lasts as long as the
    service. An open page refreshes itself when an alias changes and keeps the
    service from stopping for idleness. Unless read-only, the page can undo the
    latest change, remove an alias and run doctor --fix, each after a confirmation
    and logged as made by "dashboard". Prometheus metrics are at /metrics with the
    same token (`Authorization: Bearer TOKEN`).
    """
    settings = Settings.from_env()
    link = open_dashboard(settings, read_only=read_only or settings.dashboard_read_only)
    if fmt is TextFormat.json:
        print_json(link)
    else:
        mode = " (read-only)" if link["read_only"] else ""
        console.print(f"Dashboard{mode}: {link['url']}", markup=False)
        console.print(f"Metrics: {link['metrics_url']} (Authorization: Bearer <the token in "
                      "the link>)", markup=False)
    if open_browser and not webbrowser.open(link["url"]):
        notice("No web browser could be started; open the link above yourself.")


def register(app: typer.Typer) -> None:
    """Add ``wqm dashboard`` to ``app``."""
    app.command("dashboard")(dashboard)
