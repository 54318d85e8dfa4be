"""The local dashboard and ``/metrics``, served by the workspace service (see ``app.py``)."""

from .app import DashboardServer, Host, Session

__all__ = ["DashboardServer", "Host", "Session"]
