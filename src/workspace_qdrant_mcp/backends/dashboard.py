"""Ask the workspace service for a dashboard session: a local URL with a fresh token.

The dashboard is a page served by the workspace service itself (it must keep
running after ``wqm dashboard`` exits, and it watches the workspace the CLI and
MCP servers share), so opening one is a request to the service, like ``hello``,
not an operation on the workspace: the in-process backend has no server that
could outlive the command.
"""

from __future__ import annotations

from typing import TypedDict, cast

from ..config import Settings
from ..core.errors import ServiceError
from .service import ServiceBackend

#: The protocol verb the service answers with a new dashboard session.
DASHBOARD_VERB = "dashboard"


class DashboardLink(TypedDict):
    """A dashboard session: where it is and what it allows."""

    url: str
    metrics_url: str
    port: int
    token: str
    read_only: bool


def open_dashboard(settings: Settings, read_only: bool = False) -> DashboardLink:
    """Start the service's dashboard if needed and return a new session's link.

    Each call makes a new session with its own token (``read_only``: the page
    offers no actions and the server refuses them). Raises ``ServiceError``
    when the service is turned off (``WQM_SERVICE=off``).
    """
    if settings.service == "off":
        raise ServiceError(
            "The dashboard is served by the workspace service, which WQM_SERVICE=off turns off; "
            "unset WQM_SERVICE (or set it to auto) and retry."
        )
    backend = ServiceBackend(settings)
    try:
        link = backend.call(DASHBOARD_VERB, read_only=bool(read_only))
    finally:
        backend.close()
    if not isinstance(link, dict) or "url" not in link:
        raise ServiceError(
            "The workspace service does not serve a dashboard (an older version?); "
            "run `wqm service stop` and retry."
        )
    return cast(DashboardLink, link)
